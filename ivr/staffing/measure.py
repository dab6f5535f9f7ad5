"""What callers and advisors did, measured from the call events (``ivr.events``).

* **Arrivals**: callers joining a department queue (ENTERQUEUE), counted per local date and
  half hour: the load the advisors see (callers who chose the payment line or online help
  never reach them).
* **Handle time**: an advisor's time per answered caller, as the queue experiences it: from
  taking a caller (AGENTSTATE ``on_call``, reason ``taking ...``) until available again,
  wrap-up included (AGENTSTATE ``wrap_up`` then ``available``, or a break or sign-out),
  over the callers answered (CONNECT). Split into talk (COMPLETECALLER's ``duration``, the
  bridge's DialCallDuration; the app has no hold on the bridge, so any hold is inside it),
  wrap-up (time in ``wrap_up``) and set-up (the rest: the whisper, the ring, the introduction,
  and takes that found the caller gone).
* **Patience**: exponential, estimated from censored waits: the abandonment rate is abandons
  over the total time every queued caller waited (answered and timed-out callers' waits are
  censored: they would have waited longer). This is the maximum-likelihood estimate for
  exponential patience; its mean is the reciprocal.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ivr.events import Event
from ivr.report.facts import collect

SLOT_SECONDS = 1800  # half an hour


@dataclass(frozen=True)
class Handling:
    """Mean seconds per answered caller, and how many callers they are measured over."""

    answered: int
    handle: float | None  # set-up + talk + wrap-up
    talk: float | None
    wrap_up: float | None
    setup: float | None


@dataclass(frozen=True)
class Patience:
    abandoned: int
    waited_seconds: float  # total time queued by every caller who left the queue
    queued: int

    @property
    def mean(self) -> float | None:
        """Mean patience in seconds (None: nobody abandoned, it cannot be told apart from
        infinite patience)."""
        return self.waited_seconds / self.abandoned if self.abandoned else None


@dataclass(frozen=True)
class Measured:
    """Calls per (local date, half-hour slot) and the rates behind them."""

    counts: dict[date, dict[int, int]] = field(default_factory=dict)  # slot: 0 = 00:00-00:30
    handling: Handling = Handling(0, None, None, None, None)
    patience: Patience = Patience(0, 0.0, 0)
    answered_within: int = 0  # for the period measured, beside the offered total
    offered: int = 0


def slot_of(ts: float, tz: ZoneInfo) -> tuple[date, int]:
    local = datetime.fromtimestamp(ts, tz)
    return local.date(), (local.hour * 3600 + local.minute * 60) // SLOT_SECONDS


def measure(events: list[dict[str, Any]], tz: ZoneInfo, limit: int) -> Measured:
    """Arrivals per local date and half hour, handle time and patience from decoded events
    (``ivr.events.decode``), for the centre as a whole (its advisors serve every queue)."""
    visits = collect(events).visits
    counts: dict[date, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for v in visits:
        day, slot = slot_of(v.ts, tz)
        counts[day][slot] += 1
    left = [v for v in visits if v.outcome and v.wait is not None]
    patience = Patience(sum(v.outcome == "abandoned" for v in left),
                        float(sum(v.wait or 0 for v in left)), len(left))
    return Measured({d: dict(s) for d, s in counts.items()}, handling(events), patience,
                    sum(v.outcome == "answered" and (v.wait or 0) <= limit for v in left),
                    len(visits))


def handling(events: list[dict[str, Any]]) -> Handling:
    """Advisor time per answered caller (see the module docstring)."""
    taken: dict[str, float] = {}  # agent -> when they took a caller
    wrapping: dict[str, float] = {}  # agent -> when their wrap-up of a queued caller began
    busy = talk = wrap = 0.0
    talks = answered = 0
    for e in sorted(events, key=lambda e: e["ts"]):
        data, kind = e.get("data") or {}, e["event"]
        if kind == Event.CONNECT:
            answered += 1
        elif kind == Event.COMPLETE_CALLER:
            talk += float(data.get("duration") or 0)
            talks += 1
        if kind != Event.AGENT_STATE:
            continue
        agent, state, ts = str(data.get("agent", "")), data.get("state"), e["ts"]
        if agent in wrapping:
            span = ts - wrapping.pop(agent)
            wrap += span
            busy += span
        if agent in taken and state != "on_call":
            busy += ts - taken.pop(agent)
        if state == "on_call" and str(data.get("reason", "")).startswith("taking"):
            taken.setdefault(agent, ts)
        elif state == "wrap_up" and str(data.get("reason", "")) == "call ended":
            wrapping[agent] = ts
    if not answered:
        return Handling(0, None, None, None, None)
    mean_talk = talk / talks if talks else None
    mean_wrap = wrap / answered
    handle = busy / answered
    return Handling(answered, handle, mean_talk, mean_wrap,
                    handle - mean_wrap - (mean_talk or 0.0))
