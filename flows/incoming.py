"""The first ring: welcome, the recording notice, any live announcement (``ivr.controls``),
then the menu or the out-of-hours message."""

from __future__ import annotations

from flask import Blueprint, request, url_for
from twilio.twiml.voice_response import VoiceResponse

from flows import closed, menu
from flows.common import Turn
from ivr import store
from ivr.controls import greeting_messages
from ivr.events import Event
from ivr.twiml import render, render_once

bp = Blueprint("incoming", __name__)


@bp.post("/voice/incoming")
def incoming():
    """Twilio's voice webhook for the council's number: every call starts here."""
    turn = Turn.begin()
    if turn.call.to in turn.config.agents.line_numbers:
        response = VoiceResponse()  # the agent line's number pointed here: hand over
        response.redirect(url_for("agent_line.incoming"), method="POST")
        return render(response)
    open_now = turn.is_open()
    number = turn.call.callback_number(turn.config)
    batch = turn.batch()
    batch.call(
        caller=turn.call.from_,
        to=turn.call.to,
        relay=int(turn.call.relay),
        started_at=f"{turn.now.timestamp():.3f}",
        status="in-progress",
    )
    batch.event(
        Event.INCOMING,
        relay=turn.call.relay,
        callable=number.callable,
        mobile=number.mobile,
        open=open_now,
    )
    batch.event(Event.NOTICE)
    if number.e164:
        store.note_caller(batch, number.e164, turn.config.agents.recent_days)
    if not open_now:
        batch.event(Event.OUT_OF_HOURS, live_closure=bool(turn.closed_message()))
    if batch.commit("incoming call") is not None and turn.ivr.spool.has_pending():
        turn.ivr.spool.drain()

    announced = tuple(greeting_messages(turn.controls, turn.now))

    def greeting() -> VoiceResponse:
        response = VoiceResponse()
        turn.say(response, turn.messages.welcome)
        turn.say(response, turn.messages.recording_notice)
        for text in announced:  # the emergency "we are aware", then announcements for all
            turn.say(response, text)
        if open_now:
            menu.add_menu(turn, response, misses=0)
        else:
            closed.add_closed(turn, response, misses=0)
        return response

    if open_now:  # the same for every caller with the same keypad timeout and announcements
        return render_once(("greeting", turn.call.relay, request.script_root, announced),
                           greeting)
    return render(greeting())  # out of hours it names the callback day
