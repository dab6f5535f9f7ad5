"""The call-status callback: how each call ended; a caller gone while queuing is abandoned."""

from __future__ import annotations

from flask import Blueprint, request
from redis.exceptions import RedisError

from flows.common import Turn, form_int
from ivr import store
from ivr.events import Event
from ivr.hold import LeaveReason
from ivr.twiml import empty

bp = Blueprint("status", __name__)

FINAL = {"completed", "busy", "failed", "no-answer", "canceled"}


@bp.post("/voice/status")
def status():
    """Twilio's status callback for the number: record the end of the call."""
    turn = Turn.begin()
    call_status = request.values.get("CallStatus", "")
    if call_status not in FINAL:
        return empty()
    try:
        dept, entered, left = turn.ivr.redis.hmget(
            store.call_key(turn.call.sid), "dept", "queue_entered_at", "left_reason"
        )
    except RedisError:
        dept = entered = left = None
    batch = turn.batch()
    duration = form_int("CallDuration", 0)
    batch.call(status=call_status, duration=duration, ended_at=f"{turn.now.timestamp():.3f}")
    batch.event(
        Event.CALL_END, dept.decode() if dept else None, status=call_status, duration=duration
    )
    if entered and not left:
        department = dept.decode() if dept else turn.config.menu.fallback_department
        waited = max(0, int(turn.now.timestamp() - float(entered)))
        store.leave_queue(batch, department, LeaveReason.HUNG_UP, waited, Event.ABANDON)
    batch.commit("call status")
    return empty()
