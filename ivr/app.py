"""The application factory: config, Redis, RQ queues and blueprints, wired once per process.

The top of the web layers: only this module knows the flows, the console and the metrics
endpoint together; they reach the process's services through ``ivr.services.Ivr``.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from typing import Any

from flask import Flask
from rq import Queue

from ivr import connections, forms, local_token, logsafe, metrics, preflight, probes, store
from ivr.config import Config, config_path, load_config
from ivr.sealed import Sealer
from ivr.services import Ivr
from ivr.spool import Spool

log = logging.getLogger(__name__)

# Served over HTTPS (PUBLIC_BASE_URL): browsers must never use plain HTTP for a year.
HSTS = "max-age=31536000"


def create_app(overrides: dict[str, Any] | None = None, *, webhooks: bool = True) -> Flask:
    """Build the app from the environment (IVR_CONFIG, REDIS_URL, TWILIO_*, PUBLIC_BASE_URL;
    IVR_REDIS_CLUSTER and RQ_REDIS_URL for the state on a Redis Cluster, ``ivr.connections``).
    Redis is found by ``connections.find_redis_url`` (``REDIS_URL``, else the embedded
    socket), which raises ``connections.NoRedis`` rather than guess.

    Never connects to Redis here, so a Redis outage cannot stop the app from starting.
    ``overrides`` (tests) may replace any of those settings or pass a ready ``config``.
    ``webhooks=False``: a command that serves no webhook (no warning about the auth token).
    Every log record of the process is made safe from here on (``ivr.logsafe.install``).
    """
    logsafe.install()
    settings: dict[str, Any] = {
        "IVR_CONFIG": config_path(),
        "IVR_REDIS_CLUSTER": os.environ.get("IVR_REDIS_CLUSTER", ""),
        "RQ_REDIS_URL": os.environ.get("RQ_REDIS_URL", ""),
        "TWILIO_AUTH_TOKEN": os.environ.get("TWILIO_AUTH_TOKEN", ""),
        "TWILIO_ACCOUNT_SID": os.environ.get("TWILIO_ACCOUNT_SID", ""),
        "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL", ""),
        "IVR_SPOOL_DIR": os.environ.get("IVR_SPOOL_DIR", "var/spool"),
        "IVR_INSECURE_SKIP_SIGNATURE": os.environ.get("IVR_INSECURE_SKIP_SIGNATURE", "") == "1",
    }
    settings.update(overrides or {})
    if not settings.get("REDIS_URL"):
        settings["REDIS_URL"] = connections.find_redis_url(os.environ, os.getcwd())
    config: Config = settings.get("config") or load_config(settings["IVR_CONFIG"])
    if webhooks:  # production refuses (preflight.Refused) without the credentials it needs
        warning = preflight.check(config, settings)
        if warning:
            log.error("WARNING: %s", warning)

    app = Flask(__name__)
    app.request_class = forms.Request  # werkzeug's form parsing, cheaper per field
    app.config["MAX_CONTENT_LENGTH"] = forms.MAX_BODY_BYTES  # 413 above: see ivr.forms
    cluster = connections.cluster_mode(settings)
    r = connections.connect(settings["REDIS_URL"], cluster=cluster)
    jobs_url = connections.rq_url(settings, settings["REDIS_URL"])
    rq = r if jobs_url == settings["REDIS_URL"] else connections.connect(jobs_url)
    spool = Spool(settings["IVR_SPOOL_DIR"])
    ivr = Ivr(
        config=config,
        hours=config.hours.opening_hours(),
        redis=r,
        callbacks=Queue(config.callbacks.rq_queue, connection=rq),
        messages=Queue(config.callbacks.sms_rq_queue, connection=rq),
        spool=spool,
        auth_token=settings["TWILIO_AUTH_TOKEN"],
        account_sid=settings["TWILIO_ACCOUNT_SID"],
        public_base_url=settings["PUBLIC_BASE_URL"],
        skip_signature=bool(settings["IVR_INSECURE_SKIP_SIGNATURE"]),
        sealer=Sealer.from_secret(_sealing_secret(settings)),
        on_redis_error=metrics.count_redis_error,
    )
    app.extensions["ivr"] = ivr
    if ivr.skip_signature:
        log.warning("IVR_INSECURE_SKIP_SIGNATURE=1: Twilio signatures are NOT checked")
    elif not ivr.auth_token and webhooks:  # a command (ivr replay-spool) serves none
        log.error("TWILIO_AUTH_TOKEN is not set: every webhook will be refused with 403")

    from voicemail.flow import replay_voicemail

    spool.handlers["events"] = store.replay_events(
        r, config.events.retention_days, keep_calls=config.callbacks.keep_finished_calls)
    voicemail_handler = replay_voicemail(ivr)  # idempotent by recording SID: needs no item id
    spool.handlers["voicemail"] = lambda payload, _item_id: voicemail_handler(payload)

    from flows import register
    from ivr.console import register as register_console

    webhooks = register(app)
    metrics.init_app(app, webhooks)
    register_console(app)

    if ivr.public_base_url.startswith("https://"):
        @app.after_request
        def _strict_transport(response):
            """HSTS on every answer: the console's cookie never travels over plain HTTP."""
            response.headers.setdefault("Strict-Transport-Security", HSTS)
            return response

    @app.get("/livez")
    def livez():
        """The process is alive and serving (a restart would not help otherwise)."""
        return {"ok": True}

    @app.get("/readyz")
    def readyz():
        """503, naming what is gone, unless Redis, a worker and the scheduler are all up."""
        state = probes.ready(r, rq, [ivr.callbacks.name, ivr.messages.name], time.time())
        return {**state, "spooled": spool.size()}, 200 if state["ok"] else 503

    @app.get("/healthz")
    def healthz():
        """Redis only (older probes): 503 when it does not answer; /readyz checks the jobs."""
        redis_ok = probes.redis_up(r)
        return {"ok": redis_ok, "redis": redis_ok, "spooled": spool.size()}, (
            200 if redis_ok else 503)

    return app


def _sealing_secret(settings: dict[str, Any]) -> str:
    """The secret the keys for personal data in our URLs derive from (``ivr.sealed``): the
    Twilio auth token, which every web process already shares (it checks each signature with
    it), on every host, and ``ivr serve``'s local token on loopback. With the signature check
    switched off and no token, the local token file (``ivr.local_token``) stands in, so this
    machine's processes still agree; with neither, every webhook is refused and nothing is
    sealed, so a throwaway secret does."""
    if settings["TWILIO_AUTH_TOKEN"]:
        return settings["TWILIO_AUTH_TOKEN"]
    if settings["IVR_INSECURE_SKIP_SIGNATURE"]:
        return local_token.ensure()
    return secrets.token_hex(16)
