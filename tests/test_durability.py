"""The start-up check of a configured Redis's persistence, and Redis URLs fit for a log."""

from __future__ import annotations

import pytest
import redis
from conftest import DOWN_REDIS_URL

from ivr import connections


@pytest.mark.parametrize(("appendonly", "appendfsync", "says"), [
    ("yes", "always", ""),
    ("yes", "everysec", "appendfsync is everysec"),
    ("yes", "no", "appendfsync is no"),
    ("no", "always", "appendonly is off"),
    (None, None, "could not be read"),
])
def test_what_may_lose_an_answered_voicemail(appendonly, appendfsync, says):
    problem = connections.durability_problem(appendonly, appendfsync)
    assert (says in problem) if says else problem == ""


def test_a_running_redis_is_asked(tmp_path):
    from faults import RedisServer, missing_redis

    if missing_redis():
        pytest.skip(missing_redis())
    server = RedisServer(tmp_path / "redis", appendfsync="always").start()
    try:
        assert connections.durability_check(server.client()) == ""
        server.client().config_set("appendfsync", "everysec")
        assert "everysec" in connections.durability_check(server.client())
    finally:
        server.stop()
    assert "did not answer" in connections.durability_check(redis.Redis.from_url(DOWN_REDIS_URL))


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ("redis://:s3cret@redis.internal:6380/2", "redis://:***@redis.internal:6380/2"),
    ("rediss://ivr:s3cret@redis.internal/0", "rediss://ivr:***@redis.internal/0"),
    ("unix:///srv/ivr/redis.sock?db=0", "unix:///srv/ivr/redis.sock?db=0"),
])
def test_a_redis_url_in_a_log_line_hides_its_password(url, shown):
    assert connections.safe_url(url) == shown
