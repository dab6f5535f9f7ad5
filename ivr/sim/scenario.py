"""Scripted people for simulations and tests: residents who call, advisors on the agent line.

A ``Caller`` answers each ``<Gather>`` with the next of its steps (keys, words, silence, hang
up), then stays silent; holds in a queue for ``patience`` seconds; leaves ``message`` at a
``<Record>`` beep; talks for ``talk_seconds`` once through to an advisor. An ``Agent`` works the
agent line the way an advisor does: signs in (keys agent number and PIN, or only the PIN when
the line recognises their phone), takes the next caller when the menu says some are waiting,
completes wrap-up, takes its ``breaks`` (the break key, then the same key to come back), and
signs out after ``calls`` callers or at ``until``. Both are plain data, so a simulation can
draw their numbers from distributions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

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


def press(digits: str, after: float | None = None) -> Reply:
    return Reply(digits=digits, after=after)


def say(words: str, confidence: float = 0.92) -> Reply:
    return Reply(speech=words, confidence=confidence)


def hang_up() -> Reply:
    return Reply(hangup=True)


def steps(script: str) -> list[Reply]:
    """``"2 - 01206123456# hangup"``: keys per prompt; ``-`` silence; ``hangup``; ``'words'``
    in quotes (no spaces inside: use ``_``) are spoken, e.g. ``'council_tax'``."""
    out: list[Reply] = []
    for token in script.replace(",", " ").split():
        if token == "-":
            out.append(SILENCE)
        elif token.lower() == "hangup":
            out.append(hang_up())
        elif token[0] in "'\"" and token[-1] == token[0] and len(token) > 1:
            out.append(say(token[1:-1].replace("_", " ")))
        else:
            out.append(press(token))
    return out


@dataclass
class Caller(Actor):
    """A resident with a plan for this call."""

    script: list[Reply] = field(default_factory=list)
    patience: float | None = None  # seconds they will hold in a queue (None: as long as it takes)
    talk_seconds: float | None = 60.0  # conversation with the advisor, then they hang up
    message: Message = field(default_factory=lambda: Message(
        "Hello, it's about my council tax bill. Please call me back. Thank you."))
    answers: Answer = field(default_factory=Answer)  # when called back (talk: talk_seconds)
    heard: list[Notice] = field(default_factory=list)

    def notice(self, leg: Leg, notice: Notice) -> None:
        self.heard.append(notice)

    def barge_in(self, leg: Leg, prompt: GatherPrompt) -> Reply | None:
        if self.script and self.script[0].after is not None:
            return self.script.pop(0)
        return None

    def gather(self, leg: Leg, prompt: GatherPrompt) -> Reply:
        return self.script.pop(0) if self.script else SILENCE

    def record(self, leg: Leg, prompt: RecordPrompt) -> Message:
        return self.message

    def hold(self, leg: Leg, waited: float) -> float | None:
        return None if self.patience is None else self.patience - waited

    def talk(self, leg: Leg) -> float | None:
        return self.talk_seconds

    def answer(self, leg: Leg) -> Answer:
        return self.answers


@dataclass
class Agent(Actor):
    """An advisor on the agent line: keys ``pin`` (and ``agent_id`` when the line does not
    recognise their phone)."""

    agent_id: str = ""
    pin: str = ""
    calls: int | None = None  # sign out after this many callers
    until: float | None = None  # sign out at the first menu after this time (epoch seconds)
    wrap_up: str = "1"  # 1 resolved, 2 follow-up
    handle: float | None = None  # hang up the line this long into a conversation (None: caller)
    callback_choice: str = "2"  # at a callback offered: 1 call now, 2 skip
    waiting_marker: str = "callers waiting"  # the menu's words when callers wait
    press_after: float | None = 3.0  # press 1 this long into the menu (None: hear it all)
    # A practised advisor keys their agent number and PIN this long into the line's prompts
    # (None: after hearing them out; with ``press_after`` None, every prompt is heard out).
    sign_in_after: float | None = 0.5
    answers: Answer = field(default_factory=lambda: Answer(ring=3.0, talk=None))
    breaks: list[tuple[float, float]] = field(default_factory=list)  # (from, seconds), in order
    break_key: str = "3"
    break_marker: str = "on a break"  # the menu's words while on a break
    taken: int = 0
    last_heard_at: float = 0.0
    break_until: float | None = None  # the break in progress ends then (once the menu says so)
    heard: list[Notice] = field(default_factory=list)

    def notice(self, leg: Leg, notice: Notice) -> None:
        self.heard.append(notice)
        self.last_heard_at = notice.at
        if notice.kind == "bridge":
            self.taken += 1

    def finished(self) -> bool:
        return (self.calls is not None and self.taken >= self.calls) or (
            self.until is not None and self.last_heard_at >= self.until)

    def barge_in(self, leg: Leg, prompt: GatherPrompt) -> Reply | None:
        if self.press_after is None:  # hears every prompt out (and decides once, after it)
            return None
        reply = self.gather(leg, prompt)
        return reply if reply.after is not None else None

    def gather(self, leg: Leg, prompt: GatherPrompt) -> Reply:
        path = urlsplit(prompt.action).path
        if path.endswith("/agent/login/number"):
            return press(self.agent_id, after=self.sign_in_after)
        if path.endswith("/agent/login/pin"):
            return press(self.pin + "#", after=self.sign_in_after)
        if path.endswith("/agent/wrap-up"):
            return press(self.wrap_up)
        if path.endswith("/agent/callback/choice"):
            return press(self.callback_choice)
        if path.endswith("/agent/menu/choice"):
            return self.menu_choice(prompt)
        return SILENCE

    def menu_choice(self, prompt: GatherPrompt) -> Reply:
        """Sign out when done; else go on or come back from a break when due (a break starts
        when the menu next comes round after its time, as after a call, and lasts its full
        length from then); else take a caller if any wait."""
        if self.finished():
            return press("9")
        if any(self.break_marker in text for text in prompt.heard):
            return self.on_break()
        if self.breaks and self.last_heard_at >= self.breaks[0][0]:
            return press(self.break_key, after=self.press_after)  # again if not heard
        if any(self.waiting_marker in text for text in prompt.heard):
            return press("1", after=self.press_after)
        return SILENCE

    def on_break(self) -> Reply:
        """The menu says this advisor is on a break: time it from the key press (a break the
        app did not take, e.g. a caller offered at that moment, is asked for again)."""
        if self.break_until is None and self.breaks:
            self.break_until = self.last_heard_at + self.breaks.pop(0)[1]
        if self.break_until is None or self.last_heard_at >= self.break_until:
            self.break_until = None
            return press(self.break_key, after=self.press_after)
        return SILENCE

    def talk(self, leg: Leg) -> float | None:
        return self.handle

    def answer(self, leg: Leg) -> Answer:
        return self.answers
