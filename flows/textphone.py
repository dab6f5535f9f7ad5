"""Option 9: the text phone line for text phone and Relay UK users, transferred unrecorded."""

from __future__ import annotations

from flask import Blueprint, request, url_for
from twilio.twiml.voice_response import VoiceResponse

from flows.common import Turn, form_int
from flows.payments import CONNECTED
from flows.queue import add_enqueue
from ivr.events import Event
from ivr.twiml import render

bp = Blueprint("textphone", __name__)


@bp.post("/voice/textphone")
def transfer():
    """Dial the text phone line; never recorded."""
    turn = Turn.begin()
    response = VoiceResponse()
    turn.say(response, turn.messages.text_phone)
    response.dial(
        turn.config.lines.text_phone,
        action=url_for("textphone.result"),
        method="POST",
        timeout=turn.config.lines.transfer_timeout,
        record="do-not-record",
    )
    turn.batch().event(Event.TRANSFER, line="text_phone").commit("text phone transfer")
    return render(response)


@bp.post("/voice/textphone/result")
def result():
    """Dial action: goodbye after the call; if it failed, an advisor (via relay) or voicemail."""
    turn = Turn.begin()
    status = request.values.get("DialCallStatus", "")
    turn.batch().event(
        Event.TRANSFER_RESULT,
        line="text_phone",
        status=status,
        duration=form_int("DialCallDuration", 0),
    ).commit("text result")
    response = VoiceResponse()
    if status in CONNECTED:
        turn.say(response, turn.messages.call_ended)
        response.hangup()
        return render(response)
    turn.say(response, turn.messages.text_phone_failed)
    batch = turn.batch()
    add_enqueue(turn, response, turn.config.menu.fallback_department, batch)
    batch.commit("enter queue")
    return render(response)
