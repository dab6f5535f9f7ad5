"""Advisors per half hour for a target, by Erlang C and by Erlang A with the cut-off.

Each half hour is treated as its own steady state (the usual staffing practice): its
forecast calls over 1,800 s are the arrival rate, times the measured handle time the offered
load in Erlangs. Erlang C keeps every caller waiting until answered; Erlang A lets them give
up (measured mean patience) and takes those still waiting at the limit to voicemail, as the
app does, so it needs fewer advisors for the same service level and can also be held to an
abandonment and a voicemail target.
"""

from __future__ import annotations

from dataclasses import dataclass

from ivr import erlang
from ivr.staffing.measure import SLOT_SECONDS


@dataclass(frozen=True)
class Target:
    service_level: float  # share answered within ``limit`` seconds
    limit: int
    max_abandoned: float | None = None  # share of callers offered
    max_voicemail: float | None = None


@dataclass(frozen=True)
class SlotPlan:
    slot: int
    calls: float
    erlangs: float
    erlang_c: int  # advisors by Erlang C
    erlang_c_sl: float  # Erlang C's service level at that staffing
    erlang_a: int  # advisors by Erlang A with the cut-off
    a: erlang.QueueFigures  # Erlang A's figures at that staffing
    a_at_c: erlang.QueueFigures | None  # Erlang A's figures at Erlang C's staffing


def plan_slot(slot: int, calls: float, aht: float, patience: float | None,
              target: Target) -> SlotPlan:
    """Both models' advisors for ``calls`` callers in one half hour."""
    load = erlang.erlangs(calls * 3600 / SLOT_SECONDS, aht)
    c = erlang.agents_for(target.service_level, target.limit, load, aht)
    a = erlang.agents_for_a(target.service_level, target.limit, load, aht, patience,
                            target.limit, max_abandoned=target.max_abandoned,
                            max_voicemail=target.max_voicemail)
    c_sl = erlang.service_level(c, load, target.limit, aht) if c else 1.0

    def figures(n: int) -> erlang.QueueFigures:
        if n == 0:
            return erlang.QueueFigures(1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, target.limit)
        return erlang.erlang_a(n, load, aht, patience, target.limit, target.limit)

    return SlotPlan(slot, calls, load, c, c_sl, a, figures(a), figures(c) if c else None)


def plan_day(calls: dict[int, float], aht: float, patience: float | None,
             target: Target) -> list[SlotPlan]:
    """A plan for each half hour with calls forecast, in order."""
    return [plan_slot(slot, n, aht, patience, target) for slot, n in sorted(calls.items())
            if n > 0]


def clock(slot: int) -> str:
    minutes = slot * SLOT_SECONDS // 60
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def by_hour(plans: list[SlotPlan]) -> dict[int, int]:
    """Erlang A's advisors per hour (the busier half hour), for a simulation staffed by hour."""
    out: dict[int, int] = {}
    for p in plans:
        hour = p.slot * SLOT_SECONDS // 3600
        out[hour] = max(out.get(hour, 0), p.erlang_a)
    return out
