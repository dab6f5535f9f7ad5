"""Redis round trips per webhook (issue 5: at most 2), counted on real Redis connections.

Every command or pipeline redis-py sends goes through one ``send_packed_command`` call; the
fixture counts those calls (and passes them on), as ``bench/round_trips.py`` does.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import redis.connection
import time_machine
from jobs import Worker
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Queue
from test_agent_line import (
    LANDLINE,
    MOBILE,
    MONDAY,
    NO_CALLBACKS,
    PRIYA_PHONE,
    PRIYA_PIN,
    SAM_PIN,
    STRANGER,
    TUESDAY,
    WEDNESDAY,
    leave_voicemail,
    line,
    queue_up,
    release,
    sign_in,
)
from test_agent_line import staff as staff  # the fixture

from ivr import agents
from ivr.agents import State, offer
from ivr.events import read_all
from voicemail import callbacks

OPEN = "2026-12-01 10:00:00+00:00"  # Tuesday, 10:00 GMT
CLOSED = "2026-12-01 19:00:00+00:00"
LANDLINE_2 = "+441206500601"


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
    Worker([messages], connection=redis_client).work(burst=True)
    assert [m["to"] for m in twilio.messages] == [caller.from_]
    assert [e["event"] for e in read_all(redis_client)][-3:] == ["SMSLINK", "ENTERQUEUE", "SMSSENT"]


# -- the push and the agent line ----------------------------------------------------------------


def offer_jobs(redis_client, config) -> list:
    messages = Queue(config.callbacks.sms_rq_queue, connection=redis_client)
    return [job for job in messages.jobs if job.func_name == "ivr.agents.jobs.offer_caller"]


@time_machine.travel(OPEN, tick=False)
def test_entering_a_queue_with_an_advisor_idle_costs_two_round_trips(
        make_caller, warm_app, redis_client, config, staff, trips):
    sign_in(make_caller)  # idle in the menu
    caller = make_caller(LANDLINE)
    caller.ring()
    caller.press("2")
    doc, cost = trips.during(caller.follow)
    assert doc.verbs[-1] == "Enqueue"
    assert cost == 2  # who is on duty + the claim; then the queue entry, the job, the events
    [job] = offer_jobs(redis_client, config)
    assert job.args[2] == caller.sid
    assert agents.get(redis_client, staff.priya).offer == caller.sid


@time_machine.travel(OPEN, tick=False)
def test_a_lost_commit_releases_the_claim(make_caller, warm_app, redis_client, config, staff,
                                          monkeypatch):
    sign_in(make_caller)
    execute = redis.client.Pipeline.execute

    def fail_transactions(pipe, *args, **kwargs):
        if pipe.transaction:  # the request's batch (a job makes it a MULTI/EXEC)
            pipe.reset()
            raise RedisConnectionError("gone")
        return execute(pipe, *args, **kwargs)

    monkeypatch.setattr(redis.client.Pipeline, "execute", fail_transactions)
    caller = make_caller(LANDLINE)
    caller.ring()
    caller.press("2")
    assert caller.follow().verbs[-1] == "Enqueue"  # the call goes on
    monkeypatch.undo()
    assert offer_jobs(redis_client, config) == []
    assert agents.get(redis_client, staff.priya).offer == ""  # released, not left to expire


@time_machine.travel(OPEN, tick=False)
def test_every_agent_line_step_costs_at_most_two_round_trips(
        make_caller, warm_app, redis_client, staff, trips):
    call = line(make_caller)
    _, incoming = trips.during(lambda: call.post("/agent/incoming"))
    _, pin = trips.during(lambda: call.press(PRIYA_PIN))
    _, refresh = trips.during(call.silence)
    _, on_break = trips.during(lambda: call.press("3"))
    _, back = trips.during(lambda: call.press("3"))
    caller = queue_up(make_caller, LANDLINE, "council_tax")
    offer.leave_idle(redis_client, staff.priya)  # no push: take by key
    _, take_key = trips.during(lambda: call.press("1"))
    doc, take = trips.during(call.follow)
    url = doc.first("Queue").get("url")
    _, introduce = trips.during(lambda: caller.queue_url(url, queue_time=20,
                                                         dequeuing_sid=call.sid))
    _, after = trips.during(lambda: call.dial_queue_result("completed", duration=60,
                                                           queue_time=20))
    _, wrap = trips.during(lambda: call.press("1"))
    _, hang_up = trips.during(lambda: call.status_callback("/agent/status"))
    _, repeated = trips.during(lambda: call.status_callback("/agent/status"))
    assert (incoming, pin, refresh, on_break, back) == (1, 2, 2, 2, 2)
    assert (take_key, take, introduce, after, wrap) == (1, 2, 2, 2, 2)
    assert (hang_up, repeated) == (2, 1)  # a repeated status callback only reads
    assert agents.get(redis_client, staff.priya).state is State.SIGNED_OUT


@time_machine.travel(OPEN, tick=False)
def test_an_advisor_sent_from_the_menu_to_a_waiting_caller_costs_two_round_trips(
        make_caller, warm_app, redis_client, staff, trips):
    call = sign_in(make_caller)
    call.press("3")  # on a break: the caller joining is not offered to her
    queue_up(make_caller, LANDLINE, "council_tax")
    _, back = trips.during(lambda: call.press("3"))
    doc, window = trips.during(call.silence)  # no key: to the front caller
    assert doc.root[-1].text == "/agent/take"
    doc, take = trips.during(call.follow)
    assert doc.first("Queue").text == "council-tax"
    assert (back, window, take) == (2, 1, 2)


@time_machine.travel(OPEN, tick=False)
def test_signing_in_with_a_pin_and_out_cost_at_most_two_round_trips(
        make_caller, warm_app, redis_client, staff, trips):
    call = line(make_caller, STRANGER)
    call.post("/agent/incoming")
    _, wrong_number = trips.during(lambda: call.press("*"))  # not a number: a failed try
    _, number = trips.during(lambda: call.press(staff.sam))
    _, wrong_pin = trips.during(lambda: call.press("0000"))
    call.press(staff.sam)
    _, pin = trips.during(lambda: call.press(SAM_PIN))
    _, sign_out = trips.during(lambda: call.press("9"))
    assert (wrong_number, number, wrong_pin, pin, sign_out) == (1, 0, 2, 2, 2)
    assert agents.get(redis_client, staff.sam).state is State.SIGNED_OUT


@time_machine.travel(OPEN, tick=False)
def test_hanging_up_mid_call_costs_two_round_trips_and_its_dial_action_one(
        make_caller, warm_app, redis_client, config, staff, trips):
    call = sign_in(make_caller, PRIYA_PHONE)
    caller = queue_up(make_caller, LANDLINE, "council_tax")
    call.press("1")
    url = call.follow().first("Queue").get("url")
    caller.queue_url(url, queue_time=2, dequeuing_sid=call.sid)
    _, hang_up = trips.during(lambda: call.status_callback("/agent/status"))
    _, dial_action = trips.during(lambda: call.post(
        "/agent/after-call?dept=council_tax", CallStatus="completed",
        DialCallStatus="completed", DialCallDuration="30"))
    assert (hang_up, dial_action) == (2, 1)
    assert agents.get(redis_client, staff.priya).state is State.WRAP_UP
    callbacks = Queue(config.callbacks.rq_queue, connection=redis_client)
    assert len(callbacks.scheduled_job_registry.get_job_ids()) == 1  # one end-of-wrap-up job



# -- the agent line's callback steps ------------------------------------------------------------


def released_callbacks(make_caller, redis_client, traveller) -> SimpleNamespace:
    """An overdue callback to a mobile and one due today to a landline, both released."""
    overdue = leave_voicemail(make_caller, traveller, MONDAY, MOBILE, "council_tax")
    today = leave_voicemail(make_caller, traveller, TUESDAY, LANDLINE_2, "benefits")
    release(redis_client, "2026-12-02 09:00:00+00:00")
    traveller.move_to(WEDNESDAY)
    return SimpleNamespace(overdue=overdue, today=today)


def test_next_callback_call_now_and_skip_cost_at_most_two_round_trips(
        make_caller, warm_app, redis_client, staff, trips):
    with time_machine.travel(MONDAY, tick=False) as traveller:
        tasks = released_callbacks(make_caller, redis_client, traveller)
        priya = sign_in(make_caller)
        priya.press("2")
        doc, first = trips.during(priya.follow)
        assert doc.first("Gather").get("action").endswith(tasks.overdue)
        _, odd_key = trips.during(lambda: priya.press("7"))
        doc, skip = trips.during(lambda: priya.press("2"))
        assert doc.first("Gather").get("action") == "/agent/menu/choice"
        priya.press("2")
        doc, second = trips.during(priya.follow)
        assert doc.first("Gather").get("action").endswith(tasks.today)  # not the skipped one
        doc, call_now = trips.during(lambda: priya.press("1"))
        assert doc.first("Number").text == LANDLINE_2
        priya.dial_result("no-answer")
        priya.press("2")
        doc, none_due = trips.during(priya.follow)
        assert doc.text.startswith(NO_CALLBACKS)
    assert (first, odd_key, skip, second, call_now, none_due) == (1, 1, 2, 1, 2, 2)
    assert redis_client.get(callbacks.CLAIM.format(id=tasks.today)) is None
    assert agents.get(redis_client, staff.priya).state is State.AVAILABLE


def test_a_callback_result_costs_two_round_trips_and_its_repeat_changes_nothing(
        make_caller, warm_app, redis_client, config, staff, trips):
    with time_machine.travel(MONDAY, tick=False) as traveller:
        tasks = released_callbacks(make_caller, redis_client, traveller)
        priya = sign_in(make_caller)
        priya.press("2")
        priya.follow()
        priya.press("1")
        doc, no_answer = trips.during(lambda: priya.dial_result("no-answer"))
        assert "Attempt 1 of 3" in doc.text
        for last in (False, True):  # two more attempts: then unreachable, and texted
            traveller.shift(3600)
            priya.press("2")
            doc = priya.follow()
            assert doc.first("Gather").get("action").endswith(tasks.overdue)
            priya.press("1")
            if not last:
                priya.dial_result("busy")
        dial = priya.doc
        doc, unreachable = trips.during(lambda: priya.dial_result("busy"))
        assert doc.text.startswith("That was the last attempt.")
        priya.doc = dial
        _, repeated = trips.during(lambda: priya.dial_result("busy"))
        priya.press("2")
        priya.follow()  # the landline's callback
        priya.press("1")
        doc, answered = trips.during(lambda: priya.dial_result("completed", duration=60))
        assert doc.text.startswith("The callback is complete.")
    assert (no_answer, unreachable, repeated, answered) == (2, 2, 2, 2)
    assert [a["outcome"] for a in callbacks.attempts(redis_client, tasks.overdue)] == [
        "no-answer", "busy", "busy"]
    kinds = [e["event"] for e in read_all(redis_client)
             if e["event"] in ("CALLBACKATTEMPT", "CALLBACKUNREACHABLE", "CALLBACKDONE")]
    assert kinds == ["CALLBACKATTEMPT"] * 3 + ["CALLBACKUNREACHABLE", "CALLBACKATTEMPT",
                                               "CALLBACKDONE"]
    sms = Queue(config.callbacks.sms_rq_queue, connection=redis_client)
    assert [job.args[0] for job in sms.jobs] == [MOBILE]  # the unreachable text, once
    assert redis_client.ttl(f"{{ivr}}:cb:task:{tasks.overdue}") > 0  # closed: retention TTL set


def test_the_console_bridge_and_its_result_cost_two_round_trips_each(
        make_caller, warm_app, redis_client, staff, trips):
    with time_machine.travel(MONDAY, tick=False) as traveller:
        tasks = released_callbacks(make_caller, redis_client, traveller)
        pipe = redis_client.pipeline()  # the console's Call back: the claim and the dial
        parse = callbacks.hold(pipe, tasks.overdue, index_key="", agent_id=staff.priya,
                               take=True, dial="DLconsole")
        assert parse(pipe.execute()[0]).held
        agent_leg = make_caller(PRIYA_PHONE)
        doc, bridge = trips.during(lambda: agent_leg.post(
            f"/agent/callback/bridge?task={tasks.overdue}&agent={staff.priya}&dial=DLconsole"))
        assert doc.first("Number").text == MOBILE
        doc, answered = trips.during(lambda: agent_leg.dial_result("completed", duration=30))
        assert doc.text.startswith("The callback is complete.")
    assert (bridge, answered) == (2, 2)
    assert redis_client.hget(f"{{ivr}}:cb:task:{tasks.overdue}", "status") == b"done"
