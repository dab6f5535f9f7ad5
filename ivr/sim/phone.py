"""A person at a terminal elsewhere, as an ``Actor`` of the local Twilio (``ivr.sim.server``).

The local Twilio runs every call in one engine in real time; each ``ivr call`` terminal that
joins it is a ``RemotePhone`` for its number: it places calls from that number and answers
calls made to it (a push offer, the console's *Call back*). Nothing here may wait for the
person, since one engine serves every terminal: what they hear is kept as numbered events the
terminal collects, what they type arrives as lines (``typed``), and a prompt that needs an
answer hands the engine a ``Signal`` to wait for (``awaiting``), fired when a line comes or
left to time out as Twilio's Gather does.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Any

from ivr.sim.clock import Signal
from ivr.sim.legs import (
    SILENCE,
    Actor,
    Answer,
    GatherPrompt,
    Leg,
    Message,
    Notice,
    RecordPrompt,
    Reply,
)

if TYPE_CHECKING:
    from ivr.sim.engine import Engine

HANGUP_WORDS = frozenset({"hangup", "hang up", "h"})
RING_SECONDS = 3.0  # a terminal answers by itself after this long
TALK_SECONDS = 3600.0  # once connected, a person talks until they type hangup (at most this)
GONE_AFTER = 30.0  # a terminal that has not asked for its events this long is not there
KEEP_EVENTS = 2000


class RemotePhone(Actor):
    """The actor for one number whose person types at a terminal."""

    def __init__(self, engine: Engine, number: str) -> None:
        self.engine = engine
        self.number = number
        self.events: list[dict[str, Any]] = []
        self.first = 0  # the sequence number of ``events[0]`` (old ones are dropped)
        self.inbox: deque[str] = deque()
        self.waiting: Signal | None = None
        self.seen_at = time.monotonic()

    # -- the terminal's side ---------------------------------------------------------------
    @property
    def present(self) -> bool:
        return time.monotonic() - self.seen_at < GONE_AFTER

    def since(self, after: int) -> list[dict[str, Any]]:
        """Events numbered ``after`` and later (the terminal asks with the next it wants)."""
        self.seen_at = time.monotonic()
        return self.events[max(0, after - self.first):]

    def typed(self, text: str) -> str:
        """A line from the terminal; returns what it did, for the terminal to show."""
        text = text.strip()
        legs = self.live_legs()
        if text.lower() in HANGUP_WORDS:
            for leg in legs:
                self.engine.hangup(leg, "caller")
            return "hung up" if legs else "no call to hang up"
        busy = [leg for leg in legs if leg.bridge is not None or leg.member is not None]
        if text == "*":
            starred = [leg for leg in busy if leg.bridge is not None and leg.bridge.star
                       and leg.bridge.a is leg]
            for leg in starred:
                self.engine.clock.at(self.engine.now, leg.bridge._star)
            if starred:
                return "* pressed"
        if busy and self.waiting is None:
            return "nobody is listening for keys now (type hangup to end the call)"
        self.inbox.append(text)
        if self.waiting is not None and not self.waiting.fired:
            self.engine.clock.at(self.engine.now, self.waiting.fire, True)
        return ""

    def live_legs(self) -> list[Leg]:
        return [leg for leg in self.engine.legs.values() if leg.actor is self and leg.live]

    def _add(self, leg: Leg | None, kind: str, text: str = "", **data: Any) -> None:
        self.events.append({"seq": self.first + len(self.events), "at": self.engine.now,
                            "call": leg.sid if leg is not None else "", "kind": kind,
                            "text": text, "data": data})
        if len(self.events) > KEEP_EVENTS:
            drop = len(self.events) - KEEP_EVENTS
            del self.events[:drop]
            self.first += drop

    # -- the engine's side -----------------------------------------------------------------
    def notice(self, leg: Leg, notice: Notice) -> None:
        data = {k: v for k, v in notice.data.items() if isinstance(v, (str, int, float))}
        self._add(leg, notice.kind, notice.text, **data)

    def awaiting(self, leg: Leg, prompt: GatherPrompt | RecordPrompt) -> Signal | None:
        if self.inbox:
            return None
        self.waiting = Signal()
        if isinstance(prompt, RecordPrompt):
            self._add(leg, "ask", "your message, then Enter (Enter alone: say nothing)",
                      seconds=prompt.max_length)
        else:
            words = " or words" if "speech" in prompt.input else ""
            self._add(leg, "ask", f"keys{words}, then Enter ({prompt.timeout:g} s)",
                      seconds=prompt.timeout)
        return self.waiting

    def _line(self) -> str | None:
        self.waiting = None
        return self.inbox.popleft() if self.inbox else None

    def gather(self, leg: Leg, prompt: GatherPrompt) -> Reply:
        got = self._line()
        if not got:
            return SILENCE
        if all(c in "0123456789*#" for c in got):
            return Reply(digits=got)
        return Reply(speech=got)

    def record(self, leg: Leg, prompt: RecordPrompt) -> Message:
        got = self._line()
        if not got:
            return Message(seconds=0.0, finish_key=None)
        return Message(got)

    def hold(self, leg: Leg, waited: float) -> float | None:
        return None  # holds until answered or they type hangup

    def talk(self, leg: Leg) -> float | None:
        return TALK_SECONDS

    def answer(self, leg: Leg) -> Answer:
        if not self.present:
            return Answer("no-answer")
        self._add(leg, "ring", f"your phone rings: a call from {leg.from_}; "
                               f"answering in {RING_SECONDS:g} s")
        return Answer(ring=RING_SECONDS, talk=TALK_SECONDS)
