"""Twilio's message status callback: whether a text we sent reached the handset.

The job that sent it (``ivr.messaging.send_sms``) noted the call it belongs to under the
message SID; a final status (delivered, undelivered, failed) becomes one event for that call,
however often Twilio reports it, so the report can count texts delivered, not only accepted.
"""

from __future__ import annotations

import time

from flask import Blueprint, current_app, request

from ivr.events import Event
from ivr.messaging import KEEP_SENT, SENT, STATUS_PATH
from ivr.twiml import empty

bp = Blueprint("sms_status", __name__)

FINAL = {"delivered": Event.SMS_DELIVERED, "undelivered": Event.SMS_UNDELIVERED,
         "failed": Event.SMS_UNDELIVERED}


@bp.post(STATUS_PATH)
def status():
    """One event per text's final status; anything else (queued, sent) is only progress."""
    sid = request.values.get("MessageSid", "")
    kind = FINAL.get(request.values.get("MessageStatus", ""))
    if not sid or kind is None:
        return empty()
    ivr = current_app.extensions["ivr"]
    key = SENT.format(sid=sid)
    call, dept = ivr.redis.hmget(key, "call", "dept")
    if call is None or not ivr.redis.set(f"{key}:final", "1", nx=True, ex=KEEP_SENT):
        return empty()  # not one of a call's texts, or reported before
    details = {"message": sid, "status": request.values.get("MessageStatus")}
    if request.values.get("ErrorCode"):
        details["code"] = request.values["ErrorCode"]
    batch = ivr.batch(call.decode(), "", time.time())
    batch.event(kind, dept.decode() if dept else None, **details).commit("sms status")
    return empty()
