"""The call engine: Twilio's side of every call, faithful to ``shared/reference/twilio.md``.

It owns the numbers (Voice URL, fallback URL, status callback), the legs, the queues and the
clock; it signs and sends every webhook (standard parameters, ``X-Twilio-Signature`` over the
exact URL), checks every answer as Twilio does (non-2xx, over 15 s, not TwiML → the fallback
URL, else "An application error has occurred" and the call ends), validates every document
against Twilio's definitions in its context (strict: a violation stops the run with the
reason), and runs each leg's TwiML (``verbs``) as a process in virtual or real time.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from twilio.request_validator import RequestValidator

from ivr.sim.clock import Clock, Interrupt, VirtualClock
from ivr.sim.collector import fewer_collections
from ivr.sim.dial import ring
from ivr.sim.legs import (
    FINAL,
    Actor,
    Answer,
    CallEnded,
    End,
    HangUp,
    Leg,
    Line,
    Next,
    Notice,
    Redirected,
)
from ivr.sim.queues import Queues
from ivr.sim.transport import Transport
from ivr.sim.verbs import run_document
from ivr.sim.webhooks import (  # noqa: F401  (re-exported: the engine's public errors)
    Doc,
    FetchFailed,
    Logged,
    SimulationError,
    TwimlViolation,
    Webhooks,
    new_sid,
    rfc2822,
)

log = logging.getLogger(__name__)


@dataclass
class Fidelity:
    """Tunable Twilio behaviour; defaults follow twilio.md (UNCONFIRMED points are choices)."""

    strict: bool = True
    words_per_second: float = 2.5  # text-to-speech rate
    caller_words_per_second: float = 2.5  # how fast simulated people speak
    play_seconds: dict[str, float] = field(default_factory=lambda: {"/static/hold-10s.wav": 10.0})
    default_play_seconds: float = 5.0
    default_hold_music_seconds: float = 30.0  # Twilio's classical playlist, one track
    reaction: float = 1.0  # a person's delay before pressing a key after a prompt
    key_gap: float = 0.3
    request_timeout: float = 15.0
    recording_callback_delay: float = 2.0
    recording_callbacks: int = 1  # 2: Twilio delivers recordingStatusCallback twice
    empty_recording: str = "action"  # or "skip": no action request, fall through (legacy docs)
    record_action_sid: bool = True  # RecordingSid on the <Record> action (UNCONFIRMED)
    dial_action_on_hangup: bool = True  # request <Dial action> when the parent hangs up
    default_talk: float = 60.0
    max_requests_per_call: int = 2000  # a loop guard: no real call makes this many
    error_message: str = "An application error has occurred."


@dataclass(frozen=True)
class NumberConfig:
    """An IncomingPhoneNumber's voice settings."""

    voice_url: str
    fallback_url: str = ""
    status_callback: str = ""
    voice_method: str = "POST"
    fallback_method: str = "POST"
    status_method: str = "POST"


class Engine(Webhooks):
    """Twilio for one account: numbers, calls, queues, one clock.

    ``call()`` schedules an inbound call (now or ``at``), ``outbound()`` is calls.create,
    ``hangup()``/``redirect()`` are what a person or calls.update does to a live call, ``run()``
    advances time until every call has ended (or ``until``). Who is on each leg is an ``Actor``;
    what dialled numbers do is ``lines`` (number -> ``Answer`` or ``Actor``).
    """

    def __init__(self, transport: Transport, *, auth_token: str, account_sid: str,
                 clock: Clock | None = None, fidelity: Fidelity | None = None) -> None:
        self.transport = transport
        self.auth_token = auth_token
        self.account_sid = account_sid
        self.clock = clock or VirtualClock()
        self.fidelity = fidelity or Fidelity()
        self.validator = RequestValidator(auth_token)
        self.numbers: dict[str, NumberConfig] = {}
        self.lines: dict[str, Answer | Actor] = {}  # who answers when a number is dialled
        self.default_line = Answer()
        self.queues = Queues(self)
        self.legs: dict[str, Leg] = {}
        self.listeners: list[Callable[[Leg, Notice], None]] = []
        self.after_request: list[Callable[[], None]] = []
        self.requests: list[Logged] = []
        self.recordings: dict[str, float] = {}  # RecordingSid -> seconds
        self.recording_info: dict[str, dict] = {}  # RecordingSid -> facts REST lists
        self.rest: Any = None  # the REST stand-in serving this engine, if any
        self.keep_requests = True  # every request in ``requests`` (switch off for long runs)

    # -- setting up and starting calls ---------------------------------------------------------
    @property
    def now(self) -> float:
        return self.clock.now

    def add_number(self, number: str, voice_url: str, **settings: str) -> None:
        self.numbers[number] = NumberConfig(voice_url, **settings)

    def call(self, from_: str, to: str, actor: Actor | None = None, *, at: float | None = None,
             sid: str | None = None) -> Leg:
        """A call arriving at one of our numbers, now or at ``at`` (epoch seconds)."""
        number = self.numbers.get(to)
        if number is None:
            raise ValueError(f"{to} is not one of the engine's numbers {sorted(self.numbers)}")
        leg = self.new_leg(from_, to, "inbound", actor, sid, status="ringing")
        leg.voice_url, leg.voice_method = number.voice_url, number.voice_method
        leg.fallback_url, leg.fallback_method = number.fallback_url, number.fallback_method
        leg.status_callback, leg.status_method = number.status_callback, number.status_method
        self.clock.at(self.now if at is None else at, self._start, leg,
                      Next(number.voice_url, number.voice_method))
        return leg

    def outbound(self, to: str, from_: str, url: str = "", *, method: str = "POST",
                 twiml: str | None = None,
                 status_callback: str = "", status_events: frozenset[str] = frozenset(),
                 status_method: str = "POST", fallback_url: str = "", timeout: float = 60,
                 actor: Actor | None = None) -> Leg:
        """A call made with calls.create: ring ``to``; when answered, ``url`` drives it."""
        leg = self.new_leg(from_, to, "outbound-api", actor, None, status="queued")
        leg.actor = actor or self.answerer(to)
        leg.voice_url, leg.voice_method, leg.fallback_url = url, method, fallback_url
        leg.inline_twiml = twiml
        leg.status_callback, leg.status_method = status_callback, status_method
        leg.status_events = status_events or frozenset({"completed"})
        self.clock.at(self.now, self._ring_out, leg, timeout)
        return leg

    def new_leg(self, from_: str, to: str, direction: str, actor: Actor | None,
                sid: str | None, *, status: str, parent: Leg | None = None) -> Leg:
        leg = Leg(sid or new_sid("CA"), self.account_sid, from_, to, direction,
                  actor or Actor(), parent=parent, status=status, created_at=self.now)
        self.legs[leg.sid] = leg
        return leg

    def _start(self, leg: Leg, first: Next) -> None:
        leg.created_at = self.now
        leg.process = self.clock.spawn(self._lifecycle(leg, first), leg.sid)

    def answerer(self, number: str) -> Actor:
        """Who picks up when ``number`` is called (``lines``, else the default line)."""
        line = self.lines.get(number, self.default_line)
        return line if isinstance(line, Actor) else Line(line)

    def _ring_out(self, leg: Leg, timeout: float) -> None:
        if isinstance(leg.actor, Line) and leg.to in self.lines:  # decided when it rings
            leg.actor = self.answerer(leg.to)
        leg.process = self.clock.spawn(ring(self, leg, timeout), leg.sid)

    def hangup(self, leg: Leg, reason: str = "caller") -> None:
        """The person on ``leg`` hangs up (or REST ``status=completed``)."""
        if not leg.live:
            return
        if leg.process is not None and leg.process.alive:
            leg.process.interrupt(HangUp(reason))
        else:
            self.hung_up(leg)
            self.finish(leg)

    def redirect(self, leg: Leg, url: str, method: str = "POST", twiml: str | None = None) -> None:
        """calls.update(url=...): whatever the leg is doing, ``url`` drives it now."""
        if leg.live and leg.process is not None:
            leg.process.interrupt(Redirected(url, method, twiml))

    def run(self, until: float | None = None) -> None:
        """Run the simulation up to ``until`` or until every call has ended."""
        self.clock.begin()
        try:
            with fewer_collections():  # a run makes many short-lived objects: ivr.sim.collector
                self.clock.run(until)
        finally:
            self.clock.end()

    def run_for(self, seconds: float) -> None:
        self.run(self.now + seconds)

    def notify(self, leg: Leg, kind: str, text: str = "", **data: Any) -> None:
        notice = leg.note(self.now, kind, text, **data)
        for listener in self.listeners:
            listener(leg, notice)

    def run_document(self, leg: Leg, doc: Doc, context: str = "call") -> Generator[Any, Any, Any]:
        """Run a TwiML document on ``leg``: the verbs interpreter, reached through the engine
        by ``dial`` and ``queues`` for nested documents (a whisper, a waitUrl), so that they
        need not import the interpreter that runs them."""
        return run_document(self, leg, doc, context)

    # -- a leg's life ------------------------------------------------------------------------
    def _lifecycle(self, leg: Leg, first: Next) -> Generator[Any, Any, None]:
        nxt: Next | None = first
        status = "completed"
        while nxt is not None:
            try:
                doc = yield from self.fetch_or_fallback(leg, nxt)
                if doc is None:
                    self.answer(leg)  # Twilio answers to play its announcement
                    self.notify(leg, "error", self.fidelity.error_message)
                    yield self.speech_seconds(self.fidelity.error_message)
                    break
                result = yield from run_document(self, leg, doc)
            except Interrupt as stop:
                if isinstance(stop.cause, Redirected):
                    nxt = Next(stop.cause.url, stop.cause.method, twiml=stop.cause.twiml)
                    continue
                if not isinstance(stop.cause, HangUp):
                    raise
                self.hung_up(leg)
                break
            except CallEnded:
                break
            if isinstance(result, End):
                status = result.status
                break
            nxt = result
        self.finish(leg, status)

    def hung_up(self, leg: Leg) -> None:
        """The caller is gone: later requests about this call say ``completed``."""
        if leg.live:
            leg.status = "completed" if leg.answered_at is not None else "canceled"
            leg.ended_at = self.now

    def answer(self, leg: Leg) -> None:
        if leg.answered_at is None:
            leg.answered_at = self.now
            leg.status = "in-progress"

    def finish(self, leg: Leg, status: str = "completed") -> None:
        """End the leg: leave any queue or bridge, then the status callback (once)."""
        if leg.ended.fired:
            return
        if leg.live:
            leg.status, leg.ended_at = status, self.now
        if leg.member is not None:
            leg.member.queue.remove(leg.member)
        if leg.bridge is not None:
            leg.bridge.end(leg)
        self.notify(leg, "end", leg.status, duration=leg.duration())
        if leg.status_callback and "completed" in leg.status_events:
            self.status_callback(leg, leg.status)
        leg.ended.fire(leg)

    def status_callback(self, leg: Leg, event_status: str) -> None:
        params = {"Timestamp": rfc2822(self.now), "CallbackSource": "call-progress-events",
                  "SequenceNumber": str(leg.sequence), "CallStatus": event_status}
        leg.sequence += 1
        if event_status in FINAL:
            params["CallDuration"] = str(leg.duration())
            params["Duration"] = str(math.ceil(leg.duration() / 60))
        self.callback(leg, leg.status_callback, leg.status_method, params)

    # -- how long things take --------------------------------------------------------------
    def speech_seconds(self, text: str, rate: float | None = None) -> float:
        words = len(text.split())
        return max(0.5, words / (rate or self.fidelity.words_per_second)) if words else 0.0

    def play_seconds(self, url: str) -> float:
        from urllib.parse import urlsplit

        known = self.fidelity.play_seconds
        if url in known:
            return known[url]
        path = urlsplit(url).path
        return known.get(path, self.fidelity.default_play_seconds)

