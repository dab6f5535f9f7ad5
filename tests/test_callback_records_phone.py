"""Callback records are true (issue 15, items 3 and 4), on the agent line.

A colleague without the claim can neither ring nor close a callback another advisor holds, and
is told so; a call of a callback in progress keeps it from every other dial; a dial before the
retry gap is refused, spoken. Signed webhooks in virtual time on the real Redis test database
(the agent line's fixtures: test_agent_line).
"""

from __future__ import annotations

from test_agent_line import (
    MENU,
    NO_CALLBACKS,
    SAM_PIN,
    assert_menu,
    events,
    next_callback,
    sign_in,
    sign_in_with_pin,
)
from test_agent_line import app as app  # the fixture: nobody on duty until they sign in
from test_agent_line import staff as staff  # the fixture
from test_agent_line import traveller as traveller  # the fixture: virtual time
from test_agent_line import two_tasks as two_tasks  # the fixture: an overdue callback and one due

from ivr import audit
from voicemail import callbacks
from voicemail.tasks import load_task

TAKEN = "Another advisor is working on that callback."
IN_PROGRESS = "A call to that resident is already in progress."


def lapse(redis_client, key: str, seconds: int) -> None:
    """What Redis does to ``key`` ``seconds`` later in real time: expire it if its TTL ends."""
    ttl = redis_client.ttl(key)
    if 0 <= ttl <= seconds:
        redis_client.delete(key)


def said(doc) -> str:
    return " ".join(s.text for s in doc.root.iter("Say"))


def test_a_colleague_cannot_ring_or_close_a_callback_another_advisor_holds(
        make_caller, redis_client, staff, two_tasks):
    task = two_tasks.overdue
    priya = sign_in(make_caller)
    assert next_callback(priya).first("Gather").get("action").endswith(task)  # Priya's now
    sam = sign_in_with_pin(make_caller, staff.sam, SAM_PIN)
    doc = sam.post(f"/agent/callback/choice?task={task}", Digits="1")
    assert not doc.has("Dial") and said(doc).startswith(TAKEN)
    assert_menu(doc)
    # A Dial result Sam's line never dialled (no dial of his is marked on the task): refused.
    doc = sam.post(f"/agent/callback/result?task={task}", DialCallStatus="completed",
                   DialCallSid="CA" + "f" * 32, DialCallDuration="60")
    assert said(doc).startswith(TAKEN)
    assert load_task(redis_client, task)["status"] == "open"
    assert callbacks.attempts(redis_client, task) == []
    assert events(redis_client, "CALLBACKATTEMPT") == []

    assert priya.press("1").has("Dial")  # the holder rings: her result is the attempt
    priya.dial_result("completed", duration=200)
    (attempt,) = callbacks.attempts(redis_client, task)
    assert (attempt["agent"], attempt["outcome"]) == (staff.priya, "answered")
    assert load_task(redis_client, task)["status"] == "done"
    recorded, dialled = [e for e in audit.read(redis_client, since=0)  # not the sign-in
                         if e.action in ("callback_dialled", "outcome_recorded")]
    assert (dialled.actor, dialled.action, dialled.target) == (staff.priya, "callback_dialled",
                                                               task)
    assert dialled.detail == {"via": "phone", "call": priya.sid, "attempt": 1}
    assert (recorded.actor, recorded.action) == (staff.priya, "outcome_recorded")
    assert recorded.detail == {"outcome": "answered", "manual": False, "attempt": 1,
                               "status": "done", "supervisor": False,
                               "call": attempt["call"]}


def test_a_callback_being_called_is_kept_from_every_other_dial(make_caller, redis_client,
                                                                staff, two_tasks, traveller):
    task = two_tasks.overdue
    priya = sign_in(make_caller)
    next_callback(priya)
    assert priya.press("1").has("Dial")  # ringing the resident; they talk for a quarter hour
    traveller.shift(15 * 60)
    lapse(redis_client, callbacks.CLAIM.format(id=task), 15 * 60)  # a plain claim would lapse
    sam = sign_in_with_pin(make_caller, staff.sam, SAM_PIN)
    assert next_callback(sam).text == f"{NO_CALLBACKS} {MENU}"  # not offered meanwhile
    doc = sam.post(f"/agent/callback/choice?task={task}", Digits="1")
    assert not doc.has("Dial") and said(doc).startswith(IN_PROGRESS)
    priya.dial_result("completed", duration=900)
    assert [a["agent"] for a in callbacks.attempts(redis_client, task)] == [staff.priya]
    assert not redis_client.exists(callbacks.DIALLING.format(id=task))
    assert load_task(redis_client, task)["status"] == "done"


def test_a_dial_before_the_retry_gap_is_refused_and_said(make_caller, redis_client, staff,
                                                         two_tasks, traveller):
    task = two_tasks.overdue
    priya = sign_in(make_caller)
    next_callback(priya)
    priya.press("1")
    priya.dial_result("no-answer")  # attempt 1 at Wednesday 10:00: the next from 11am
    traveller.shift(600)
    sam = sign_in_with_pin(make_caller, staff.sam, SAM_PIN)
    doc = sam.post(f"/agent/callback/choice?task={task}", Digits="1")
    assert not doc.has("Dial")
    assert said(doc).startswith("That callback can't be tried again until today at 11am.")
    assert len(callbacks.attempts(redis_client, task)) == 1
    assert not redis_client.exists(callbacks.CLAIM.format(id=task))  # nobody holds it meanwhile
