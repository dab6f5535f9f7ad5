"""Post-call feedback: a caller who stays on after the advisor hangs up is asked to rate us.

"Please tell us how we did: press 1 to 5", then an optional short spoken comment. Only callers
who press a score are counted; a caller who hangs up gives no feedback.
"""

from __future__ import annotations

import hashlib
import re

from flask import Blueprint, request, url_for
from redis.exceptions import RedisError
from twilio.twiml.voice_response import VoiceResponse

from flows.common import Turn, external, form_int
from ivr import recordings, store
from ivr.events import Event
from ivr.twiml import empty, render

bp = Blueprint("feedback", __name__)

SCORES = {"1", "2", "3", "4", "5"}
_RECORDING_SID = re.compile(r"/Recordings/(RE[0-9a-fA-F]{32})")


def asked(call_sid: str, share: float) -> bool:
    """Whether this call is in the sample asked for feedback (stable for a given call)."""
    if share >= 1:
        return True
    bucket = int(hashlib.sha256(call_sid.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return bucket < share


def add_feedback_or_goodbye(turn: Turn, response: VoiceResponse) -> None:
    """After an answered call: the feedback question, or a goodbye when not asking."""
    cfg = turn.config.feedback
    if not cfg.enabled or not asked(turn.call.sid, cfg.share):
        turn.say(response, turn.messages.call_ended)
        response.hangup()
        return
    action = url_for("feedback.score")
    turn.speaker.ask(response, action, turn.messages.feedback_prompt)


def _agent(turn: Turn) -> str:
    try:
        raw = turn.ivr.redis.hget(store.call_key(turn.call.sid), "answered_by")
    except RedisError:
        return ""
    return raw.decode() if raw else ""


@bp.post("/voice/feedback")
def score():
    """Gather action: a score 1-5 is recorded, then a comment is invited; else goodbye."""
    turn = Turn.begin()
    digits = (request.values.get("Digits") or "").strip()
    response = VoiceResponse()
    if digits not in SCORES:
        turn.say(response, turn.messages.call_ended)
        response.hangup()
        return render(response)
    agent = _agent(turn)
    turn.batch().event(Event.FEEDBACK, score=int(digits), agent=agent).commit("feedback")
    turn.say(response, turn.messages.feedback_comment)
    response.record(
        action=url_for("feedback.comment"), method="POST",
        max_length=turn.config.feedback.comment_seconds, finish_on_key="#", play_beep=True,
        timeout=5, recording_status_callback=external("feedback.comment_ready"),
        recording_status_callback_event="completed",
    )
    turn.say(response, turn.messages.feedback_thanks)
    response.hangup()
    return render(response)


@bp.post("/voice/feedback/comment")
def comment():
    """<Record> action for the comment: thank the caller and end the call."""
    turn = Turn.begin()
    response = VoiceResponse()
    if (request.values.get("Digits") or "") != "hangup":
        turn.say(response, turn.messages.feedback_thanks)
        response.hangup()
    return render(response)


@bp.post("/voice/feedback/comment-ready")
def comment_ready():
    """recordingStatusCallback for a comment: note it against the call's feedback, and
    schedule its deletion at Twilio when its retention ends."""
    turn = Turn.begin()
    url = request.values.get("RecordingUrl", "")
    sid = request.values.get("RecordingSid", "")
    if not sid and (found := _RECORDING_SID.search(url)):
        sid = found.group(1)
    if sid and request.values.get("RecordingStatus", "completed") == "completed":
        batch = turn.batch().event(Event.FEEDBACK_COMMENT, recording=sid, url=url,
                                   duration=form_int("RecordingDuration", 0))
        # its event is its only pointer: deleted at Twilio before the event is trimmed
        at = turn.now.timestamp() + turn.config.recording.keep_feedback_comments
        recordings.schedule_deletion(batch, turn.ivr.callbacks, sid, at,
                                     recordings.Kind.FEEDBACK_COMMENT)
        batch.commit("feedback comment")
    return empty()
