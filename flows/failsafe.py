"""Fail safe: whatever breaks, Twilio gets valid TwiML and the caller is routed on.

Used as each webhook blueprint's error handler and as the number's fallback URL. Nothing here
needs Redis: an apology, then the advisor queue when open, otherwise a voicemail.
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, request, url_for
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.exceptions import HTTPException

from flows.common import Turn, external, form_int
from ivr import store
from ivr.calendar import callback_window, spoken_day
from ivr.events import Event
from ivr.phone import mask
from ivr.twiml import empty, render
from voicemail.urls import record_args

log = logging.getLogger(__name__)
bp = Blueprint("failsafe", __name__)

CALLBACK_ENDPOINTS = {
    "status.status", "voicemail.recording_status", "agent_calls.status", "feedback.comment_ready",
    "recordings.advisor_ready", "agent_callbacks.dial_status", "sms_status.status",
}
# Documents run on one leg just before a bridge: empty TwiML lets the bridge go ahead.
BRIDGE_ENDPOINTS = {"agent_calls.introduce", "agent_callbacks.announce"}
AGENT_ENTRY_ENDPOINTS = {"agent_line.incoming", "agent_line.menu"}


def add_safe_voicemail(turn: Turn, response: VoiceResponse, dept: str) -> None:
    """A voicemail straight away, with no callback-number questions (they need no Redis)."""
    vm = turn.config.voicemail
    number = turn.call.callback_number(turn.config)
    own_number = "" if turn.call.relay else (number.e164 or "")  # relay: agents listen for it
    day = callback_window(turn.now, turn.hours).callback_day  # baseline if Redis is down
    params = record_args(turn, dept, own_number, day.isoformat())  # sealed: needs no Redis
    turn.say(response, turn.messages.voicemail_intro.format(day=spoken_day(day, turn.today)))
    response.record(
        action=url_for("voicemail.recorded", **params),
        method="POST",
        max_length=vm.max_length,
        finish_on_key=vm.finish_on_key,
        timeout=vm.silence_timeout,
        play_beep=True,
        recording_status_callback=external("voicemail.recording_status", **params),
        recording_status_callback_event="completed absent",
    )
    turn.say(response, turn.messages.call_ended)


def safe_response(turn: Turn) -> VoiceResponse:
    """Apologise, then an advisor when open, or a voicemail when closed."""
    from flows.queue import enqueue_verb

    dept = turn.config.menu.fallback_department
    response = VoiceResponse()
    turn.say(response, turn.messages.error_apology)
    if turn.is_open():
        # The advisor leg is recorded, and this caller may not have heard the notice yet (the
        # first request failed, or Twilio used the fallback URL): say it before the queue.
        turn.say(response, turn.messages.recording_notice)
        enqueue_verb(turn, response, dept)
        # Best effort: agents pick callers from our record of who waits, so add this one.
        now = turn.now.timestamp()
        batch = turn.batch()
        batch.op(lambda p: p.zadd(store.queue_key(dept), {turn.call.sid: now}, nx=True))
        batch.call(dept=dept, queue_entered_at=f"{now:.3f}")
        batch.event(Event.ENTER_QUEUE, dept, failsafe=True)
        batch.commit("fail-safe enqueue")
    else:
        add_safe_voicemail(turn, response, dept)
    return response


def _hold_on(config) -> VoiceResponse:
    """A failed hold document (a waitUrl: only Say, Play, Pause, Redirect, Leave, Hangup or
    Gather may run there): keep holding, briefly, until the limit, then leave the queue, and
    the Enqueue action takes the caller on. Needs only the config and ``QueueTime``."""
    limit = config.queue.voicemail_after
    remaining = limit - form_int("QueueTime", 0)
    response = VoiceResponse()
    if remaining <= 0:
        response.leave()
    else:
        response.pause(length=max(1, min(config.queue.max_overrun, remaining)))
    return response


def _agent_rescue(turn: Turn, endpoint: str) -> VoiceResponse:
    """An agent-line step failed: apologise and go back to the agent menu (or end, if the
    menu itself is what failed, so an agent is never caught in a loop)."""
    response = VoiceResponse()
    turn.say(response, turn.messages.error_apology)
    if endpoint in AGENT_ENTRY_ENDPOINTS:
        response.hangup()
    else:
        response.redirect(url_for("agent_line.menu"), method="POST")
    return response


GONE = ("hangup", "bridged", "redirected", "redirected-from-bridged")


def _rescue(turn: Turn, endpoint: str) -> VoiceResponse:
    """The answer for a failed ``endpoint``, valid where Twilio runs it."""
    if endpoint == "queue.wait":
        return _hold_on(turn.config)
    if endpoint.startswith("agent_"):
        return _agent_rescue(turn, endpoint)
    if endpoint == "queue.left":
        if request.values.get("QueueResult", "") in GONE:
            return VoiceResponse()  # the caller is gone or another document drives the call
        response = VoiceResponse()
        turn.say(response, turn.messages.error_apology)
        add_safe_voicemail(turn, response, turn.config.menu.fallback_department)
        return response
    if endpoint == "voicemail.recorded" and request.values.get("RecordingUrl"):
        # The message is recorded at Twilio: its recording callback or the reconciler stores
        # it. Asking the caller to record again would meet the same failure.
        response = VoiceResponse()
        turn.say(response, turn.messages.voicemail_thanks.format(day=turn.callback_day_spoken()))
        response.hangup()
        return response
    if endpoint.startswith("voicemail."):
        response = VoiceResponse()
        turn.say(response, turn.messages.error_apology)
        add_safe_voicemail(turn, response, turn.config.menu.fallback_department)
        return response
    return safe_response(turn)


def _last_resort(endpoint: str) -> VoiceResponse:
    """When the rescue failed too: the plainest TwiML that keeps the call, from the config
    alone, and still valid where Twilio runs it (never an ``<Enqueue>`` in a hold document,
    never an agent put in a caller's queue)."""
    config = current_app.extensions["ivr"].config
    if endpoint == "queue.wait":
        return _hold_on(config)
    response = VoiceResponse()
    if endpoint == "queue.left" and request.values.get("QueueResult", "") in GONE:
        return response
    speech = {"voice": config.speech.voice, "language": config.speech.language}
    response.say(config.messages.error_apology, **speech)
    if endpoint.startswith("agent_"):
        response.hangup()  # the agent's line; they ring back in
        return response
    response.say(config.messages.recording_notice, **speech)
    response.enqueue(config.department(config.menu.fallback_department).queue)
    return response


def handler_for(blueprint: str):
    """The error handler for one webhook blueprint."""

    def handle(exc: Exception):
        if isinstance(exc, HTTPException):
            return exc
        sid = request.values.get("CallSid", "")
        log.exception(
            "handler %s failed (call %s from %s); caller routed on safely",
            request.endpoint,
            sid,
            mask(request.values.get("From")),
        )
        endpoint = request.endpoint or ""
        if endpoint == "voicemail.recording_status":
            # Not known to be stored: an error, so Twilio may deliver it again (storing is
            # idempotent), and the reconciler finds it in Twilio's recordings if not.
            return "voicemail not stored; please retry", 503, {"Content-Type": "text/plain"}
        if endpoint in CALLBACK_ENDPOINTS or endpoint in BRIDGE_ENDPOINTS:
            return empty(), 200
        try:
            turn = Turn.begin()
            try:
                turn.batch().event(
                    Event.FAILSAFE, endpoint=endpoint, error=type(exc).__name__
                ).commit("fail-safe")
            except Exception:  # noqa: BLE001 - recording the failure must not stop the rescue
                log.exception("could not record the fail-safe event for call %s", sid)
            return render(_rescue(turn, endpoint))
        except Exception:  # noqa: BLE001 - last resort: the plainest TwiML that keeps the call
            log.exception("fail-safe itself failed for call %s", sid)
            return render(_last_resort(endpoint))

    handle.__name__ = f"failsafe_{blueprint}"
    return handle


@bp.post("/voice/fallback")
def fallback():
    """The number's fallback URL (Twilio calls it when a webhook fails): route the caller on."""
    turn = Turn.begin()
    log.error(
        "Twilio used the fallback URL for call %s (error %s at %s)",
        turn.call.sid,
        request.values.get("ErrorCode", "?"),
        request.values.get("ErrorUrl", "?"),
    )
    return render(safe_response(turn))
