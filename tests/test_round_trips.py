"""Redis round trips per webhook (issue 5: at most 2), counted on real Redis connections.

Every command or pipeline redis-py sends goes through one ``send_packed_command`` call; the
fixture counts those calls (and passes them on), as ``bench/round_trips.py`` does.
"""

from __future__ import annotations

import pytest
import redis.connection
import time_machine
from rq import Queue, SimpleWorker

from ivr.events import read_all

OPEN = "2026-12-01 10:00:00+00:00"  # Tuesday, 10:00 GMT
CLOSED = "2026-12-01 19:00:00+00:00"


class Trips:
    def __init__(self) -> None:
        self.count = 0

    def during(self, request):
        """The round trips ``request()`` costs; returns (result, round trips)."""
        before = self.count
        result = request()
        return result, self.count - before


@pytest.fixture
def trips(monkeypatch):
    counter = Trips()
    send = redis.connection.AbstractConnection.send_packed_command

    def counted(conn, command, check_health=True):
        counter.count += 1
        return send(conn, command, check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)
    return counter


@pytest.fixture
def warm_app(app):
    """The app with its connections open and RQ's one-off server-version read done, as in a
    process that has already served calls."""
    ivr = app.extensions["ivr"]
    ivr.redis.ping()
    for queue in (ivr.callbacks, ivr.messages):
        queue.get_redis_server_version()
    return app


@time_machine.travel(CLOSED, tick=False)
def test_a_voicemail_costs_two_round_trips_and_its_duplicate_one(make_caller, warm_app, trips):
    caller = make_caller()
    caller.post("/voicemail/start?dept=general")
    (_, rec, status_url), action = trips.during(caller.record)
    _, duplicate = trips.during(lambda: caller.recording_ready(status_url, rec))
    assert (action, duplicate) == (2, 1)


@time_machine.travel(OPEN, tick=False)
def test_accepting_the_text_link_costs_two_round_trips(caller, config, warm_app, redis_client,
                                                       trips, twilio):
    caller.ring()
    caller.press("2")
    caller.follow()
    doc, cost = trips.during(lambda: caller.press("1"))
    assert config.messages.online_sms_sent in doc.text
    assert cost == 2  # who is on duty; then the SMS job, the queue entry and the events
    messages = Queue(config.callbacks.sms_rq_queue, connection=redis_client)
    [job] = messages.jobs
    assert (job.func_name, job.args[0]) == ("ivr.messaging.send_sms", caller.from_)
    SimpleWorker([messages], connection=redis_client).work(burst=True)
    assert [m["to"] for m in twilio.messages] == [caller.from_]
    assert [e["event"] for e in read_all(redis_client)][-2:] == ["SMSLINK", "ENTERQUEUE"]
