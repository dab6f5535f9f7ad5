"""Next week's calls per weekday and half hour, from the last N weeks of the same.

The method: for each weekday and half hour, the mean of the counts on the same weekday over
the last ``weeks`` weeks, over the days the centre took calls (a bank holiday or closure
day, with no queued caller at all, is left out rather than counted as a quiet day), with its
standard error. This is the seasonal-average benchmark of forecasting texts (Hyndman &
Athanasopoulos, *Forecasting: Principles and Practice*, "simple forecasting methods"). A
fitted model (statsmodels' Holt-Winters, say) was considered and not used: with a handful
of weeks of half-hourly counts, a weekly season of 5 x 16+ slots has more seasonal
parameters than weeks to estimate them, and its extra machinery buys nothing the planner
can check; the mean of the same slot is explainable in one sentence and its spread is shown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class SlotForecast:
    weekday: int  # 0 Monday
    slot: int  # half hours from midnight
    calls: float  # mean callers queued in this half hour
    stderr: float | None  # standard error of that mean (None: one day only)
    days: int  # days it is the mean of


def window(until: date, weeks: int) -> tuple[date, date]:
    """The ``weeks`` whole weeks before ``until`` (first day, day after the last)."""
    return until - timedelta(days=7 * weeks), until


def forecast(counts: dict[date, dict[int, int]], until: date, weeks: int,
             ) -> dict[tuple[int, int], SlotForecast]:
    """Per (weekday, half hour): the mean of the counts over the days in the last ``weeks``
    weeks before ``until`` that had any queued caller."""
    first, last = window(until, weeks)
    days = sorted(d for d, slots in counts.items() if first <= d < last and sum(slots.values()))
    out: dict[tuple[int, int], SlotForecast] = {}
    for weekday in range(7):
        same = [d for d in days if d.weekday() == weekday]
        slots = sorted({s for d in same for s in counts[d]})
        for slot in slots:
            values = [counts[d].get(slot, 0) for d in same]
            mean = sum(values) / len(values)
            stderr = (math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)
                                / len(values)) if len(values) > 1 else None)
            out[(weekday, slot)] = SlotForecast(weekday, slot, mean, stderr, len(values))
    return out
