"""Fixtures: a real Redis on an isolated, flushed database; the app; a signed Twilio caller."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

sys.path.insert(0, str(Path(__file__).parent))

from caller import ACCOUNT_SID, AUTH_TOKEN, Caller  # noqa: E402

from ivr import agents, twilio_rest  # noqa: E402
from ivr.app import create_app  # noqa: E402
from ivr.config import load_config  # noqa: E402
from ivr.sim.rest import TwilioRestStandIn  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TEST_REDIS_URL = os.environ.get("IVR_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
DOWN_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1: Redis is "down"


FAKETIME_VARS = ("LD_PRELOAD", "FAKETIME")


def real_clock_env() -> dict[str, str]:
    """This process's environment without libfaketime's variables: for servers the tests
    start (Redis, Chromium) that must keep the real time, as production's Redis does, under
    ``scripts/test --clock-ahead``."""
    return {k: v for k, v in os.environ.items() if k not in FAKETIME_VARS}


@contextmanager
def playwright_real_clock() -> Iterator:
    """``sync_playwright()`` with its driver, and so the browser, started on the real clock.

    Under ``scripts/test --clock-ahead`` this process runs on libfaketime's clock, and Node
    and Chromium stall under it. The pages only format times the server sends, so the
    server's shifted clock is still what the tests check.

    The driver's environment is filtered, never this process's own: libfaketime re-reads
    FAKETIME from the environment every few seconds, so taking it out of ``os.environ`` even
    briefly put this process (and the server under test) back on the real clock for seconds,
    mid-test (sessions then ended and the next form was refused as out of date).
    """
    from playwright._impl import transport  # where the driver's environment is made
    from playwright.sync_api import sync_playwright

    driver_env = transport.get_driver_env
    transport.get_driver_env = lambda: {k: v for k, v in driver_env().items()
                                        if k not in FAKETIME_VARS}
    try:
        manager = sync_playwright()
        p = manager.__enter__()  # the driver starts here, with that environment
    finally:
        transport.get_driver_env = driver_env
    try:
        yield p
    finally:
        manager.__exit__(None, None, None)


@pytest.fixture(scope="session")
def config():
    return load_config(ROOT / "config.yaml")


@pytest.fixture
def redis_client():
    client = redis.Redis.from_url(TEST_REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as exc:  # pragma: no cover - environment problem
        pytest.fail(f"tests need a real Redis at {TEST_REDIS_URL} (start redis-server): {exc}")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def spool_dir(tmp_path):
    return tmp_path / "spool"


@pytest.fixture
def make_app(config, spool_dir, redis_client):
    def make(**overrides):
        settings = {
            "config": config,
            "REDIS_URL": TEST_REDIS_URL,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "PUBLIC_BASE_URL": "",
            "IVR_SPOOL_DIR": str(spool_dir),
            "IVR_INSECURE_SKIP_SIGNATURE": False,
        }
        staffed = settings.pop("staffed", True)
        settings.update(overrides)
        staffed = settings.pop("staffed", staffed)
        app = create_app(settings)
        if staffed:  # an advisor on duty in every department, unless a test says otherwise
            for dept in settings["config"].departments:
                redis_client.sadd(agents.ON_DUTY.format(dept=dept), "duty")
        app.testing = True
        return app

    return make


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def down_app(make_app):
    """The app with Redis unreachable."""
    return make_app(REDIS_URL=DOWN_REDIS_URL)


@pytest.fixture
def twilio(monkeypatch):
    """Twilio's REST side, served locally by the project's stand-in."""
    stand_in = TwilioRestStandIn()
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    twilio_rest.use_http_client(lambda: stand_in)
    yield stand_in
    twilio_rest.use_http_client(None)


@pytest.fixture
def caller(app):
    """A resident on a UK mobile ringing the council."""
    return Caller(app.test_client())


@pytest.fixture
def make_caller(app):
    def make(from_: str = "+447911123456", target=None, **kw):
        return Caller((target or app).test_client(), from_=from_, **kw)

    return make
