"""``ivr doctor`` on a deployment built for real: the app served over https (a self-signed
certificate the check trusts through ``REQUESTS_CA_BUNDLE``), a Redis of its own that is
append-only, an RQ worker and scheduler beating, the numbers provisioned at the stand-in's
REST. Every check is ok; then each fault is made in turn and named in one FAIL line."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import threading
import time

import pytest
import redis
from caller import ACCOUNT_SID, AUTH_TOKEN
from faults import RedisServer, missing_redis
from jobs import Worker
from rq import Queue
from rq.scheduler import RQScheduler
from test_provision import numbers, write_config  # noqa: F401 - the fixture
from werkzeug.serving import make_server

from ivr import doctor, provision, reconcile, twilio_rest
from ivr.cli import main
from ivr.config import load_config

QUEUES = ["callbacks", "messages"]

pytestmark = pytest.mark.skipif(bool(missing_redis()) or not shutil.which("openssl"),
                                reason="needs redis-server and openssl")


@pytest.fixture
def tls(tmp_path) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (valid ten years: the suite also runs with the
    clock 1200 days ahead)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return str(cert), str(key)


@pytest.fixture
def state(tmp_path):
    server = RedisServer(tmp_path / "redis").start()  # appendonly yes, appendfsync always
    yield server
    server.stop()


@pytest.fixture
def deployment(make_app, state, tls, twilio, numbers, monkeypatch, tmp_path):  # noqa: F811
    """Everything up: returns (config, state Redis client, public base URL)."""
    app = make_app(REDIS_URL=state.url)
    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=tls)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"https://127.0.0.1:{server.port}"
    config_path = write_config(tmp_path)
    for key, value in {"PUBLIC_BASE_URL": base, "REQUESTS_CA_BUNDLE": tls[0],
                       "IVR_CONFIG": str(config_path), "REDIS_URL": state.url,
                       "IVR_SECRET_KEY": "k" * 32, "IVR_METRICS_TOKEN": "m" * 32}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("RQ_REDIS_URL", raising=False)
    config = load_config(config_path)
    provision.apply(twilio_rest.client(), config, base)
    r = state.client()
    worker = Worker([Queue(q, connection=r) for q in QUEUES], connection=r)
    worker.register_birth()
    worker.heartbeat()
    scheduler = RQScheduler(QUEUES, connection=r)
    scheduler.acquire_locks()
    scheduler.heartbeat()
    r.hset(reconcile.HEALTH, "at", f"{time.time():.3f}")
    yield config, r, base
    server.shutdown()
    with contextlib.suppress(redis.RedisError):  # one test stops this Redis
        scheduler.release_locks()
        worker.register_death()


def lines(checks: list[doctor.Check]) -> dict[str, doctor.Check]:
    return {c.name: c for c in checks}


def test_a_healthy_deployment_is_all_ok(deployment, capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f"{len(out) - 1} ok, 0 FAIL"
    assert all(line.startswith("ok   ") for line in out[:-1]), out
    names = [line.split(":")[0][5:] for line in out[:-1]]
    assert names == ["Twilio credentials", "public URL", "IVR_SECRET_KEY", "IVR_METRICS_TOKEN",
                     "Redis", "RQ worker", "RQ scheduler", "reconciler", "hold audio",
                     "council number +441206282222", "agent line +441206282299"]
    assert any("/static/hold-10s.wav (audio/" in line for line in out)


def test_each_fault_is_one_fail_line(deployment, twilio, monkeypatch):
    config, r, base = deployment
    numbers_ = list(twilio.numbers.values())
    numbers_[0]["voice_url"] = "https://old-host.example.gov.uk/voice/incoming"
    monkeypatch.delenv("IVR_METRICS_TOKEN")
    r.config_set("appendfsync", "everysec")
    r.delete(reconcile.HEALTH)
    found = lines(doctor.run(config, r, r))
    assert not found["IVR_METRICS_TOKEN"].ok and found["IVR_SECRET_KEY"].ok
    assert "appendfsync is everysec" in found["Redis"].detail
    assert found["reconciler"].detail.startswith("has never run")
    council = found[f"council number {config.council.main_number}"]
    assert not council.ok and "voice URL" in council.detail and "ivr provision" in council.detail
    assert found[f"agent line {config.agents.line_numbers[0]}"].ok
    assert [c.name for c in found.values() if not c.ok] == [
        "IVR_METRICS_TOKEN", "Redis", "reconciler", f"council number {config.council.main_number}"]

    twilio.auth_token = "rotated"  # the token in the environment is no longer the account's
    found = lines(doctor.run(config, r, r))
    assert "refused TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN" in found["Twilio credentials"].detail
    monkeypatch.delenv("TWILIO_ACCOUNT_SID")
    found = lines(doctor.run(config, r, r))
    assert found["Twilio credentials"].detail == (
        "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must both be set")


def test_no_worker_no_scheduler_and_no_public_url(deployment, monkeypatch):
    config, r, base = deployment
    for key in r.keys("rq:worker*") + r.keys("rq:scheduler*"):
        r.delete(key)
    monkeypatch.setenv("PUBLIC_BASE_URL", base.replace("https://", "http://"))
    found = lines(doctor.run(config, r, r))
    assert found["RQ worker"].detail == "no worker registered on callbacks, messages"
    assert found["RQ scheduler"].detail == "no living scheduler for callbacks, messages"
    assert "must be https://" in found["public URL"].detail
    assert not found["hold audio"].ok
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://127.0.0.1:1")  # nothing answers there
    found = lines(doctor.run(config, r, r))
    assert "did not answer" in found["public URL"].detail


def test_redis_down_is_a_fail_line_not_a_traceback(deployment, state, capsys):
    state.stop()
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "FAIL Redis: not reachable" in out and "Traceback" not in out


def test_the_stand_in_is_the_account(deployment, twilio):
    """The checks ran against the stand-in's REST (never the network)."""
    assert twilio.requests and all("api.twilio.com" in url for _, url, _ in twilio.requests)
    assert all(ACCOUNT_SID in url for _, url, _ in twilio.requests)
    assert twilio.auth_token == AUTH_TOKEN  # and it checks the token (401 otherwise)
