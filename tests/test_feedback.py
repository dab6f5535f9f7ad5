"""Post-call feedback: asked after the advisor hangs up; only callers who score are counted."""

from __future__ import annotations

import pytest
import time_machine

from flows.feedback import asked
from ivr.events import read_all

OPEN = "2026-12-01 10:00:00+00:00"


@pytest.fixture(autouse=True)
def _in_hours():
    with time_machine.travel(OPEN, tick=False):
        yield


def answered(make_caller, **kw):
    caller = make_caller(**kw)
    caller.ring()
    caller.press("2")
    caller.follow()
    caller.press("9")  # no text link: straight into the queue
    caller.leave_queue("bridged", 42)
    return caller


def feedback_events(redis_client):
    return [e for e in read_all(redis_client) if e["event"].startswith("FEEDBACK")]


@pytest.mark.parametrize("score", ["1", "3", "5"])
def test_score_is_recorded_then_a_comment_is_invited(make_caller, redis_client, config, score):
    caller = answered(make_caller)
    redis_client.hset(f"{{ivr}}:call:{caller.sid}", "answered_by", "1001")
    doc = caller.press(score)
    assert config.messages.feedback_comment in doc.text
    record = doc.first("Record")
    assert record.get("maxLength") == str(config.feedback.comment_seconds)
    assert record.get("finishOnKey") == "#"
    events = feedback_events(redis_client)
    assert [(e["event"], e["data"]["score"], e["data"]["agent"]) for e in events] == [
        ("FEEDBACK", int(score), "1001")]
    doc, rec, status_url = caller.record(duration=8)
    assert doc.verbs == ["Say", "Hangup"]
    assert doc.text == config.messages.feedback_thanks
    caller.recording_ready(status_url, rec, duration=8)
    comment = feedback_events(redis_client)[-1]
    assert comment["event"] == "FEEDBACKCOMMENT"
    assert comment["data"]["recording"] == rec
    assert comment["call"] == caller.sid


@pytest.mark.parametrize("action", ["silence", "0", "9", "*"])
def test_no_score_means_no_feedback_and_a_goodbye(make_caller, redis_client, config, action):
    caller = answered(make_caller)
    doc = caller.silence() if action == "silence" else caller.press(action)
    assert doc.verbs == ["Say", "Hangup"]
    assert doc.text == config.messages.call_ended
    assert feedback_events(redis_client) == []


def test_hanging_up_during_the_comment_keeps_the_score(make_caller, redis_client):
    caller = answered(make_caller)
    caller.press("4")
    doc, _, _ = caller.record(duration=2, digits="hangup")
    assert doc.verbs == []
    assert [e["data"]["score"] for e in feedback_events(redis_client)] == [4]


def test_feedback_can_be_switched_off(make_app, config, make_caller):
    off = config.model_copy(update={"feedback": config.feedback.model_copy(
        update={"enabled": False})})
    caller = answered(make_caller, target=make_app(config=off))
    assert caller.doc.verbs == ["Say", "Hangup"]
    assert caller.doc.text == config.messages.call_ended


def test_share_asks_a_stable_sample_of_calls():
    sids = [f"CA{i:032x}" for i in range(2000)]
    share = sum(asked(s, 0.25) for s in sids) / len(sids)
    assert 0.2 < share < 0.3
    assert all(asked(s, 0.25) == asked(s, 0.25) for s in sids[:50])
    assert all(asked(s, 1.0) for s in sids[:50])
    assert not any(asked(s, 0.0) for s in sids[:50])
