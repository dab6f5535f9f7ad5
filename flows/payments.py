"""Option 1: the automated payment line, unrecorded; a failed transfer is offered an advisor."""

from __future__ import annotations

from flask import Blueprint, request, url_for
from twilio.twiml.voice_response import VoiceResponse

from flows.closed import add_closed
from flows.common import Turn, form_int
from flows.menu import add_menu
from flows.queue import add_enqueue
from ivr.events import Event
from ivr.twiml import render

bp = Blueprint("payments", __name__)

CONNECTED = {"completed", "answered"}


@bp.post("/voice/payments")
def transfer():
    """Dial the payment line. Card details are never recorded: the leg is do-not-record."""
    turn = Turn.begin()
    response = VoiceResponse()
    turn.say(response, turn.messages.payment_line)
    response.dial(
        turn.config.lines.payment_line,
        action=url_for("payments.result"),
        method="POST",
        timeout=turn.config.lines.transfer_timeout,
        record="do-not-record",
    )
    turn.batch().event(Event.TRANSFER, line="payment").commit("payment transfer")
    return render(response)


@bp.post("/voice/payments/result")
def result():
    """Dial action: after a payment call, goodbye; a failed transfer, apology and choices."""
    turn = Turn.begin()
    status = request.values.get("DialCallStatus", "")
    turn.batch().event(
        Event.TRANSFER_RESULT,
        line="payment",
        status=status,
        duration=form_int("DialCallDuration", 0),
    ).commit("payment result")
    response = VoiceResponse()
    if status in CONNECTED:
        turn.say(response, turn.messages.call_ended)
        response.hangup()
        return render(response)
    turn.say(response, turn.messages.payment_failed)
    if not turn.is_open():
        # No advisor or menu to offer out of hours: the closed choice (try again, or a message).
        add_closed(turn, response, misses=1)
        return render(response)
    action = url_for("payments.after_failure")
    turn.speaker.ask(response, action, turn.messages.payment_failed_choice)
    return render(response)


@bp.post("/voice/payments/failed")
def after_failure():
    """Gather action after a failed transfer: 2 the menu; 1, silence or anything else an advisor."""
    turn = Turn.begin()
    response = VoiceResponse()
    digits = (request.values.get("Digits") or "").strip()
    if digits == turn.config.keys.failed_transfer_menu and turn.is_open():
        add_menu(turn, response, misses=0)
        return render(response)
    batch = turn.batch()
    add_enqueue(turn, response, turn.config.menu.fallback_department, batch)
    batch.commit("enter queue")
    return render(response)
