"""Callback records are true (issue 15, items 3 and 4), from the console.

Only the advisor holding a callback's claim (or a supervisor, recorded as such) records its
outcome; each dial is one attempt, logged by its own result; Call back places one call at a
time and none before the retry gap; the report counts only what happened. Through the
console's forms and Twilio's signed webhooks (the Caller harness) on the real Redis test
database; Twilio's REST side is the project's stand-in (the ``twilio`` fixture). The agent
line's side is in test_callback_records_phone.
"""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import time_machine
from caller import COUNCIL_NUMBER
from rq import Queue
from test_console import CLOSED, MOBILE, add_agent, as_user, leave_voicemail, release

from ivr import audit, events, report
from ivr.agents import Role
from voicemail import callbacks
from voicemail.callbacks import attempts
from voicemail.tasks import load_task

WED_10 = "2026-12-02 10:00:00+00:00"  # the callback day: released, due by 17:00


@pytest.fixture
def team(redis_client):
    """A supervisor; three council tax advisors, one of them with no phone (console only)."""
    return SimpleNamespace(
        sam=add_agent(redis_client, "Sam Supervisor", (), "+447911123401", Role.SUPERVISOR),
        tara=add_agent(redis_client, "Tara Tax", ("council_tax",), "+447911123402"),
        nia=add_agent(redis_client, "Nia Ward", ("council_tax",), ""),
        ola=add_agent(redis_client, "Ola Brown", ("council_tax",), "+447911123404"),
    )


@pytest.fixture
def app(make_app, config):
    """The app with console sessions that outlast these tests' hours of virtual time (they are
    about callback records; sessions' idle and lifetime limits have tests of their own)."""
    agents_ = config.agents.model_copy(update={"console_idle_minutes": 24 * 60,
                                               "console_session_hours": 24})
    return make_app(config=config.model_copy(update={"agents": agents_}))


@pytest.fixture
def clock():
    with time_machine.travel(CLOSED, tick=False) as traveller:
        yield traveller


@pytest.fixture
def task_id(make_caller, redis_client, clock) -> str:
    """A council tax voicemail left on Tuesday evening, released on Wednesday at 10:00."""
    task, _ = leave_voicemail(make_caller, "council_tax", MOBILE)
    clock.move_to(WED_10)
    release(redis_client, task)
    return task


# -- what advisors and Twilio do ---------------------------------------------------------------


def call_back(console, task: str):
    return console.post(f"/console/callbacks/{task}/call")


def record(console, task: str, outcome: str, attempt: int):
    """Record outcome: a call made from another phone, as the card's form sends it."""
    return console.post(f"/console/callbacks/{task}/outcome", outcome=outcome, attempt=attempt)


def path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def answer(make_caller, agent, call: dict):
    """The advisor answers the phone the console rang: Twilio fetches the bridge document,
    which dials the resident. Returns the advisor's leg, its Dial pending."""
    leg = make_caller(COUNCIL_NUMBER, to=agent.phone, call_sid=call["sid"])
    doc = leg.post(path(call["url"]))
    assert doc.first("Number").text.strip() == MOBILE
    return leg


def call_ended(make_caller, agent, call: dict, status: str = "completed") -> None:
    """The status callback of the console's call to the advisor."""
    leg = make_caller(COUNCIL_NUMBER, to=agent.phone, call_sid=call["sid"])
    leg.status_callback(path(call["params"]["StatusCallback"]), status=status)


def claim(redis_client, agent, task: str) -> None:
    """The advisor hears the callback on the agent line (``next callback``): it is theirs."""
    pipe = redis_client.pipeline(transaction=False)
    parse = callbacks.next_due(pipe, index_key="", agent_id=agent.id,
                               departments=["council_tax"], now=load_now())
    found = parse(pipe.execute()[0])
    assert found is not None and found.task["id"] == task


def load_now() -> float:
    from ivr import clock

    return clock.now().timestamp()


def card(html: str, task: str) -> str:
    found = re.search(rf'<article class="task[^"]*" id="task-{task}" data-task="{task}"[^>]*>'
                      r".*?</article>", html, re.S)
    assert found, task
    return found.group(0)


def status(redis_client, task: str) -> str:
    return load_task(redis_client, task)["status"]


def text(response) -> str:
    return response.get_data(as_text=True)


def compute(redis_client):
    return report.compute(events.read_all(redis_client), attempts=3)


# -- only the claim's holder records an outcome ------------------------------------------------


def test_a_colleague_cannot_close_a_callback_claimed_mid_call(app, team, redis_client, task_id,
                                                              twilio, make_caller):
    """The issue's case: an advisor with no phone posts 'answered' while a colleague's call
    to the resident is on. Refused (so is a supervisor: the call's result is coming), and the
    report does not count it as called back."""
    tara = as_user(app, team.tara)
    assert call_back(tara, task_id).status_code == 302
    (call,) = twilio.calls
    leg = answer(make_caller, team.tara, call)  # the resident's phone is ringing
    for colleague in (team.nia, team.sam):
        response = record(as_user(app, colleague), task_id, "answered", 1)
        assert response.status_code == 409, colleague.name
        assert "is in progress" in text(response)
        assert "Record outcome" not in card(text(response), task_id)
    assert status(redis_client, task_id) == "open" and attempts(redis_client, task_id) == []
    assert compute(redis_client).callbacks_answered == 0

    leg.dial_result("completed", duration=120)  # Tara's call: its result is the attempt
    (attempt,) = attempts(redis_client, task_id)
    assert (attempt["agent"], attempt["outcome"]) == (team.tara.id, "answered")
    assert "manual" not in attempt and "supervisor" not in attempt
    assert status(redis_client, task_id) == "done"


@pytest.mark.parametrize("results", [["answered"], ["no-answer", "busy", "no-answer"]])
def test_a_colleague_cannot_record_an_outcome_on_a_callback_another_holds(
        app, team, redis_client, task_id, twilio, clock, results):
    """Tara holds the claim (she is listening to the message on the agent line): Nia can
    neither close it as done nor run it down to unreachable, and Ola cannot ring it."""
    claim(redis_client, team.tara, task_id)
    nia = as_user(app, team.nia)
    html = nia.page("/console/callbacks")
    assert "Tara Tax is working on this callback." in card(html, task_id)
    assert "Record outcome" not in card(html, task_id) and "Call back" not in card(html, task_id)
    for result in results:
        response = record(nia, task_id, result, 1)
        assert response.status_code == 403
        assert "Tara Tax is working on that callback" in text(response)
        clock.shift(3600)
    clock.move_to(WED_10)
    response = call_back(as_user(app, team.ola), task_id)
    assert response.status_code == 403 and twilio.calls == []
    assert status(redis_client, task_id) == "open" and attempts(redis_client, task_id) == []
    assert Queue("messages", connection=redis_client).count == 0  # nobody texted
    assert compute(redis_client).callbacks_kept == 0


def test_a_supervisor_can_close_a_claimed_callback_recorded_as_supervisor(
        app, team, redis_client, task_id):
    claim(redis_client, team.tara, task_id)
    sam = as_user(app, team.sam)
    assert "Record outcome as supervisor" in card(sam.page("/console/callbacks"), task_id)
    assert record(sam, task_id, "answered", 1).status_code == 302
    assert status(redis_client, task_id) == "done"
    (attempt,) = attempts(redis_client, task_id)
    assert attempt["agent"] == team.sam.id and attempt["outcome"] == "answered"
    assert attempt["supervisor"] is True and attempt["claimed_by"] == team.tara.id
    assert attempt["manual"] is True
    (tried,) = [e for e in events.read_all(redis_client) if e["event"] == "CALLBACKATTEMPT"]
    assert tried["data"] | {"task": ""} == {
        "agent": team.sam.id, "attempt": 1, "outcome": "answered", "task": "", "manual": True,
        "supervisor": True, "claimed_by": team.tara.id}
    (entry,) = audit.read(redis_client, action="outcome_recorded")
    assert (entry.actor, entry.target) == (team.sam.id, task_id)
    assert entry.detail == {"outcome": "answered", "manual": True, "attempt": 1,
                            "status": "done", "supervisor": True,
                            "claimed_by": team.tara.id}
    html = sam.page("/console/callbacks")
    assert "Recorded as supervisor, over Tara Tax&#39;s claim." in html
    assert "by a supervisor, over Tara Tax&#39;s claim" in card(html, task_id)
    assert compute(redis_client).callbacks_by_hand == 1  # the report shows it rests on a word


# -- one attempt per dial ----------------------------------------------------------------------


def test_an_unanswered_console_dial_is_one_attempt_and_the_card_offers_no_outcome_for_it(
        app, team, redis_client, task_id, twilio, make_caller):
    tara = as_user(app, team.tara)
    call_back(tara, task_id)
    (call,) = twilio.calls
    calling = card(tara.page("/console/callbacks"), task_id)
    assert "A call to this resident is in progress (you)" in calling
    assert "Record outcome" not in calling and "Call back" not in calling
    leg = answer(make_caller, team.tara, call)
    dial = leg.doc.first("Dial").get("action")
    for _ in range(2):  # Twilio may post the same Dial action twice
        leg.post(dial, DialCallStatus="no-answer", DialCallSid="CA" + "d" * 32,
                 DialCallDuration="0", DialBridged="false")
    call_ended(make_caller, team.tara, call)
    (attempt,) = attempts(redis_client, task_id)
    assert (attempt["agent"], attempt["outcome"], attempt["call"]) == (
        team.tara.id, "no-answer", "CA" + "d" * 32)
    after = card(tara.page("/console/callbacks"), task_id)
    assert "Tara Tax, no answer" in after and "Next try" in after
    assert "Record outcome" not in after and "Call back" not in after
    for seen in (1, 2):  # the form as it was before the result, or just after it
        response = record(tara, task_id, "no-answer", seen)
        assert response.status_code == 409
    assert len(attempts(redis_client, task_id)) == 1
    assert [e["event"] for e in events.read_all(redis_client)].count("CALLBACKATTEMPT") == 1
    assert not redis_client.exists(callbacks.DIALLING.format(id=task_id))


def test_a_manual_outcome_is_labelled_and_refused_for_a_changed_task(app, team, redis_client,
                                                                    task_id, clock):
    tara = as_user(app, team.tara)
    form = card(tara.page("/console/callbacks"), task_id)
    assert "Called them from another phone?" in form and 'name="attempt" value="1"' in form
    assert record(tara, task_id, "busy", 1).status_code == 302
    (attempt,) = attempts(redis_client, task_id)
    assert attempt["manual"] is True and attempt["call"] == ""
    clock.shift(3600)
    response = record(tara, task_id, "busy", 1)  # the same form again, after the gap
    assert response.status_code == 409 and "changed since you loaded the page" in text(response)
    for bad in ("", "0", "two"):
        assert record(tara, task_id, "busy", bad).status_code == 400
    assert len(attempts(redis_client, task_id)) == 1


# -- Call back: one call at a time, never before the retry gap ---------------------------------


def test_pressing_call_back_twice_places_one_call(app, team, redis_client, task_id, twilio,
                                                  make_caller):
    tara = as_user(app, team.tara)
    assert call_back(tara, task_id).status_code == 302
    again = call_back(tara, task_id)
    assert again.status_code == 409 and "is in progress" in text(again)
    assert call_back(as_user(app, team.sam), task_id).status_code == 409
    (call,) = twilio.calls
    marker = redis_client.hgetall(callbacks.DIALLING.format(id=task_id))
    assert marker[b"call"].decode() == call["sid"] and marker[b"agent"].decode() == team.tara.id
    assert 0 < redis_client.ttl(callbacks.DIALLING.format(id=task_id)) <= callbacks.DIAL_SECONDS
    # Tara's phone is not answered: the resident was never rung, so no attempt; the call's
    # status callback ends the dial, and Call back works again.
    call_ended(make_caller, team.tara, call, status="no-answer")
    assert attempts(redis_client, task_id) == []
    assert not redis_client.exists(callbacks.DIALLING.format(id=task_id))
    assert not redis_client.exists(callbacks.CLAIM.format(id=task_id))
    assert call_back(tara, task_id).status_code == 302 and len(twilio.calls) == 2


def test_a_call_back_twilio_refuses_leaves_nothing_behind(app, team, redis_client, task_id,
                                                          twilio):
    twilio.fail_next = 5
    call_back(as_user(app, team.tara), task_id)
    assert twilio.calls == []
    assert not redis_client.exists(callbacks.DIALLING.format(id=task_id))
    assert not redis_client.exists(callbacks.CLAIM.format(id=task_id))


def test_a_stale_bridge_never_rings_the_resident(app, team, redis_client, task_id, twilio,
                                                 make_caller):
    """A bridge document for a dial that is over (or another's) hangs up without dialling."""
    tara = as_user(app, team.tara)
    call_back(tara, task_id)
    (call,) = twilio.calls
    call_ended(make_caller, team.tara, call, status="no-answer")
    leg = make_caller(COUNCIL_NUMBER, to=team.tara.phone, call_sid=call["sid"])
    doc = leg.post(path(call["url"]))
    assert not doc.has("Dial") and doc.verbs[-1] == "Hangup"


def test_call_back_before_the_retry_gap_is_refused(app, team, redis_client, task_id, twilio,
                                                   make_caller, clock, config):
    tara = as_user(app, team.tara)
    call_back(tara, task_id)
    (call,) = twilio.calls
    answer(make_caller, team.tara, call).dial_result("busy")
    call_ended(make_caller, team.tara, call)
    clock.shift(config.callbacks_work.retry_gap - 60)
    refused = call_back(tara, task_id)
    assert refused.status_code == 409
    assert "the next one can be made from Wed 2 Dec 11:00" in text(refused)
    assert len(twilio.calls) == 1
    clock.shift(60)
    assert call_back(tara, task_id).status_code == 302 and len(twilio.calls) == 2


def test_three_real_dials_are_needed_before_unreachable(app, team, redis_client, task_id,
                                                        twilio, make_caller, clock, config):
    """Each unanswered dial is one attempt; the card's Record outcome cannot add a second for
    the same dial, so the resident is texted as unreachable only after three real dials."""
    tara = as_user(app, team.tara)
    for n in (1, 2, 3):
        assert call_back(tara, task_id).status_code == 302
        call = twilio.calls[-1]
        answer(make_caller, team.tara, call).dial_result("no-answer")
        call_ended(make_caller, team.tara, call)
        assert record(tara, task_id, "no-answer", n + 1).status_code == 409  # the same dial
        assert len(attempts(redis_client, task_id)) == n
        if n < 3:
            assert status(redis_client, task_id) == "open"
            assert Queue("messages", connection=redis_client).count == 0
            clock.shift(config.callbacks_work.retry_gap)
    assert len(twilio.calls) == 3
    assert status(redis_client, task_id) == "unreachable"
    assert all(a["call"] and "manual" not in a for a in attempts(redis_client, task_id))
    assert Queue("messages", connection=redis_client).count == 1


# -- the audit trail ---------------------------------------------------------------------------


def test_a_dial_and_its_outcome_are_in_the_audit_trail_without_the_number(
        app, team, redis_client, task_id, twilio, make_caller):
    tara = as_user(app, team.tara)
    call_back(tara, task_id)
    (call,) = twilio.calls
    leg = answer(make_caller, team.tara, call)
    leg.dial_result("completed", duration=60)
    dialled_sid = attempts(redis_client, task_id)[0]["call"]
    recorded, dialled = [e for e in audit.read(redis_client, since=0)  # not the sign-in
                         if e.action in ("callback_dialled", "outcome_recorded")]
    assert (dialled.actor, dialled.action, dialled.target) == (
        team.tara.id, "callback_dialled", task_id)
    assert dialled.detail == {"via": "console", "call": call["sid"], "attempt": 1}
    assert (recorded.actor, recorded.action, recorded.target) == (
        team.tara.id, "outcome_recorded", task_id)
    assert recorded.detail == {"outcome": "answered", "manual": False, "attempt": 1,
                               "status": "done", "supervisor": False, "call": dialled_sid}
    trail = json.dumps([vars(e) for e in audit.read(redis_client, since=0)])
    assert "7911123456" not in trail and "07911" not in trail


# -- what the report counts --------------------------------------------------------------------


def test_the_report_counts_only_what_happened(app, team, redis_client, task_id, twilio,
                                              make_caller, clock):
    """Refused outcomes leave no event; the answered dial is the callback made on time."""
    claim(redis_client, team.tara, task_id)
    record(as_user(app, team.nia), task_id, "answered", 1)  # refused: Tara's
    assert compute(redis_client).callbacks_answered == 0
    callbacks.release_claim(redis_client, task_id, team.tara.id)
    tara = as_user(app, team.tara)
    call_back(tara, task_id)
    answer(make_caller, team.tara, twilio.calls[-1]).dial_result("completed", duration=30)
    figures = compute(redis_client)
    assert (figures.callbacks_answered, figures.callbacks_kept, figures.callbacks_by_hand) == (
        1, 1, 0)
