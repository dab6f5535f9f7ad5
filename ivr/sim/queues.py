"""Twilio queues: FIFO per name, ``<Enqueue>`` with its waitUrl loop, and bridges.

A caller in ``<Enqueue>`` hears the waitUrl document, fetched again whenever it runs out, with
live ``QueuePosition``/``QueueTime``/``AvgQueueTime``/``CurrentQueueSize``/``MaxQueueSize``;
only the waitUrl verbs are allowed there. The ``action`` gets ``QueueResult``: ``leave`` at once
on ``<Leave>``, ``hangup`` when the caller hangs up, ``redirected`` on a REST dequeue, and
``bridged`` only after the conversation with the agent who dequeued them has ended.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ivr.sim.clock import Interrupt, Signal
from ivr.sim.elements import text_of
from ivr.sim.legs import CallEnded, Dequeued, HangUp, Leg, Next, Redirected

if TYPE_CHECKING:
    from ivr.sim.clock import _Event
    from ivr.sim.engine import Engine
    from ivr.sim.webhooks import Doc

Gen = Generator[Any, Any, Any]
DEFAULT_MAX = 1000  # Twilio's default queue size (twilio.md §3.8)


@dataclass(eq=False)
class Member:
    leg: Leg
    queue: CallQueue
    joined: float
    bridge: Bridge | None = None  # set when an agent takes this caller
    reserved: bool = False  # handed to an agent already waiting in <Dial><Queue>

    def waited(self, now: float) -> int:
        return int(now - self.joined + 1e-6)


@dataclass(eq=False)
class CallQueue:
    name: str
    sid: str
    max_size: int = DEFAULT_MAX
    created_at: float = 0.0
    members: dict[str, Member] = field(default_factory=dict)  # insertion order is FIFO
    takers: deque[Signal] = field(default_factory=deque)  # <Dial><Queue> waiting for a caller

    @property
    def size(self) -> int:
        return len(self.members)

    def position(self, member: Member) -> int:
        for i, sid in enumerate(self.members, start=1):
            if sid == member.leg.sid:
                return i
        return 0

    def average_wait(self, now: float) -> int:
        if not self.members:
            return 0
        return int(sum(now - m.joined for m in self.members.values()) / len(self.members))

    def join(self, leg: Leg, now: float) -> Member:
        member = Member(leg, self, now)
        self.members[leg.sid] = member
        leg.member = member
        return member

    def remove(self, member: Member) -> None:
        self.members.pop(member.leg.sid, None)
        if member.leg.member is member:
            member.leg.member = None

    def front(self) -> Member | None:
        return next((m for m in self.members.values() if not m.reserved), None)


class Queues:
    """The account's queues, created on first use (by ``<Enqueue>`` or REST)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.by_name: dict[str, CallQueue] = {}

    def get(self, name: str) -> CallQueue:
        from ivr.sim.webhooks import new_sid

        if name not in self.by_name:
            self.by_name[name] = CallQueue(name, new_sid("QU"), created_at=self.engine.now)
        return self.by_name[name]

    def by_sid(self, sid: str) -> CallQueue | None:
        return next((q for q in self.by_name.values() if q.sid == sid), None)


@dataclass(eq=False)
class Bridge:
    """Two legs talking. Ends when either hangs up; ``ended`` carries the leg that did."""

    engine: Engine
    a: Leg  # the leg that dialled (agent, or resident's call to the payment line)
    b: Leg  # the leg dialled or dequeued
    connected: Signal = field(default_factory=Signal)
    ended: Signal = field(default_factory=Signal)
    started_at: float | None = None
    timer: _Event | None = None
    star: bool = False  # the dialling leg's <Dial hangupOnStar="true">: * ends the bridge

    def start(self) -> None:
        """Connect the two; whoever runs out of things to say first hangs up."""
        self.started_at = self.engine.now
        self.a.bridge = self.b.bridge = self
        self.connected.fire(True)
        talks = [(t, leg) for leg in (self.b, self.a) if (t := leg.actor.talk(leg)) is not None]
        star = self.a.actor.star(self.a) if self.star else None
        seconds, leg = min(talks, key=lambda x: x[0]) if talks else (
            math.inf if star is not None else self.engine.fidelity.default_talk, self.b)
        dialled = self.b.direction == "outbound-dial"
        self.engine.notify(self.a, "bridge", self.b.to if dialled else self.b.from_)
        self.engine.notify(self.b, "bridge", self.a.from_)
        if star is not None and star < seconds:
            self.timer = self.engine.clock.later(star, self._star)
        else:
            self.timer = self.engine.clock.later(seconds, self.engine.hangup, leg, "done talking")

    def _star(self) -> None:
        """The dialling party pressed *: the other party is dropped, the dialler's <Dial>
        ends (its action follows) and the dialled or dequeued leg carries on."""
        if not self.ended.fired:
            self.engine.notify(self.a, "press", "*")
            self.end(self.a)

    def end(self, by: Leg) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if not self.connected.fired:
            self.connected.fire(False)
        for leg in (self.a, self.b):
            if leg.bridge is self:
                leg.bridge = None
        self.ended.fire(by)

    def seconds(self) -> int:
        if self.started_at is None:
            return 0
        return int(self.engine.now - self.started_at + 0.5)


def queue_params(engine: Engine, member: Member) -> dict[str, str]:
    q = member.queue
    return {"QueueSid": q.sid, "QueueTime": str(member.waited(engine.now)),
            "QueuePosition": str(q.position(member)),
            "AvgQueueTime": str(q.average_wait(engine.now)),
            "CurrentQueueSize": str(q.size), "MaxQueueSize": str(q.max_size)}


def enqueue(engine: Engine, leg: Leg, el: ET.Element, doc: Doc) -> Gen:

    name = text_of(el)
    action = engine.resolve(doc.url, el.get("action")) if el.get("action") else None
    method = el.get("method", "POST")
    wait_url = el.get("waitUrl")
    wait_url = engine.resolve(doc.url, wait_url) if wait_url else wait_url
    wait_method = el.get("waitUrlMethod", "POST" if wait_url else "GET")
    q = engine.queues.get(name)
    limit = min(q.max_size, int(el.get("maxQueueSize") or q.max_size))

    def done(result: str, extra: dict[str, str] | None = None) -> Next | None:
        engine.notify(leg, "dequeued", result, queue=name)
        params = {"QueueResult": result} | (extra or {})
        return Next(action, method, params) if action else None

    if q.size >= limit:
        return done("queue-full")
    member = q.join(leg, engine.now)
    engine.notify(leg, "enqueue", name, position=q.position(member), size=q.size)
    patience = _Patience(engine, leg, member)
    if q.takers:
        member.reserved = True
        q.takers.popleft().fire(member)  # an agent was already waiting in <Dial><Queue>
    try:
        result = yield from _wait_loop(engine, leg, member, wait_url, wait_method)
    except Interrupt as stop:
        patience.cancel()
        q.remove(member)
        waited = {"QueueSid": q.sid, "QueueTime": str(member.waited(engine.now))}
        cause = stop.cause
        if isinstance(cause, Dequeued):
            return (yield from _bridged(engine, leg, member, cause, done, action, method))
        if isinstance(cause, HangUp):
            engine.hung_up(leg)
            if member.bridge is not None:
                member.bridge.end(leg)
            engine.notify(leg, "dequeued", "hangup", queue=name)
            if action:
                engine.ignored(leg, action, method, {"QueueResult": "hangup"} | waited)
            raise CallEnded from None
        if isinstance(cause, Redirected) and action:
            engine.ignored(leg, action, method, {"QueueResult": "redirected"} | waited)
        raise
    patience.cancel()
    q.remove(member)
    waited = {"QueueSid": q.sid, "QueueTime": str(member.waited(engine.now))}
    if result == "hangup":  # <Hangup> in the wait document
        engine.hung_up(leg)
        if action:
            engine.ignored(leg, action, method, {"QueueResult": "hangup"} | waited)
        raise CallEnded
    return done(result, waited)


def _wait_loop(engine: Engine, leg: Leg, member: Member, url: str | None, method: str) -> Gen:
    """The hold: the waitUrl document, again and again, until it says Leave (or Hangup)."""
    from ivr.sim.webhooks import FetchFailed

    while True:
        if url is None:  # Twilio's own hold music
            engine.notify(leg, "play", "Twilio hold music")
            yield engine.fidelity.default_hold_music_seconds
            continue
        if url == "":
            yield Signal()  # silence until something happens to the caller (an interrupt)
            continue
        engine.notify(leg, "queue", f"position {member.queue.position(member)} of "
                      f"{member.queue.size}", **queue_params(engine, member))
        target, target_method, params = url, method, queue_params(engine, member)
        started = engine.now
        while True:
            try:
                doc = yield from engine.fetch(leg, target, target_method, params, "wait")
            except FetchFailed as failure:
                leg.errors.append(f"{failure.code} at waitUrl {failure.url}: {failure.detail}")
                return "error"
            result = yield from engine.run_document(leg, doc, "wait")
            if isinstance(result, Next):  # Redirect, or a Gather's action, within the hold
                target, target_method, params = result.url, result.method, result.params
                continue
            if isinstance(result, str):
                return result
            break
        if engine.now - started < 1.0:  # an instant document would spin: Twilio plays on
            leg.errors.append(f"waitUrl {url} returned a document that takes no time")
            yield 1.0


def _bridged(engine: Engine, leg: Leg, member: Member, taken: Dequeued, done: Any,
             action: str | None, method: str) -> Gen:
    """Taken by an agent: the <Queue url> document on this leg, then the conversation."""
    from ivr.sim.webhooks import FetchFailed

    bridge = taken.bridge
    queue_time = member.waited(engine.now)
    waited = {"QueueSid": member.queue.sid, "QueueTime": str(queue_time)}
    try:
        if taken.url:
            params = waited | {"DequeingCallSid": taken.dequeuer.sid}
            try:
                doc = yield from engine.fetch(leg, taken.url, taken.method, params, "queue_url")
                yield from engine.run_document(leg, doc, "queue_url")
            except FetchFailed as failure:
                leg.errors.append(f"{failure.code} at <Queue url> {failure.url}: {failure.detail}")
        if not taken.dequeuer.live or bridge.ended.fired:
            bridge.end(taken.dequeuer)
            return done("system-error", waited)  # the agent went before the bridge (UNCONFIRMED)
        bridge.start()
        by = yield bridge.ended
    except Interrupt as stop:
        if not isinstance(stop.cause, HangUp):
            bridge.end(leg)
            raise
        by = leg
        engine.hung_up(leg)
        result = "bridged" if bridge.started_at is not None else "hangup"
        bridge.end(leg)
        if action:
            engine.ignored(leg, action, method, {"QueueResult": result} | waited)
        raise CallEnded from None
    if by is leg or not leg.live:
        raise CallEnded
    return done("bridged", waited)


class _Patience:
    """Hangs the caller up when they stop being willing to hold (asks the actor again)."""

    def __init__(self, engine: Engine, leg: Leg, member: Member) -> None:
        self.engine, self.leg, self.member = engine, leg, member
        self.timer: _Event | None = None
        self._ask()

    def _ask(self) -> None:
        more = self.leg.actor.hold(self.leg, self.engine.now - self.member.joined)
        if more is None:
            return
        if more < 0.01:  # (a float remainder would reschedule at the same instant forever)
            self.engine.hangup(self.leg, "patience")
            return
        self.timer = self.engine.clock.later(more, self._ask)

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
