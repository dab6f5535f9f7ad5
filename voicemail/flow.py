"""Voicemail: make sure we have a number to call back, record the message, store the task.

A withheld, invalid or uncallable caller ID means we first ask for a number on the keypad,
check it, read it back digit by digit and ask to confirm. Both the <Record> action and the
recording status callback store the voicemail: one atomic script writes the task, its indexes
and its events (idempotent per recording), then a second round trip schedules its release job,
which only makes the release prompt. A voicemail the script cannot store is spooled to disk;
one neither Redis nor the disk can take is logged for recovery, answered with an error on the
recording callback (so Twilio may retry it) and recovered from Twilio's recordings by the
reconciler, and the caller is thanked rather than asked to record into the same failure.

The callback number and the Relay UK mark reach the later steps sealed in our own URLs
(``voicemail.urls``), so no log shows them and they need no Redis.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from flask import Blueprint, Response, request, url_for
from redis.exceptions import RedisError
from twilio.twiml.voice_response import VoiceResponse

from flows.common import Turn, arg_int, external, form_int
from ivr import controls_store
from ivr.calendar import CallbackWindow, callback_window, promised_window, spoken_day
from ivr.controls import effective_hours
from ivr.phone import check_keyed_number, mask, spoken_digits
from ivr.twiml import empty, render
from voicemail.tasks import Voicemail, commit_release, save_voicemail
from voicemail.urls import callback_arg, record_args, sealed

if TYPE_CHECKING:
    from ivr.services import Ivr

log = logging.getLogger(__name__)
bp = Blueprint("voicemail", __name__)

_RECORDING_SID = re.compile(r"/Recordings/(RE[0-9a-fA-F]{32})")


def _dept(turn: Turn) -> str:
    return turn.config.department_id(request.args.get("dept"))


def window_now(turn: Turn) -> CallbackWindow:
    """The callback window of a voicemail left now: the day promised in this call's URL when
    the recording began, if it still holds (no read of the live controls); else worked out
    from the hours with the live closures."""
    try:
        promised = date.fromisoformat(request.args.get("day", ""))
    except ValueError:
        promised = None
    kept = promised and promised_window(turn.now, promised, turn.ivr.hours)
    return kept or callback_window(turn.now, turn.hours)


def add_record(turn: Turn, response: VoiceResponse, dept: str, number: str,
               relay: bool = False) -> None:
    """The promise, the beep, and a <Record> whose results reach us twice (action + callback).
    ``relay``: the number was keyed after a Relay UK prefix, so the callback goes through it."""
    vm = turn.config.voicemail
    day = callback_window(turn.now, turn.hours).callback_day
    params = record_args(turn, dept, number, day.isoformat(), relay)
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
    # Reached only if Twilio skips the action (e.g. an empty recording): still a callback.
    response.redirect(url_for("voicemail.recorded", **params), method="POST")


def add_number_prompt(turn: Turn, response: VoiceResponse, dept: str, tries: int) -> None:
    action = url_for("voicemail.number", dept=dept, tries=tries)
    turn.speaker.ask(response, action, turn.messages.number_prompt, num_digits=None,
                     finish_on_key="#")


@bp.post("/voicemail/start")
def start():
    """Entry to voicemail: straight to the message if we can call the caller ID back."""
    turn = Turn.begin()
    dept = _dept(turn)
    check = turn.call.callback_number(turn.config)
    response = VoiceResponse()
    if check.callable and not turn.call.relay:
        add_record(turn, response, dept, check.e164 or "")
    else:
        # A Relay UK call shows the relay service's number, not the resident's: ask for theirs.
        turn.say(response, turn.messages.number_relay if turn.call.relay
                 else turn.messages.number_needed)
        add_number_prompt(turn, response, dept, tries=0)
    return render(response)


def _readback(turn: Turn, number: str, relay: bool) -> str:
    """The number read back digit by digit; a Relay UK callback says that it is one."""
    m = turn.messages
    return (m.number_readback_relay if relay else m.number_readback).format(
        digits=spoken_digits(number))


@bp.post("/voicemail/number")
def number():
    """Gather action for a keyed callback number: check it, read it back, or ask again."""
    turn = Turn.begin()
    dept = _dept(turn)
    tries = arg_int("tries") + 1
    prefixes = turn.config.relay.keyed_prefixes
    longest_prefix = max((len(p) for p in prefixes), default=0)
    digits = (request.values.get("Digits") or "").strip()[
        : turn.config.voicemail.number_max_digits + longest_prefix + 2
    ]
    check = check_keyed_number(digits, prefixes)
    response = VoiceResponse()
    m = turn.messages
    if check.callable and check.e164:
        action = url_for("voicemail.confirm", dept=dept,
                         cb=sealed(turn, check.e164, check.relay), tries=tries)
        turn.speaker.ask(response, action, _readback(turn, check.e164, check.relay))
        return render(response)
    rejected = m.number_rejected[check.rejection] if digits and check.rejection else ""
    if tries >= turn.config.voicemail.number_attempts:
        if rejected:  # the last try's reason too: why this number will not do either
            turn.say(response, rejected)
        turn.say(response, m.number_given_up)
        add_record(turn, response, dept, "")
        return render(response)
    turn.say(response, rejected or m.not_caught)
    add_number_prompt(turn, response, dept, tries)
    return render(response)


@bp.post("/voicemail/confirm")
def confirm():
    """Gather action after the read-back: 1 records, 2 re-enters; silence asks once more."""
    turn = Turn.begin()
    dept = _dept(turn)
    callback = callback_arg(turn)
    number = callback.number
    tries = arg_int("tries")
    asked = arg_int("asked") + 1
    digits = (request.values.get("Digits") or "").strip()
    response = VoiceResponse()
    if not number or digits == turn.config.keys.reenter_number:
        if tries >= turn.config.voicemail.number_attempts:
            turn.say(response, turn.messages.number_given_up)
            add_record(turn, response, dept, "")
        else:
            add_number_prompt(turn, response, dept, tries)
        return render(response)
    if digits == turn.config.keys.confirm_number or asked >= 2:
        # Heard twice without an answer: they have heard the number; keep it and record.
        add_record(turn, response, dept, number, callback.relay)
        return render(response)
    action = url_for("voicemail.confirm", dept=dept, cb=sealed(turn, number, callback.relay),
                     tries=tries, asked=asked)
    readback = _readback(turn, number, callback.relay)
    turn.speaker.ask(response, action, turn.messages.not_caught, readback)
    return render(response)


def _voicemail_from_request(turn: Turn, source: str) -> Voicemail:
    values = request.values
    url = values.get("RecordingUrl", "") or ""
    sid = values.get("RecordingSid", "") or ""
    if not sid:
        found = _RECORDING_SID.search(url)
        sid = found.group(1) if found else ""
    status = values.get("RecordingStatus") or ("completed" if url else "none")
    if status == "absent" or not url:
        # No message was kept: the "absent" callback and the <Redirect> after <Record> (Twilio
        # skips the action) report the same non-recording, so they share one stand-in id.
        sid = ""
    callback = callback_arg(turn)
    return Voicemail(
        call_sid=turn.call.sid,
        recording_id=sid or f"{turn.call.sid}-no-recording",
        recording_url=url,
        duration=form_int("RecordingDuration", 0),
        recording_status=status,
        number=callback.number,
        relay=callback.relay,
        department=_dept(turn),
        left_at=turn.now.timestamp(),
        source=source,
    )


def store_voicemail(turn: Turn, vm: Voicemail) -> bool:
    """Store the voicemail as a callback task with its events (one atomic script), then its
    release job; or spool it to disk. False only when neither Redis nor the disk took it."""
    ivr = turn.ivr
    try:
        saved = save_voicemail(ivr.redis, vm, window_now(turn),
                               ivr.config.events.retention_days)
    except Exception as exc:  # noqa: BLE001 - whatever failed, the voicemail must not be lost
        return spool_voicemail(turn, vm, exc)
    commit_release(turn.batch(), ivr.callbacks, saved)
    return True


def spool_voicemail(turn: Turn, vm: Voicemail, problem: object) -> bool:
    """Keep the voicemail on disk for the spool's replay; logs why (with the traceback of an
    unexpected error, when called from its ``except`` block). When the disk refuses it too,
    logs what an operator (or the reconciler, from Twilio's recordings) needs to recover it
    and returns False."""
    unexpected = isinstance(problem, Exception) and not isinstance(problem, RedisError)
    (log.exception if unexpected else log.warning)(
        "voicemail for call %s from %s spooled (not stored: %s)",
        vm.call_sid,
        mask(vm.number or turn.call.from_),
        problem,
    )
    try:
        turn.ivr.spool.write("voicemail", vm.to_json())
    except OSError as exc:
        log.error(
            "VOICEMAIL NOT STORED: recording %s of call %s (department %s, callback number "
            "%s) is neither in Redis nor in the spool (%s); `ivr reconcile` recovers it from "
            "Twilio's recordings",
            vm.recording_id, vm.call_sid, vm.department, mask(vm.number or turn.call.from_),
            exc,
        )
        return False
    return True


def replay_voicemail(ivr: Ivr) -> Callable[[dict], None]:
    """Spool handler: store a spooled voicemail (events and job too) as of the time it was
    left; raises RedisError (the item stays spooled) only when the task was not stored."""

    def handler(payload: dict) -> None:
        vm = Voicemail(**payload)
        left = datetime.fromtimestamp(vm.left_at, UTC)
        hours = effective_hours(ivr.hours, controls_store.load(ivr.redis))
        saved = save_voicemail(ivr.redis, vm, callback_window(left, hours),
                               ivr.config.events.retention_days)
        commit_release(ivr.batch(vm.call_sid, vm.number, vm.left_at), ivr.callbacks, saved)

    return handler


@bp.post("/voicemail/recorded")
def recorded():
    """<Record> action: store the message, then thank the caller and say when we'll call."""
    turn = Turn.begin()
    vm = _voicemail_from_request(turn, "record_action")
    store_voicemail(turn, vm)
    response = VoiceResponse()
    if (request.values.get("Digits") or "") == "hangup":
        return render(response)  # the caller has gone; nothing will be heard
    if not vm.recording_url:
        turn.say(response, turn.messages.voicemail_empty)
    day = spoken_day(window_now(turn).callback_day, turn.today)
    turn.say(response, turn.messages.voicemail_thanks.format(day=day))
    response.hangup()
    return render(response)


@bp.post("/voicemail/recording")
def recording_status():
    """recordingStatusCallback: the recording is ready (or failed); store it idempotently."""
    turn = Turn.begin()
    if not store_voicemail(turn, _voicemail_from_request(turn, "recording_status")):
        # Neither Redis nor the disk took it: an error, so Twilio may deliver it again.
        return Response("voicemail not stored; please retry", status=503,
                        mimetype="text/plain")
    return empty()


def abandoned_callback(turn: Turn, dept: str) -> None:
    """A callback for a caller who hung up while queuing (only when config switches it on)."""
    check = turn.call.callback_number(turn.config)
    if not check.callable:
        return
    store_voicemail(
        turn,
        Voicemail(
            call_sid=turn.call.sid,
            recording_id=f"{turn.call.sid}-abandoned",
            recording_url="",
            duration=0,
            recording_status="none",
            number=check.e164 or "",
            relay=turn.call.relay,
            department=dept,
            left_at=turn.now.timestamp(),
            source="abandoned",
        ),
    )
