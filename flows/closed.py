"""Out of hours (or a live closure): why or when we're open, what can be done online now,
and a voicemail for a callback."""

from __future__ import annotations

from flask import Blueprint, request, url_for
from twilio.twiml.voice_response import VoiceResponse

from flows.common import Turn, arg_int
from ivr.calendar import describe_weekly_hours
from ivr.twiml import render

bp = Blueprint("closed", __name__)


def add_closed(turn: Turn, response: VoiceResponse, misses: int) -> None:
    """Hours, online services, then the choice: payment line or voicemail (the default)."""
    m = turn.messages
    if misses == 0:
        # A live closure (``ivr.controls``) says why the lines are closed in its own words.
        turn.say(response, turn.closed_message()
                 or m.closed.format(hours=describe_weekly_hours(turn.ivr.hours.weekly)))
        turn.say(response, m.closed_online)
    action = url_for("closed.choice", miss=misses)
    turn.speaker.ask(response, action, m.closed_choice.format(day=turn.callback_day_spoken()))


@bp.post("/voice/closed/choice")
def choice():
    """Gather action out of hours: 1 payment line; 2 or silence voicemail; else ask again."""
    turn = Turn.begin()
    digits = (request.values.get("Digits") or "").strip()
    response = VoiceResponse()
    misses = arg_int("miss")
    keys = turn.config.keys
    if digits == keys.closed_payment_line:
        response.redirect(url_for("payments.transfer"), method="POST")
    elif digits in ("", keys.closed_voicemail) or misses + 1 >= turn.config.menu.max_misses:
        response.redirect(
            url_for("voicemail.start", dept=turn.config.menu.fallback_department), method="POST"
        )
    else:
        turn.say(response, turn.messages.not_caught)
        add_closed(turn, response, misses + 1)
    return render(response)
