"""The TwiML interpreter: each verb as Twilio runs it, taking the time it takes.

Verbs run top to bottom; a verb that hands control to a URL (``action``, ``<Redirect>``) returns
``Next``; ``<Hangup>``/``<Reject>`` return ``End``; running out of verbs ends the call (or, in
a waitUrl document, fetches the waitUrl again). Relative URLs resolve against the document's
own URL. Say takes time in proportion to its words, Play the length of its audio, Pause its
length; a key press during a ``<Gather>`` prompt interrupts it (barge-in).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from ivr.sim.clock import Interrupt, WaitFor
from ivr.sim.elements import recorded, text_of
from ivr.sim.legs import (
    CallEnded,
    End,
    GatherPrompt,
    HangUp,
    Leg,
    Next,
    RecordPrompt,
    Reply,
)

if TYPE_CHECKING:
    from ivr.sim.engine import Engine
    from ivr.sim.webhooks import Doc

Gen = Generator[Any, Any, Any]
WAIT_VERBS = frozenset({"Play", "Say", "Pause", "Hangup", "Redirect", "Leave", "Gather"})


def loops(el: ET.Element) -> int:
    value = el.get("loop", "1")
    count = int(value) if value.isdigit() else 1
    return 1000 if count == 0 else count


def seconds_of(engine: Engine, el: ET.Element, doc: Doc) -> float:
    """How long a Say, Play or Pause lasts (once)."""
    if el.tag == "Say":
        return engine.speech_seconds(text_of(el))
    if el.tag == "Play":
        if el.get("digits"):
            digits = el.get("digits", "")
            return 0.2 * len(digits) + 0.5 * digits.count("w") + 1.0 * digits.count("W")
        return engine.play_seconds(engine.resolve(doc.url, text_of(el)))
    if el.tag == "Pause":
        return float(el.get("length", "1"))
    return 0.0


def audio(engine: Engine, leg: Leg, el: ET.Element, doc: Doc, limit: float | None = None) -> Gen:
    """Say, Play or Pause: tell the listener, then take the time (at most ``limit``)."""
    for _ in range(loops(el) if el.tag != "Pause" else 1):
        seconds = seconds_of(engine, el, doc)
        if el.tag == "Say":
            engine.notify(leg, "say", text_of(el))
        elif el.tag == "Play":
            engine.notify(leg, "play", engine.resolve(doc.url, text_of(el)), seconds=seconds)
        else:
            engine.notify(leg, "pause", f"{seconds:g} s", seconds=seconds)
        if limit is not None and seconds >= limit:
            yield max(0.0, limit)
            return
        yield seconds
        if limit is not None:
            limit -= seconds


def run_document(engine: Engine, leg: Leg, doc: Doc, context: str = "call") -> Gen:
    """Run a document's verbs; returns what drives the leg next (see module doc)."""
    from ivr.sim.dial import dial
    from ivr.sim.queues import enqueue

    first = True
    for el in doc.root:
        if context == "call" and first:
            if el.tag == "Reject":
                engine.notify(leg, "reject", el.get("reason", "rejected"))
                return End("busy" if el.get("reason") == "busy" else "no-answer")
            engine.answer(leg)
        first = False
        if context == "wait" and el.tag not in WAIT_VERBS:
            leg.errors.append(f"<{el.tag}> in a waitUrl document: QueueResult=error")
            return "error"
        if el.tag in ("Say", "Play", "Pause"):
            yield from audio(engine, leg, el, doc)
            continue
        if el.tag == "Gather":
            result = yield from gather(engine, leg, el, doc)
        elif el.tag == "Record":
            result = yield from record(engine, leg, el, doc)
        elif el.tag == "Redirect":
            result = Next(engine.resolve(doc.url, text_of(el)), el.get("method", "POST"))
        elif el.tag in ("Hangup", "Reject"):
            result = "hangup" if context != "call" else End()
        elif el.tag == "Leave":
            result = "leave" if context == "wait" else None
        elif el.tag == "Enqueue" and context == "call":
            result = yield from enqueue(engine, leg, el, doc)
        elif el.tag == "Dial" and context == "call":
            result = yield from dial(engine, leg, el, doc)
        else:
            leg.errors.append(f"<{el.tag}> is not simulated in a {context} document; skipped")
            continue
        if result is not None:
            return result
    if context == "call" and first:
        engine.answer(leg)  # an empty <Response/> still answers the call
    return None


def _prompt_heard(leg: Leg, extra: list[str]) -> tuple[str, ...]:
    heard = tuple(leg.heard_since_input) + tuple(extra)
    leg.heard_since_input.clear()
    return heard


def gather(engine: Engine, leg: Leg, el: ET.Element, doc: Doc) -> Gen:
    f = engine.fidelity
    action = engine.resolve(doc.url, el.get("action") or doc.url)
    method = el.get("method", "POST")
    modes = frozenset((el.get("input") or "dtmf").split())
    timeout = float(el.get("timeout", "5"))
    num = int(el.get("numDigits")) if (el.get("numDigits") or "").isdigit() else None
    finish = el.get("finishOnKey", "#")
    nested = [c for c in el if c.tag in ("Say", "Play", "Pause")]
    prompt = GatherPrompt(action, modes, timeout, num, finish,
                          _prompt_heard(leg, [text_of(c) for c in nested if c.tag == "Say"]))
    early = leg.actor.barge_in(leg, prompt)
    started = engine.now
    for child in nested:
        if early is not None and early.after is not None:
            left = started + early.after - engine.now
            if left <= 0:
                break
            yield from audio(engine, leg, child, doc, limit=left)
        else:
            yield from audio(engine, leg, child, doc)
    leg.heard_since_input.clear()
    asked = engine.now
    if early is None or early.after is None:
        typing = leg.actor.awaiting(leg, prompt)  # a person elsewhere, answering in real time
        if typing is not None:
            yield WaitFor(typing, timeout)
    reply = early if early is not None and early.after is not None else leg.actor.gather(
        leg, prompt)
    acts = reply.hangup or bool(reply.digits and "dtmf" in modes) or bool(
        reply.speech and "speech" in modes)
    if not acts:
        engine.notify(leg, "silence", f"no input for {timeout:g} s")
        yield max(0.0, timeout - (engine.now - asked))
        return Next(action, method) if el.get("actionOnEmptyResult") == "true" else None
    yield max(0.0, started + reply.after - engine.now) if reply.after is not None else f.reaction
    if reply.hangup:
        raise Interrupt(HangUp("caller"))
    if reply.digits and "dtmf" in modes:
        return (yield from _keys(engine, leg, el, reply, action, method, num, finish, timeout))
    words = reply.speech
    engine.notify(leg, "speak", words)
    end_silence = 1.0 if el.get("speechTimeout", "auto") == "auto" else float(
        el.get("speechTimeout") or timeout)
    yield engine.speech_seconds(words, f.caller_words_per_second) + end_silence
    return Next(action, method, {"SpeechResult": words, "Confidence": f"{reply.confidence:.2f}"})


def _keys(engine: Engine, leg: Leg, el: ET.Element, reply: Reply, action: str, method: str,
          num: int | None, finish: str, timeout: float) -> Gen:
    collected, finished = "", ""
    for i, key in enumerate(reply.digits):
        if i:
            yield engine.fidelity.key_gap
        if finish and key == finish:
            finished = key
            break
        collected += key
        if num is not None and len(collected) >= num:
            break
    else:
        yield timeout  # no finishing key: Twilio waits for more before submitting
    engine.notify(leg, "press", collected + finished)
    if not collected and el.get("actionOnEmptyResult") != "true":
        return None
    return Next(action, method, {"Digits": collected, "FinishedOnKey": finished})


def record(engine: Engine, leg: Leg, el: ET.Element, doc: Doc) -> Gen:
    """<Record>: beep, the caller's message, the action (``Digits=hangup`` if they hang up)."""
    from ivr.sim.webhooks import new_sid, rfc2822

    f = engine.fidelity
    action = engine.resolve(doc.url, el.get("action") or doc.url)
    method = el.get("method", "POST")
    max_length = float(el.get("maxLength", "3600"))
    silence = float(el.get("timeout", "5"))
    finish = el.get("finishOnKey", "1234567890*#")
    prompt = RecordPrompt(action, max_length, silence, finish, _prompt_heard(leg, []))
    typing = leg.actor.awaiting(leg, prompt)  # a person elsewhere: their message, or nothing
    if typing is not None:
        yield WaitFor(typing, max_length)
    message = leg.actor.record(leg, prompt)
    if el.get("playBeep", "true") == "true":
        engine.notify(leg, "beep")
        yield 0.5
    sid = new_sid("RE")
    url = f"https://api.twilio.com/2010-04-01/Accounts/{engine.account_sid}/Recordings/{sid}"
    started = engine.now
    speak = message.seconds if message.seconds is not None else (
        engine.speech_seconds(message.words, f.caller_words_per_second))
    speak = min(speak, max_length)
    digits = ""
    try:
        if speak:
            engine.notify(leg, "speak", message.words or f"({speak:.0f} s message)", recording=sid)
        yield speak
        if message.hangup:
            raise Interrupt(HangUp("caller"))
        if message.finish_key and message.finish_key in finish and speak < max_length:
            yield f.key_gap
            digits = message.finish_key
            engine.notify(leg, "press", digits)
        elif speak < max_length:
            yield min(silence, max_length - speak) if silence > 0 else max_length - speak
    except Interrupt as stop:
        if not isinstance(stop.cause, HangUp):
            raise
        engine.hung_up(leg)
        seconds = int(engine.now - started + 0.5)
        recorded(engine, leg, el, doc, sid, url, seconds, started, rfc2822)
        engine.ignored(leg, action, method, _record_params(engine, sid, url, seconds, "hangup"))
        raise CallEnded from None
    trimmed = el.get("trim", "trim-silence") == "trim-silence"
    seconds = int((speak if trimmed else engine.now - started) + 0.5)
    recorded(engine, leg, el, doc, sid, url, seconds, started, rfc2822)
    if seconds == 0 and f.empty_recording == "skip":
        return None
    return Next(action, method, _record_params(engine, sid, url, seconds, digits))


def _record_params(engine: Engine, sid: str, url: str, seconds: int, digits: str) -> dict:
    params = {"RecordingUrl": url, "RecordingDuration": str(seconds), "Digits": digits}
    if engine.fidelity.record_action_sid:
        params["RecordingSid"] = sid
    return params
