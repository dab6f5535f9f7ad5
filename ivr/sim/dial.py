"""``<Dial>``: ringing a number (answered, busy, no-answer, failed by scenario; the ``<Number
url>`` whisper on the called leg), taking the front caller of a ``<Queue>``, and calls made
with the REST API ringing out. The ``action`` gets ``DialCallStatus``/``DialCallSid``/
``DialCallDuration`` once the dialled party has gone (after the conversation, if any).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ivr.sim.clock import Interrupt, Signal, WaitFor
from ivr.sim.elements import recorded, text_of
from ivr.sim.legs import CallEnded, Dequeued, HangUp, Leg, Next
from ivr.sim.queues import Bridge, queue_params

if TYPE_CHECKING:
    from ivr.sim.engine import Engine
    from ivr.sim.webhooks import Doc

Gen = Generator[Any, Any, Any]


@dataclass
class Outcome:
    status: str
    child_sid: str = ""
    seconds: int = 0
    bridged: bool = False
    extra: dict[str, str] = field(default_factory=dict)
    parent_gone: bool = False


def dial(engine: Engine, leg: Leg, el: ET.Element, doc: Doc) -> Gen:

    action = engine.resolve(doc.url, el.get("action")) if el.get("action") else None
    method = el.get("method", "POST")
    timeout = float(el.get("timeout", "30"))
    queue = el.find("Queue")
    if queue is not None:
        outcome = yield from _take_from_queue(engine, leg, queue, doc, timeout,
                                              el.get("hangupOnStar") == "true")
    else:
        noun = el.find("Number")
        number = text_of(noun) if noun is not None else text_of(el)
        outcome = yield from _ring_number(engine, leg, el, noun, number, doc, timeout)
    params = {"DialCallStatus": outcome.status, "DialCallSid": outcome.child_sid,
              "DialCallDuration": str(outcome.seconds),
              "DialBridged": "true" if outcome.bridged else "false"} | outcome.extra
    record = el.get("record", "do-not-record")
    if outcome.bridged and record not in ("do-not-record", "false"):
        params["RecordingUrl"] = _recorded_dial(engine, leg, el, doc, outcome.seconds,
                                                record.endswith("-dual"))
    engine.notify(leg, "dial-result", outcome.status, **params)
    if outcome.parent_gone:
        if action and engine.fidelity.dial_action_on_hangup:
            engine.ignored(leg, action, method, params)
        raise CallEnded
    return Next(action, method, params) if action else None


def _recorded_dial(engine: Engine, leg: Leg, el: ET.Element, doc: Doc, seconds: int,
                   dual: bool) -> str:
    """The bridged conversation's recording, kept like a ``<Record>``'s (its media served, its
    ``recordingStatusCallback`` made); returns its URL for the Dial action."""
    from ivr.sim.webhooks import new_sid, rfc2822

    sid = new_sid("RE")
    url = f"https://api.twilio.com/2010-04-01/Accounts/{engine.account_sid}/Recordings/{sid}"
    recorded(engine, leg, el, doc, sid, url, seconds, engine.now - seconds, rfc2822,
              source="DialVerb", channels="2" if dual else "1", notice="call-recorded")
    return url


def _ring_number(engine: Engine, leg: Leg, el: ET.Element, noun: ET.Element | None, number: str,
                 doc: Doc, timeout: float) -> Gen:
    from ivr.sim.webhooks import FetchFailed

    child = engine.new_leg(el.get("callerId") or leg.from_, number, "outbound-dial",
                        engine.answerer(number), None, status="ringing", parent=leg)
    answer = child.actor.answer(child)
    engine.notify(leg, "dial", number, timeout=timeout)
    bridge: Bridge | None = None
    try:
        if answer.status != "answered" or answer.ring > timeout:
            status = answer.status if answer.status != "answered" else "no-answer"
            yield {"busy": min(3.0, timeout), "failed": 1.0}.get(status, timeout)
            engine.finish(child, status)
            return Outcome(status, child.sid)
        yield answer.ring
        engine.answer(child)
        url = noun.get("url") if noun is not None else None
        if url:  # the whisper, heard by the called party only
            try:
                whisper = yield from engine.fetch(child, engine.resolve(doc.url, url),
                                                  noun.get("method", "POST"), {}, "number_url")
                declined = (yield from engine.run_document(child, whisper, "number_url"))
            except FetchFailed as failure:
                child.errors.append(f"{failure.code} at <Number url>: {failure.detail}")
                declined = None
            if declined == "hangup":  # declined: answered, never connected (UNCONFIRMED)
                engine.finish(child)
                return Outcome("completed", child.sid)
        bridge = Bridge(engine, leg, child, star=el.get("hangupOnStar") == "true")
        bridge.start()
        yield bridge.ended
    except Interrupt as stop:  # the caller hung up, or calls.update moved the call on
        gone = isinstance(stop.cause, HangUp)
        if gone:
            engine.hung_up(leg)
        bridged = bridge is not None and bridge.started_at is not None
        seconds = bridge.seconds() if bridge is not None else 0
        if bridge is not None:
            bridge.end(leg)
        engine.finish(child, "completed" if child.answered_at else "canceled")
        if not gone:
            raise
        return Outcome("completed" if bridged else "canceled", child.sid, seconds, bridged,
                       parent_gone=True)
    engine.finish(child)
    return Outcome("completed", child.sid, bridge.seconds(), True, parent_gone=not leg.live)


def _take_from_queue(engine: Engine, leg: Leg, noun: ET.Element, doc: Doc, timeout: float,
                     star: bool = False) -> Gen:
    """<Dial><Queue>: the front caller (or the next to arrive, until the timeout)."""

    q = engine.queues.get(text_of(noun))
    engine.notify(leg, "dial", f"queue {q.name}", timeout=timeout)
    member = q.front()
    waiter: Signal | None = None
    bridge: Bridge | None = None
    try:
        if member is None:
            waiter = Signal()
            q.takers.append(waiter)
            member = yield WaitFor(waiter, timeout)
            if member is None:
                q.takers.remove(waiter)
                return Outcome("no-answer")
            if not member.leg.live:
                return Outcome("no-answer", member.leg.sid)
        extra = {k: v for k, v in queue_params(engine, member).items()
                 if k in ("QueueSid", "QueueTime")}
        q.remove(member)
        bridge = Bridge(engine, leg, member.leg, star=star)
        member.bridge = bridge
        url = engine.resolve(doc.url, noun.get("url")) if noun.get("url") else None
        member.leg.process.interrupt(Dequeued(leg, url, noun.get("method", "POST"), bridge))
        if not (yield bridge.connected):
            return Outcome("no-answer", member.leg.sid, extra=extra)  # gone before the bridge
        yield bridge.ended
    except Interrupt as stop:  # the agent hung up, or calls.update moved the call on
        gone = isinstance(stop.cause, HangUp)
        if gone:
            engine.hung_up(leg)
        if waiter is not None and waiter in q.takers:
            q.takers.remove(waiter)
        if waiter is not None and waiter.fired and bridge is None:
            waiter.value.reserved = False  # handed over but never taken: back in the queue
        if bridge is not None:
            bridge.end(leg)
        if not gone:
            raise
        if bridge is None:
            return Outcome("canceled", parent_gone=True)
        bridged = bridge.started_at is not None
        return Outcome("completed" if bridged else "canceled", member.leg.sid, bridge.seconds(),
                       bridged, extra, parent_gone=True)
    return Outcome("completed", member.leg.sid, bridge.seconds(), True, extra,
                   parent_gone=not leg.live)


def ring(engine: Engine, leg: Leg, timeout: float) -> Gen:
    """A REST-created call: ring the callee; if they answer, the call's URL drives it."""
    events = leg.status_events
    for event in ("initiated", "ringing"):
        if leg.status_callback and event in events:
            engine.status_callback(leg, event)
    leg.status = "ringing"
    answer = leg.actor.answer(leg)
    try:
        if answer.status != "answered" or answer.ring > timeout:
            status = answer.status if answer.status != "answered" else "no-answer"
            yield {"busy": min(3.0, timeout), "failed": 1.0}.get(status, timeout)
            engine.finish(leg, status)
            return
        yield answer.ring
    except Interrupt:
        engine.finish(leg, "canceled")
        return
    engine.answer(leg)
    if leg.status_callback and "answered" in events:
        engine.status_callback(leg, "in-progress")
    yield from engine._lifecycle(leg, Next(leg.voice_url, leg.voice_method,
                                           twiml=leg.inline_twiml))
