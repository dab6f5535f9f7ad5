"""Each advisor's day, from the same facts as the report: calls answered, handle time,
occupancy, first-contact resolution and callbacks made.

Definitions (as contact-centre tools use them):

* **Calls**: queued callers the advisor answered (CONNECT naming them).
* **Average handle time (AHT)**: time on a call and in wrap-up, divided by the calls handled
  (queued callers answered plus callbacks answered through the console or phone dial). Time
  comes from AGENTSTATE (each change says how long the previous state lasted), plus the
  current state's stretch so far.
* **Occupancy**: time on a call or in wrap-up / (that + time available). Breaks and signed-out
  time are not in it.
* **FCR**: wrap-ups marked "resolved" / wrap-ups.
* **Callbacks made**: callback attempts logged today (CALLBACKATTEMPT), by dial or by hand.

Pure: no I/O, no clock; the window is ``[start, now]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ivr.report.facts import Facts

BUSY = frozenset({"on_call", "wrap_up"})
IDLE = frozenset({"available"})


@dataclass(frozen=True)
class AdvisorDay:
    agent: str
    calls: int = 0
    busy_seconds: float = 0.0  # on a call or in wrap-up
    idle_seconds: float = 0.0  # available
    wrapups: int = 0
    resolved: int = 0
    callbacks: int = 0
    callbacks_answered: int = 0  # by a dial, not recorded by hand

    @property
    def handled(self) -> int:
        return self.calls + self.callbacks_answered

    @property
    def handle_time(self) -> float | None:
        return self.busy_seconds / self.handled if self.handled else None

    @property
    def occupancy(self) -> float | None:
        staffed = self.busy_seconds + self.idle_seconds
        return self.busy_seconds / staffed if staffed > 0 else None

    @property
    def fcr(self) -> float | None:
        return self.resolved / self.wrapups if self.wrapups else None


def _overlap(begin: float, end: float, start: float, now: float) -> float:
    return max(0.0, min(end, now) - max(begin, start))


def advisor_days(facts: Facts, start: float, now: float,
                 current: Mapping[str, tuple[str, float]] | None = None,
                 advisors: Iterable[str] = ()) -> dict[str, AdvisorDay]:
    """Per advisor id: their figures for ``[start, now]``. ``current``: advisor -> (state,
    since) now, so the stretch not yet ended counts; ``advisors`` are listed even with
    nothing today."""
    counts: dict[str, dict[str, float]] = {a: {} for a in advisors}

    def add(agent: str, name: str, value: float = 1) -> None:
        if agent:
            row = counts.setdefault(agent, {})
            row[name] = row.get(name, 0) + value

    for v in facts.visits:
        if v.outcome == "answered" and start <= v.ts + (v.wait or 0) <= now:
            add(v.agent, "calls")
    stretches = [(t.agent, t.state, t.began, t.ts) for t in facts.agent_time]
    stretches += [(a, state, since, now) for a, (state, since) in (current or {}).items()]
    for agent, state, began, ended in stretches:
        seconds = _overlap(began, ended, start, now)
        if state in BUSY:
            add(agent, "busy_seconds", seconds)
        elif state in IDLE:
            add(agent, "idle_seconds", seconds)
    for w in facts.wrapups:
        if start <= w.ts <= now:
            add(w.agent, "wrapups")
            if w.resolved:
                add(w.agent, "resolved")
    for c in facts.callback_calls:
        if start <= c.ts <= now:
            add(c.agent, "callbacks")
            if c.outcome == "answered" and not c.manual:
                add(c.agent, "callbacks_answered")
    return {agent: AdvisorDay(
        agent, calls=int(row.get("calls", 0)), busy_seconds=row.get("busy_seconds", 0.0),
        idle_seconds=row.get("idle_seconds", 0.0), wrapups=int(row.get("wrapups", 0)),
        resolved=int(row.get("resolved", 0)), callbacks=int(row.get("callbacks", 0)),
        callbacks_answered=int(row.get("callbacks_answered", 0)))
        for agent, row in counts.items()}
