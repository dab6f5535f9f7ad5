"""Call by call: which events each branch of the journey writes (the reports' only input).

Each row is a scenario played through the signed webhooks and the exact sequence of events it
must leave in the stream, in order. The agent side's events are checked in test_agent_line.
"""

from __future__ import annotations

import pytest
import time_machine

from ivr.events import read_all

OPEN = "2026-12-01 10:00:00+00:00"     # Tuesday, in hours
CLOSED = "2026-12-01 19:00:00+00:00"   # Tuesday evening
MOBILE = "+447911123456"
LANDLINE = "+441206500600"


def ring_and_press(caller, *keys):
    caller.ring()
    for key in keys:
        caller.press(key)


def out_of_hours_voicemail(caller):
    caller.ring()
    caller.silence()          # stays on the line: voicemail
    caller.follow()
    _, rec, url = caller.record()
    caller.recording_ready(url, rec)
    caller.hang_up(90)


def payment_line(status):
    def play(caller):
        ring_and_press(caller, "1")
        caller.follow()
        caller.dial_result(status, 200 if status == "completed" else 0)
        if status != "completed":
            caller.press("1")  # an advisor instead
    return play


def text_phone(caller):
    ring_and_press(caller, "9")
    caller.follow()
    caller.dial_result("completed", 300)


def timed_out_with_text_link(caller):
    ring_and_press(caller, "2")
    caller.follow()
    caller.press("1")           # the link by text, then the queue
    caller.leave_queue("leave", 120)
    caller.follow()
    _, rec, url = caller.record()
    caller.recording_ready(url, rec)


def hung_up_in_queue(caller):
    ring_and_press(caller, "3")
    caller.follow()             # a landline: no text offer, straight into the queue
    caller.leave_queue("hangup", 45)
    caller.hang_up(70)          # Twilio reports it twice: one ABANDON


def three_misses(caller):
    caller.ring()
    caller.press("7")
    caller.silence()
    caller.say("something odd")
    caller.follow()             # "Let me put you through to an advisor"


def answered_with_feedback(caller):
    ring_and_press(caller, "5")
    caller.follow()
    caller.leave_queue("bridged", 30)
    caller.press("4")


SCENARIOS = [
    ("out of hours, voicemail", CLOSED, MOBILE, out_of_hours_voicemail,
     ["INCOMING", "RECORDINGNOTICE", "OUTOFHOURS", "VOICEMAIL", "CALLBACKCREATED", "CALLEND"]),
    ("payment line answered", OPEN, MOBILE, payment_line("completed"),
     ["INCOMING", "RECORDINGNOTICE", "MENU", "TRANSFER", "TRANSFERRESULT"]),
    ("payment line busy, then an advisor", OPEN, MOBILE, payment_line("busy"),
     ["INCOMING", "RECORDINGNOTICE", "MENU", "TRANSFER", "TRANSFERRESULT", "ENTERQUEUE"]),
    ("text phone", OPEN, MOBILE, text_phone,
     ["INCOMING", "RECORDINGNOTICE", "MENU", "TRANSFER", "TRANSFERRESULT"]),
    ("text link, then voicemail at two minutes", OPEN, MOBILE, timed_out_with_text_link,
     ["INCOMING", "RECORDINGNOTICE", "MENU", "ONLINE", "SMSLINK", "ENTERQUEUE",
      "EXITWITHTIMEOUT", "VOICEMAIL", "CALLBACKCREATED"]),
    ("hung up while queuing", OPEN, LANDLINE, hung_up_in_queue,
     ["INCOMING", "RECORDINGNOTICE", "MENU", "ONLINE", "ENTERQUEUE", "ABANDON", "CALLEND"]),
    ("three misses reach an advisor", OPEN, MOBILE, three_misses,
     ["INCOMING", "RECORDINGNOTICE", "MENU", "MENU", "MENU", "ENTERQUEUE"]),
    ("answered, then feedback", OPEN, LANDLINE, answered_with_feedback,
     ["INCOMING", "RECORDINGNOTICE", "MENU", "ONLINE", "ENTERQUEUE", "CONNECT", "FEEDBACK"]),
]


@pytest.mark.parametrize(("when", "number", "play", "expected"),
                         [s[1:] for s in SCENARIOS], ids=[s[0] for s in SCENARIOS])
def test_each_branch_writes_its_events(make_caller, redis_client, when, number, play, expected):
    with time_machine.travel(when, tick=False):
        caller = make_caller(number)
        play(caller)
    written = read_all(redis_client)
    assert [e["event"] for e in written] == expected
    assert {e["call"] for e in written} == {caller.sid}  # every event names its call


def test_no_advisor_signed_in_is_its_own_event(make_caller, redis_client):
    for key in redis_client.scan_iter("{ivr}:dept:*:signed_in"):
        redis_client.delete(key)  # nobody on duty
    with time_machine.travel(OPEN, tick=False):
        caller = make_caller(LANDLINE)
        ring_and_press(caller, "2")
        caller.follow()
    assert [e["event"] for e in read_all(redis_client)] == [
        "INCOMING", "RECORDINGNOTICE", "MENU", "ONLINE", "NOAGENTS"]


def test_queue_exits_carry_the_wait_and_one_closed_reason(make_caller, redis_client):
    with time_machine.travel(OPEN, tick=False):
        timed_out_with_text_link(make_caller(MOBILE))
        hung_up_in_queue(make_caller(LANDLINE))
        answered_with_feedback(make_caller(LANDLINE))
    exits = {e["event"]: e["data"] for e in read_all(redis_client)
             if e["event"] in ("EXITWITHTIMEOUT", "ABANDON", "CONNECT")}
    assert exits["EXITWITHTIMEOUT"] == {"reason": "timed_out", "wait": 120}
    assert exits["ABANDON"] == {"reason": "hung_up", "wait": 45}
    assert exits["CONNECT"] == {"reason": "answered", "wait": 30}
