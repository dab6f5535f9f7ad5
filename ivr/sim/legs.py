"""Call legs and the people on them: what a leg knows, hears and is asked to decide.

A ``Leg`` is one Twilio call (CallSid): the resident's inbound call, an agent's call to the agent
line, the payment line's leg of a ``<Dial>``. Whoever is on it is an ``Actor``: the engine asks
it what it does at each point Twilio would wait for a person (keys or words at a ``<Gather>``,
a message at a ``<Record>``, how long to hold, when to hang up), and tells it what it hears.
Scripted actors (``scenario``) and the person at the terminal (``ivr call``) implement it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ivr.sim.clock import Process, Signal

if TYPE_CHECKING:
    from ivr.sim.queues import Bridge, Member

FINAL = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


# -- what an actor decides ----------------------------------------------------------------------
@dataclass(frozen=True)
class Reply:
    """A person's answer to a ``<Gather>``: keys, words, nothing, or hanging up."""

    digits: str = ""
    speech: str = ""
    hangup: bool = False
    after: float | None = None  # seconds from the start of the Gather (None: after the prompt)
    confidence: float = 0.92


SILENCE = Reply()


@dataclass(frozen=True)
class Message:
    """What a person does at a ``<Record>`` beep: speak (words or seconds), then end it."""

    words: str = ""
    seconds: float | None = None  # overrides the time the words take
    finish_key: str | None = "#"  # None: stop talking and let the silence timeout end it
    hangup: bool = False  # hang up after speaking instead of pressing a key


@dataclass(frozen=True)
class Answer:
    """How a called party answers: after ``ring`` seconds, or busy / no-answer / failed."""

    status: str = "answered"
    ring: float = 5.0
    talk: float | None = 60.0  # once connected, seconds until this party hangs up


@dataclass(frozen=True)
class GatherPrompt:
    action: str
    input: frozenset[str]
    timeout: float
    num_digits: int | None
    finish_on_key: str
    heard: tuple[str, ...]  # what was said since the last time the person was asked


@dataclass(frozen=True)
class RecordPrompt:
    action: str
    max_length: float
    timeout: float
    finish_on_key: str
    heard: tuple[str, ...]


@dataclass(frozen=True)
class Notice:
    """Something that happened on a leg, as the person (or a log) would describe it."""

    at: float
    kind: str  # say, play, pause, beep, press, speak, silence, queue, dial, bridge, error, end...
    text: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class Actor:
    """The default person: silent, patient, talks for a minute, answers after 5 s rings."""

    def notice(self, leg: Leg, notice: Notice) -> None:
        """Told everything heard or done on the leg (for display)."""

    def barge_in(self, leg: Leg, prompt: GatherPrompt) -> Reply | None:
        """Asked as the prompt starts: a reply with ``after`` set interrupts it (else None)."""
        return None

    def awaiting(self, leg: Leg, prompt: GatherPrompt | RecordPrompt) -> Signal | None:
        """Asked once a prompt has been heard: a ``Signal`` the leg waits for (at most the
        Gather's timeout, the Record's length) before ``gather``/``record`` is asked, for a
        person answering from elsewhere in real time; None (answer at once) by default."""
        return None

    def gather(self, leg: Leg, prompt: GatherPrompt) -> Reply:
        """Asked once the prompt has been heard: keys, words, silence or hanging up."""
        return SILENCE

    def record(self, leg: Leg, prompt: RecordPrompt) -> Message:
        return Message(seconds=0.0, finish_key=None)

    def hold(self, leg: Leg, waited: float) -> float | None:
        """Seconds more this caller will hold in a queue (<= 0: hang up now; None: forever)."""
        return None

    def talk(self, leg: Leg) -> float | None:
        """Once bridged, seconds until this party hangs up (None: waits for the other)."""
        return 60.0

    def star(self, leg: Leg) -> float | None:
        """In a ``<Dial hangupOnStar>`` this party placed, seconds into the conversation at
        which they press * to end it and stay on the line (None: never)."""
        return None

    def answer(self, leg: Leg) -> Answer:
        return Answer()


class Line(Actor):
    """A called party described only by how it answers (the payment line, a resident)."""

    def __init__(self, answer: Answer) -> None:
        self._answer = answer

    def answer(self, leg: Leg) -> Answer:
        return self._answer

    def talk(self, leg: Leg) -> float | None:
        return self._answer.talk


# -- why a waiting leg is interrupted -----------------------------------------------------------
@dataclass(frozen=True)
class HangUp:
    reason: str = "caller"


@dataclass(frozen=True)
class Dequeued:
    dequeuer: Leg
    url: str | None
    method: str
    bridge: Bridge


@dataclass(frozen=True)
class Redirected:
    """calls.update(url=...) or a queue member update: this URL now drives the call."""

    url: str
    method: str = "POST"
    twiml: str | None = None


class CallEnded(Exception):
    """Unwinds a leg once its hang-up has been handled (action requests made)."""


# -- what a verb tells the interpreter ----------------------------------------------------------
@dataclass(frozen=True)
class Next:
    """Fetch this URL next and let its document drive the call."""

    url: str
    method: str = "POST"
    params: dict[str, str] = field(default_factory=dict)
    twiml: str | None = None  # inline TwiML (calls.create/update ``twiml=``) instead of a fetch


class End:
    """The call ends here (``<Hangup>``, ``<Reject>``, the document ran out)."""

    def __init__(self, status: str = "completed") -> None:
        self.status = status


@dataclass(eq=False)
class Leg:
    """One call leg with Twilio's view of it."""

    sid: str
    account_sid: str
    from_: str
    to: str
    direction: str  # inbound, outbound-api, outbound-dial
    actor: Actor
    parent: Leg | None = None
    status: str = "ringing"
    created_at: float = 0.0
    answered_at: float | None = None
    ended_at: float | None = None
    voice_url: str = ""
    voice_method: str = "POST"
    inline_twiml: str | None = None
    fallback_url: str = ""
    fallback_method: str = "POST"
    status_callback: str = ""
    status_method: str = "POST"
    status_events: frozenset[str] = frozenset({"completed"})
    sequence: int = 0
    requests: int = 0
    process: Process | None = None
    member: Member | None = None
    bridge: Bridge | None = None
    ended: Signal = field(default_factory=Signal)
    notices: list[Notice] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    heard_since_input: list[str] = field(default_factory=list)

    @property
    def live(self) -> bool:
        return self.status not in FINAL

    def standard(self) -> dict[str, str]:
        """The parameters Twilio sends on every request about this call (twilio.md §1.2)."""
        params = {
            "CallSid": self.sid, "AccountSid": self.account_sid, "From": self.from_,
            "To": self.to, "CallStatus": self.status, "ApiVersion": "2010-04-01",
            "Direction": self.direction, "Caller": self.from_, "Called": self.to,
            "FromCountry": _country(self.from_), "ToCountry": _country(self.to),
            "CallerCountry": _country(self.from_), "CalledCountry": _country(self.to),
            "FromCity": "", "FromState": "", "FromZip": "",
            "ToCity": "", "ToState": "", "ToZip": "",
        }
        if self.parent is not None:
            params["ParentCallSid"] = self.parent.sid
        return params

    def note(self, at: float, kind: str, text: str = "", **data: Any) -> Notice:
        notice = Notice(at, kind, text, data)
        self.notices.append(notice)
        if kind == "say":
            self.heard_since_input.append(text)
        self.actor.notice(self, notice)
        return notice

    @property
    def said(self) -> list[str]:
        """Every ``<Say>`` this leg heard, in order."""
        return [n.text for n in self.notices if n.kind == "say"]

    @property
    def transcript(self) -> str:
        return " ".join(self.said)

    def duration(self) -> int:
        if self.answered_at is None or self.ended_at is None:
            return 0
        return int(self.ended_at - self.answered_at + 0.5)


def _country(number: str) -> str:
    return "GB" if number.startswith("+44") else ("US" if number.startswith("+1") else "")
