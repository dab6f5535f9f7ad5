"""Numbers in requests: whatever a webhook is sent where a number belongs (``inf``, ``nan``,
``1e400``, a negative time, twenty-one digits, five thousand), it answers as if the value were
missing: 200, a valid document for where Twilio runs it, the same routing and the same records,
and no fail-safe.

Each scenario is one webhook and one of its numeric parameters (Twilio's form parameters and
the app's own query arguments), run twice on an emptied database: once without the value, once
with the odd one. The two runs must agree byte for byte and event for event (bar the sealed
callback in voicemail URLs, sealed afresh each time).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import pytest
import time_machine
from caller import ACCOUNT_SID, AUTH_TOKEN, Caller, Doc

from ivr import agents
from ivr.agents import Role
from ivr.events import read_all
from ivr.params import RANGES, Range, bounded
from ivr.sealed import Sealer

OPEN = "2026-12-01 10:00:00+00:00"  # Tuesday 10:00 GMT
CLOSED = "2026-12-01 19:00:00+00:00"
MOBILE = "+447911123456"
AGENT_PHONE = "+447911123401"
LINE = "+441206282299"  # config agents.line_numbers[0]
QUEUE_SID = "QU" + "1" * 32
RECORDING = "RE" + "5" * 32
RECORDING_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{RECORDING}"
CALL = "CA" + "1" * 32
SEALED_NUMBER = Sealer.from_secret(AUTH_TOKEN).seal("-+441206282300", CALL)  # as voicemail.flow

ODD = [
    "inf", "-inf", "Infinity", "nan", "1e400", "-1e400", "1e3", "-5", "999999999999999999999",
    "9" * 5000, "12abc", "0x10", "1_0", "\u0661\u0662", " ", "",
]


# -- the parser, on its own -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0", 0), ("12", 12), ("+12", 12), (" 12 ", 12), ("12.9", 12), ("12.", 12),
        ("86400", 86400), ("86401", 7), ("-1", 7), ("-0", 0),
        (None, 7), (12, 7), ("", 7), ("1e3", 7), ("inf", 7), ("nan", 7), ("1e400", 7),
        ("999999999999999999999", 7), ("9" * 5000, 7), ("\u0661", 7), (".5", 7), ("1_0", 7),
        ("0" * 30 + "1", 1), ("0" * 40 + "1", 7),
    ],
)
def test_bounded_reads_plain_decimals_in_range_only(raw, expected):
    assert bounded(raw, 7, Range(0, 86_400)) == expected


def test_every_range_is_sane():
    for name, allowed in RANGES.items():
        assert 0 <= allowed.low <= allowed.high <= 86_400, name


# -- every webhook, every numeric parameter -------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """Set the call up, then send ``param`` (or leave it out, when the value is None)."""

    name: str
    param: str
    context: str
    at: str
    run: Callable[[Callable[..., Caller], str | None], Doc]


def _on(**values: str | None) -> str:
    given = {k: v for k, v in values.items() if v is not None}
    return "&".join(f"{k}={quote(v, safe='')}" for k, v in given.items())


def queued(make: Callable[..., Caller], dept: str = "housing") -> Caller:
    caller = make(MOBILE, call_sid="CA" + "1" * 32)
    caller.post(f"/voice/queue/{dept}/enter")
    return caller


def wait_with(param: str):
    def run(make, value):
        caller = queued(make)
        form = {"QueueTime": "30", "QueuePosition": "2", "QueueSid": QUEUE_SID,
                "AvgQueueTime": "30", "CurrentQueueSize": "2", "MaxQueueSize": "100"}
        form[param] = value
        return caller.post("/voice/queue/housing/wait", context="wait", **form)

    return run


def left_with(result: str):
    def run(make, value):
        return queued(make).post("/voice/queue/housing/left", QueueResult=result,
                                 QueueTime=value, QueueSid=QUEUE_SID)

    return run


def status_with(make, value):
    caller = queued(make)
    return caller._callback("http://localhost/voice/status", caller.standard() | {
        k: v for k, v in {"CallStatus": "completed", "CallDuration": value}.items()
        if v is not None})


def introduce_with(make, value):
    caller = queued(make)
    return caller.post("/agent/introduce?agent=&dept=housing", context="queue_url",
                       QueueSid=QUEUE_SID, QueueTime=value, DequeingCallSid="CA" + "2" * 32)


def after_call_with(make, value):
    priya = agents.add(make.redis, name="Priya Shah", departments=("housing",),
                       phone=AGENT_PHONE, role=Role.AGENT, now=0)
    agents.set_secret(make.redis, priya.id, "pin_hash", "482913")
    agent = make(AGENT_PHONE, to=LINE, call_sid="CA" + "3" * 32)
    agent.post("/agent/incoming")
    assert agent.press("482913").text.startswith("Hello Priya.")  # signed in: the step runs
    return agent.post("/agent/after-call?dept=housing", DialCallStatus="completed",
                      DialCallSid="CA" + "4" * 32, DialCallDuration=value, QueueSid=QUEUE_SID,
                      QueueTime="20")


def dial_result_with(path: str, status: str):
    def run(make, value):
        caller = make(MOBILE, call_sid="CA" + "1" * 32)
        return caller.post(path, DialCallStatus=status, DialCallSid="CA" + "2" * 32,
                           DialCallDuration=value)

    return run


VOICEMAIL_ARGS = f"dept=general&cb={SEALED_NUMBER}"


def recorded_with(make, value):
    caller = make(MOBILE, call_sid="CA" + "1" * 32)
    return caller.post(f"/voicemail/recorded?{VOICEMAIL_ARGS}", RecordingUrl=RECORDING_URL,
                       RecordingDuration=value, Digits="#")


def recording_ready_with(make, value):
    caller = make(MOBILE, call_sid="CA" + "1" * 32)
    return caller._callback(f"http://localhost/voicemail/recording?{VOICEMAIL_ARGS}", {
        k: v for k, v in {
            "AccountSid": ACCOUNT_SID, "CallSid": caller.sid, "RecordingSid": RECORDING,
            "RecordingUrl": RECORDING_URL, "RecordingStatus": "completed",
            "RecordingDuration": value}.items() if v is not None})


def comment_ready_with(make, value):
    caller = make(MOBILE, call_sid="CA" + "1" * 32)
    return caller._callback("http://localhost/voice/feedback/comment-ready", {
        k: v for k, v in {
            "AccountSid": ACCOUNT_SID, "CallSid": caller.sid, "RecordingSid": RECORDING,
            "RecordingUrl": RECORDING_URL, "RecordingStatus": "completed",
            "RecordingDuration": value}.items() if v is not None})


def query_with(path: str, name: str, form: dict[str, str], **more: str):
    def run(make, value):
        caller = make(MOBILE, call_sid="CA" + "1" * 32)
        query = _on(**more, **{name: value})
        return caller.post(f"{path}?{query}" if query else path, **form)

    return run


def agent_login_with(path: str, form: dict[str, str], **more: str):
    def run(make, value):
        caller = make("+447911123499", to=LINE, call_sid="CA" + "3" * 32)
        query = _on(**more, tries=value)
        return caller.post(f"{path}?{query}", **form)

    return run


SCENARIOS = [
    Scenario("wait", "QueueTime", "wait", OPEN, wait_with("QueueTime")),
    Scenario("wait", "QueuePosition", "wait", OPEN, wait_with("QueuePosition")),
    Scenario("left-leave", "QueueTime", "call", OPEN, left_with("leave")),
    Scenario("left-bridged", "QueueTime", "call", OPEN, left_with("bridged")),
    Scenario("left-hangup", "QueueTime", "call", OPEN, left_with("hangup")),
    Scenario("status", "CallDuration", "status", OPEN, status_with),
    Scenario("introduce", "QueueTime", "queue_url", OPEN, introduce_with),
    Scenario("after-call", "DialCallDuration", "call", OPEN, after_call_with),
    Scenario("payments", "DialCallDuration", "call", OPEN,
             dial_result_with("/voice/payments/result", "completed")),
    Scenario("payments-busy", "DialCallDuration", "call", OPEN,
             dial_result_with("/voice/payments/result", "busy")),
    Scenario("textphone", "DialCallDuration", "call", OPEN,
             dial_result_with("/voice/textphone/result", "completed")),
    Scenario("recorded", "RecordingDuration", "call", CLOSED, recorded_with),
    Scenario("recording", "RecordingDuration", "status", CLOSED, recording_ready_with),
    Scenario("comment", "RecordingDuration", "status", OPEN, comment_ready_with),
    Scenario("menu", "miss", "call", OPEN, query_with("/voice/menu", "miss", {})),
    Scenario("menu-choice", "miss", "call", OPEN,
             query_with("/voice/menu/choice", "miss", {"Digits": "7"})),
    Scenario("closed-choice", "miss", "call", CLOSED,
             query_with("/voice/closed/choice", "miss", {"Digits": "7"})),
    Scenario("vm-number", "tries", "call", OPEN,
             query_with("/voicemail/number", "tries", {"Digits": "0900"}, dept="general")),
    Scenario("vm-confirm", "tries", "call", OPEN,
             query_with("/voicemail/confirm", "tries", {"Digits": "2"}, dept="general",
                        cb=SEALED_NUMBER, asked="0")),
    Scenario("vm-confirm", "asked", "call", OPEN,
             query_with("/voicemail/confirm", "asked", {}, dept="general",
                        cb=SEALED_NUMBER, tries="1")),
    Scenario("agent-number", "tries", "call", OPEN,
             agent_login_with("/agent/login/number", {"Digits": "x"})),
    Scenario("agent-pin", "tries", "call", OPEN,
             agent_login_with("/agent/login/pin", {"Digits": "0000"}, agent="1999")),
]


def test_every_numeric_parameter_has_a_scenario():
    assert {s.param for s in SCENARIOS} == set(RANGES)


def _records(redis_client) -> list[tuple[str, dict]]:
    """The events written, with callback task ids (random) left out."""
    return [(e["event"], {k: v for k, v in e["data"].items() if k != "task"})
            for e in read_all(redis_client)]


def unsealed(xml: str) -> str:
    """The document with each sealed callback (a fresh nonce each time) as one placeholder."""
    return re.sub(r"cb=[A-Za-z0-9_-]+", "cb=SEALED", xml)


@pytest.mark.parametrize("value", ODD, ids=lambda v: repr(v[:24]) + (f"*{len(v)}" if len(v) > 24
                                                                     else ""))
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: f"{s.name}:{s.param}")
def test_an_odd_number_is_taken_as_missing(app, redis_client, caplog, scenario, value):
    def make(from_: str, **kw) -> Caller:
        return Caller(app.test_client(), from_=from_, **kw)

    make.redis = redis_client

    def fresh() -> None:
        redis_client.flushdb()
        for dept in app.extensions["ivr"].config.departments:  # advisors on duty, as staffed
            redis_client.sadd(agents.ON_DUTY.format(dept=dept), "duty")

    caplog.set_level(logging.WARNING)
    with time_machine.travel(scenario.at, tick=False):
        fresh()
        missing = scenario.run(make, None)
        expected = _records(redis_client)
        fresh()
        odd = scenario.run(make, value)
        got = _records(redis_client)

    assert unsealed(odd.xml) == unsealed(missing.xml)  # checked against Twilio's by Caller
    assert got == expected
    assert "FAILSAFE" not in [name for name, _ in got]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("value", ["inf", "1e400", "nan", "-5", "999999999999999999999"])
@time_machine.travel(OPEN, tick=False)
def test_an_odd_queue_time_keeps_the_caller_holding(caller, value):
    """QueueTime on the waitUrl: a hold document (valid there), not the two-minute exit."""
    caller.post("/voice/queue/housing/enter")
    doc = caller.post(caller.enqueue().get("waitUrl"), context="wait", QueueTime=value,
                      QueuePosition="1", QueueSid=QUEUE_SID)
    assert doc.text.startswith("You are number 1 in the queue.")
    assert "Enqueue" not in doc.verbs and "Leave" not in doc.verbs
