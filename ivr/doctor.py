"""``ivr doctor``: is this deployment fit to take calls? One line per check, ok or FAIL with
the reason, so an operator (or CI) sees everything wrong at once, not the first thing.

Each check is a function returning a ``Check``; none raises. They read what the service's own
processes record: Twilio's REST API (credentials, the numbers' webhooks via
``ivr.provision.changes``), ``PUBLIC_BASE_URL`` over https (``/livez`` and the hold audio),
Redis's persistence settings (``ivr.connections.durability_check``), RQ's worker registry and
scheduler locks (``ivr.jobhealth.read``) and the reconciler's heartbeat (``ivr.reconcile``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from redis.exceptions import RedisError
from twilio.base.exceptions import TwilioException

from ivr import connections, jobhealth, provision, reconcile, twilio_rest
from ivr.config import Config

HTTP_TIMEOUT = (3.05, 10)  # connect, read: Twilio itself waits 15 s in all
WORKER_STALE = 180.0  # s: a worker beats every minute (ivr.serve.WORKER_TTL), allow two misses
RECONCILE_STALE = 120.0  # s: the reconciler runs every 30 s


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.name}: {self.detail}"


Get = Callable[[str], requests.Response]


def _get(url: str) -> requests.Response:
    return requests.get(url, timeout=HTTP_TIMEOUT, allow_redirects=False)


def credentials(client: Any) -> Check:
    """A REST call with the account's credentials: Twilio answers 401 to wrong ones."""
    if client is None:
        return Check("Twilio credentials", False,
                     "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must both be set")
    try:
        client.incoming_phone_numbers.list(limit=1)
    except (TwilioException, OSError) as exc:
        return Check("Twilio credentials", False, twilio_rest.describe_error(exc))
    return Check("Twilio credentials", True, "Twilio accepted them")


def public_url(base: str, get: Get) -> Check:
    """``PUBLIC_BASE_URL`` is https and this service answers there (``/livez``)."""
    name = "public URL"
    if not base:
        return Check(name, False, "PUBLIC_BASE_URL is not set")
    if not base.startswith("https://"):
        return Check(name, False, f"PUBLIC_BASE_URL must be https:// (is {base})")
    url = base.rstrip("/") + "/livez"
    try:
        answer = get(url)
    except requests.RequestException as exc:
        return Check(name, False, f"{url} did not answer ({type(exc).__name__}: {exc})")
    if answer.status_code != 200:
        return Check(name, False, f"{url} answered {answer.status_code}")
    return Check(name, True, f"{url} answered 200")


def secrets_set(env: Mapping[str, str]) -> list[Check]:
    """The console's signing key and the metrics token, set (not the defaults)."""
    return [Check(key, bool(env.get(key)), "set" if env.get(key) else "not set: " + why)
            for key, why in (("IVR_SECRET_KEY", "console cookies are signed with a key kept "
                                                "in Redis"),
                             ("IVR_METRICS_TOKEN", "/metrics is refused behind a proxy"))]


def redis_persistent(r: Any) -> Check:
    """Redis answers, with append-only persistence fsynced on every write."""
    try:
        r.ping()
    except RedisError as exc:
        return Check("Redis", False, f"not reachable ({exc})")
    problem = connections.durability_check(r)
    if problem:
        return Check("Redis", False, f"reachable, but {problem}")
    return Check("Redis", True, "reachable, appendonly yes, appendfsync always")


def jobs_alive(rq: Any, queues: list[str], now: float) -> list[Check]:
    """An RQ worker beating, and a living scheduler holding every queue."""
    try:
        health = jobhealth.read(rq, queues, now)
    except RedisError as exc:
        return [Check("RQ worker", False, f"RQ's Redis not reachable ({exc})")]
    age = health.heartbeat_age
    if not health.workers:
        worker = Check("RQ worker", False, "no worker registered on " + ", ".join(queues))
    elif age is None or age > WORKER_STALE:
        worker = Check("RQ worker", False, f"last heartbeat {age or 0:.0f} s ago")
    else:
        worker = Check("RQ worker", True, f"{health.workers} registered, heartbeat {age:.0f} s "
                                          "ago")
    down = [name for name, q in health.queues.items() if not q.scheduler_up]
    scheduler = Check("RQ scheduler", not down,
                      f"no living scheduler for {', '.join(down)}" if down
                      else "holds every queue and beats")
    return [worker, scheduler]


def reconciler_alive(r: Any, now: float) -> Check:
    try:
        at, _ = reconcile.health(r)
    except RedisError as exc:
        return Check("reconciler", False, f"Redis not reachable ({exc})")
    if at is None:
        return Check("reconciler", False, "has never run (ivr reconcile --every 30)")
    if now - at > RECONCILE_STALE:
        return Check("reconciler", False, f"last ran {now - at:.0f} s ago")
    return Check("reconciler", True, f"last ran {max(0.0, now - at):.0f} s ago")


def hold_audio(config: Config, base: str, get: Get) -> Check:
    """The hold audio answers at the URL Twilio will fetch (audio, 200)."""
    url = config.queue.hold_audio.url
    full = url if url.startswith("http") else base.rstrip("/") + url
    if not full.startswith("http"):
        return Check("hold audio", False, f"{url} is relative and PUBLIC_BASE_URL is not set")
    try:
        answer = get(full)
    except requests.RequestException as exc:
        return Check("hold audio", False, f"{full} did not answer ({type(exc).__name__})")
    kind = answer.headers.get("Content-Type", "")
    if answer.status_code != 200 or not kind.startswith("audio/"):
        return Check("hold audio", False, f"{full} answered {answer.status_code} {kind}")
    return Check("hold audio", True, f"{full} ({kind}, {len(answer.content)} bytes)")


def webhooks(client: Any, config: Config, base: str) -> list[Check]:
    """Each number's voice settings at Twilio are what ``ivr provision`` would set."""
    if client is None:
        return [Check("numbers' webhooks", False, "no Twilio credentials to read them with")]
    try:
        outcomes = provision.apply(client, config, base, dry_run=True)
    except provision.ProvisionError as exc:
        return [Check("numbers' webhooks", False, str(exc))]
    except (TwilioException, OSError) as exc:
        return [Check("numbers' webhooks", False, twilio_rest.describe_error(exc))]
    out = []
    for o in outcomes:
        name = f"{o.wanted.role} {o.wanted.phone_number}"
        if o.error:
            out.append(Check(name, False, o.error))
        elif o.changed:
            wrong = ", ".join(provision.FIELDS[k] for k in o.changed)
            out.append(Check(name, False, f"not pointing here ({wrong}): run ivr provision"))
        else:
            out.append(Check(name, True, "webhooks point here"))
    return out


def run(config: Config, r: Any, rq: Any, env: Mapping[str, str] | None = None,
        get: Get = _get, now: float | None = None) -> list[Check]:
    """Every check, in the order an operator would fix them."""
    env = os.environ if env is None else env
    now = time.time() if now is None else now
    try:
        client = twilio_rest.client()
    except twilio_rest.TwilioNotConfigured:
        client = None
    base = env.get("PUBLIC_BASE_URL", "")
    queues = [config.callbacks.rq_queue, config.callbacks.sms_rq_queue]
    site = public_url(base, get)
    checks = [credentials(client), site, *secrets_set(env), redis_persistent(r),
              *jobs_alive(rq, queues, now), reconciler_alive(r, now)]
    checks.append(hold_audio(config, base, get) if site.ok else
                  Check("hold audio", False, "not checked: the public URL does not answer"))
    return checks + webhooks(client, config, base)
