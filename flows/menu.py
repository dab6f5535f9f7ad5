"""The main menu: plain-language options by keypad or speech; three misses reach an advisor."""

from __future__ import annotations

from flask import Blueprint, request, url_for
from twilio.twiml.voice_response import VoiceResponse

from flows.common import Turn, arg_int
from ivr.config import Action
from ivr.events import Event
from ivr.menu import Outcome, choose
from ivr.twiml import render

bp = Blueprint("menu", __name__)


def add_menu(turn: Turn, response: VoiceResponse, misses: int) -> None:
    """Append the menu Gather, and a Redirect so silence can never end the call."""
    cfg = turn.config.menu
    hints = [phrase for o in cfg.options for phrase in o.speech]
    action = url_for("menu.choice", miss=misses)
    gather = turn.speaker.gather(response, action, hints=hints)
    turn.say(gather, turn.messages.menu_intro)
    for option in cfg.options:
        turn.say(gather, option.prompt)
    turn.say(gather, turn.messages.menu_repeat)
    response.redirect(action, method="POST")


def route_to(option_action: Action, department: str | None) -> str:
    if option_action is Action.PAYMENT_LINE:
        return url_for("payments.transfer")
    if option_action is Action.TEXT_PHONE:
        return url_for("textphone.transfer")
    return url_for("online.department", dept=department)


@bp.post("/voice/menu")
def menu():
    """The menu on its own (used after returning from a failed transfer)."""
    turn = Turn.begin()
    response = VoiceResponse()
    add_menu(turn, response, misses=arg_int("miss"))
    return render(response)


@bp.post("/voice/menu/choice")
def choice():
    """Gather action for the menu: route the caller, repeat, or count a miss."""
    turn = Turn.begin()
    misses = arg_int("miss")
    cfg = turn.config.menu
    picked = choose(
        request.values.get("Digits"),
        request.values.get("SpeechResult"),
        cfg.options,
        cfg.repeat_key,
    )
    response = VoiceResponse()
    batch = turn.batch()
    if picked.outcome is Outcome.CHOSEN and picked.option:
        option = picked.option
        batch.event(
            Event.MENU,
            option.department,
            key=option.key,
            action=str(option.action),
            via="keys" if request.values.get("Digits") else "speech",
        )
        batch.call(menu=option.key)
        batch.commit("menu choice")
        response.redirect(route_to(option.action, option.department), method="POST")
        return render(response)
    if picked.outcome is Outcome.REPEAT:
        add_menu(turn, response, misses)
        return render(response)
    misses += 1
    batch.event(
        Event.MENU,
        key="",
        action="missed",
        misses=misses,
        heard=(request.values.get("Digits") or "")[:8],
    )
    batch.commit("menu miss")
    if misses >= cfg.max_misses:
        turn.say(response, turn.messages.to_general_advisor)
        response.redirect(url_for("queue.enter", dept=cfg.fallback_department), method="POST")
        return render(response)
    turn.say(response, turn.messages.not_caught)
    add_menu(turn, response, misses)
    return render(response)
