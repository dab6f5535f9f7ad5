"""The plan as text: the measured rates, the target, and a table per day (also the HTML
page's tables, so the chart's text alternative says exactly what the text output does)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ivr.staffing.recommend import SlotPlan, Target, by_hour, clock


@dataclass
class DayPlan:
    title: str  # "Monday", or the profile's name
    note: str  # what the forecast is the mean of
    plans: list[SlotPlan]
    simulated: dict[int, tuple[float | None, float, float, int]] = field(default_factory=dict)
    # hour -> (service level, abandoned share, voicemail share, callers offered)


@dataclass
class Plan:
    source: str
    measured: list[str]
    target: Target
    aht: float
    patience: float | None
    days: list[DayPlan]


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def target_text(t: Any) -> str:
    parts = [f"{100 * t.service_level:g}% answered within {t.limit} s"]
    if t.max_abandoned is not None:
        parts.append(f"at most {100 * t.max_abandoned:g}% hanging up")
    if t.max_voicemail is not None:
        parts.append(f"at most {100 * t.max_voicemail:g}% to voicemail")
    return ", ".join(parts)


HEADER = ("time", "calls", "Erlangs", "Erlang C advisors", "its SL", "Erlang A advisors",
          "its SL", "hung up", "voicemail")


def rows(day: DayPlan) -> list[tuple[str, ...]]:
    """The table of one day, as text cells (the text output and the HTML table)."""
    return [(clock(p.slot), f"{p.calls:.1f}", f"{p.erlangs:.2f}", str(p.erlang_c),
             pct(p.erlang_c_sl), str(p.erlang_a), pct(p.a.answered_within),
             pct(p.a.abandoned), pct(p.a.voicemail)) for p in day.plans]


def sim_rows(day: DayPlan) -> list[tuple[str, ...]]:
    staffing = by_hour(day.plans)
    return [(f"{h:02d}:00", str(n), str(staffing.get(h, 0)), pct(sl), pct(ab), pct(vm))
            for h, (sl, ab, vm, n) in sorted(day.simulated.items())]


SIM_HEADER = ("hour", "offered", "advisors", "SL", "hung up", "voicemail")


def render_text(plan: Plan) -> list[str]:
    lines = [f"Staffing plan from {plan.source}", *("  " + m for m in plan.measured),
             f"Target: {target_text(plan.target)}",
             "Erlang C: nobody hangs up, no limit. Erlang A: callers hang up (mean patience "
             + ("infinite" if plan.patience is None else f"{plan.patience:.0f} s")
             + f") and those still waiting at {plan.target.limit} s go to voicemail; its "
             "figures are at its own staffing."]
    for day in plan.days:
        table = [HEADER, *rows(day)]
        widths = [max(len(r[i]) for r in table) for i in range(len(HEADER))]
        lines += ["", f"{day.title} ({day.note})"]
        lines += ["  " + "  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True))
                  for r in table]
        a_hours = sum(p.erlang_a for p in day.plans) / 2
        c_hours = sum(p.erlang_c for p in day.plans) / 2
        lines.append(f"  advisor-hours: Erlang C {c_hours:g}, Erlang A {a_hours:g}")
        if day.simulated:
            sim = [SIM_HEADER, *sim_rows(day)]
            widths = [max(len(r[i]) for r in sim) for i in range(len(SIM_HEADER))]
            lines.append("  simulated through the webhooks, staffed per hour by Erlang A:")
            lines += ["    " + "  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True))
                      for r in sim]
    return lines


