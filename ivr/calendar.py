"""Opening hours, bank holidays and callback deadlines for the contact centre.

Pure: no I/O and no clock. Every function is given the date or time it reasons
about, so call flows and tests decide what "now" is. Wall-clock hours are in
``OpeningHours.tz`` (Europe/London); instants handed back are aware UTC datetimes.

Closures come in two kinds, both plain data on ``OpeningHours``: whole days (``closures``: the
baseline from ``config.yaml`` joined by the supervisors' live ones, ``with_closures``), which
are not working days, so callbacks move past them; and spans of time (``closed_spans``: "closed
12:00 to 14:00 today", an emergency), during which the lines are closed but the day still
counts as a working day.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

import holidays

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
# Longest run of non-working days we accept before calling the hours misconfigured.
MAX_SEARCH_DAYS = 60


@functools.cache
def _country_holidays(country: str, subdiv: str) -> holidays.HolidayBase:
    """One holidays object per (country, subdiv); it adds years lazily on lookup."""
    return holidays.country_holidays(country, subdiv=subdiv)


@dataclass(frozen=True)
class OpeningHours:
    """When the lines are staffed: weekly wall-clock hours less bank holidays and closures."""

    weekly: Mapping[int, tuple[time, time] | None]
    closures: frozenset[date] = frozenset()
    tz: ZoneInfo = ZoneInfo("Europe/London")
    holiday_country: str = "GB"
    holiday_subdiv: str = "ENG"
    # Closed spans within days: (start, end) aware instants, start inclusive, end exclusive.
    closed_spans: tuple[tuple[datetime, datetime], ...] = ()

    def __post_init__(self) -> None:
        # Fail at config load, not mid-call, and keep the object truly read-only.
        for day, span in self.weekly.items():
            if day not in range(7):
                raise ValueError(f"weekly: day {day!r} is not a weekday number 0 (Mon) to 6 (Sun)")
            if span is not None and not span[0] < span[1]:
                raise ValueError(
                    f"weekly: {DAY_NAMES[day]} opens at {span[0]} but closes at {span[1]}; "
                    "the closing time must be later the same day"
                )
        object.__setattr__(self, "weekly", MappingProxyType(dict(self.weekly)))
        object.__setattr__(self, "closures", frozenset(self.closures))
        for start, end in self.closed_spans:
            if start.utcoffset() is None or end.utcoffset() is None or not start < end:
                raise ValueError(f"closed span {start} to {end}: aware instants, start first")
        object.__setattr__(self, "closed_spans", tuple(self.closed_spans))

    def bank_holidays(self) -> holidays.HolidayBase:
        """The shared, cached bank-holiday calendar for this country and subdivision."""
        return _country_holidays(self.holiday_country, self.holiday_subdiv)

    def hours_on(self, d: date) -> tuple[time, time] | None:
        """That weekday's normal (open, close), ignoring holidays; a missing day is closed."""
        return self.weekly.get(d.weekday())


def with_closures(hours: OpeningHours, days: Iterable[date] = (),
                  spans: Iterable[tuple[datetime, datetime]] = ()) -> OpeningHours:
    """``hours`` with more closures: whole ``days`` and closed ``spans`` (the live ones a
    supervisor set, ``ivr.controls``), so every decision below follows them."""
    days, spans = frozenset(days), tuple(spans)
    if not days and not spans:
        return hours
    return replace(hours, closures=hours.closures | days,
                   closed_spans=hours.closed_spans + spans)


def closed_span_at(at: datetime, hours: OpeningHours) -> tuple[datetime, datetime] | None:
    """The closed span ``at`` falls in, if any."""
    return next(((s, e) for s, e in hours.closed_spans if s <= at < e), None)


def is_bank_holiday(d: date, hours: OpeningHours) -> str | None:
    """The holiday's name (as the ``holidays`` package spells it), or None.

    A holiday falling at a weekend keeps its name on the weekend date too, although
    the bank holiday itself is the substitute weekday ("Boxing Day (observed)").
    """
    return hours.bank_holidays().get(d)


def _staffed(d: date, hours: OpeningHours) -> tuple[time, time] | None:
    """The (open, close) for ``d`` if it is a working day, else None."""
    if d in hours.closures or is_bank_holiday(d, hours) is not None:
        return None
    return hours.hours_on(d)


def is_working_day(d: date, hours: OpeningHours) -> bool:
    """True if the lines are staffed at some point on ``d``."""
    return _staffed(d, hours) is not None


def _local(at: datetime, hours: OpeningHours) -> datetime:
    if at.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got naive {at.isoformat()}")
    return at.astimezone(hours.tz)


def is_open(at: datetime, hours: OpeningHours) -> bool:
    """True if ``at`` (any timezone) is within opening hours, open inclusive, close exclusive."""
    local = _local(at, hours)
    span = _staffed(local.date(), hours)
    return (span is not None and span[0] <= local.time() < span[1]
            and closed_span_at(at, hours) is None)


def next_working_day(after: date, hours: OpeningHours) -> date:
    """The first working day strictly after ``after``."""
    for n in range(1, MAX_SEARCH_DAYS + 1):
        d = after + timedelta(days=n)
        if is_working_day(d, hours):
            return d
    raise ValueError(
        f"no working day in the {MAX_SEARCH_DAYS} days after {after.isoformat()}; "
        "check the weekly hours and closure dates in the config"
    )


def _wall_to_utc(d: date, hours: OpeningHours, index: int) -> datetime:
    span = _staffed(d, hours)
    if span is None:
        what = ("opening", "closing")[index]
        raise ValueError(f"{d.isoformat()} is not a working day, so it has no {what} time")
    return datetime.combine(d, span[index], tzinfo=hours.tz).astimezone(UTC)


def opening_time(d: date, hours: OpeningHours) -> datetime:
    """Opening on working day ``d`` as aware UTC (the offset follows GMT/BST)."""
    return _wall_to_utc(d, hours, 0)


def closing_time(d: date, hours: OpeningHours) -> datetime:
    """Closing on working day ``d`` as aware UTC (the offset follows GMT/BST)."""
    return _wall_to_utc(d, hours, 1)


def next_opening(at: datetime, hours: OpeningHours) -> datetime:
    """Today's opening if open now or not yet open today, else the next working day's."""
    local = _local(at, hours)
    today = local.date()
    span = _staffed(today, hours)
    if span is not None and local.time() < span[1]:
        return opening_time(today, hours)
    return opening_time(next_working_day(today, hours), hours)


@dataclass(frozen=True)
class CallbackWindow:
    """When a voicemail must be called back: during ``callback_day``'s opening hours."""

    received_on: date
    callback_day: date
    release_at: datetime
    due_at: datetime


def callback_window(left_at: datetime, hours: OpeningHours) -> CallbackWindow:
    """Apply the "by the next working day" promise to a voicemail left at ``left_at``.

    The promise counts calendar days in local time, whatever the hour it was left.
    """
    received_on = _local(left_at, hours).date()
    day = next_working_day(received_on, hours)
    return CallbackWindow(received_on, day, opening_time(day, hours), closing_time(day, hours))


def promised_window(left_at: datetime, day: date, hours: OpeningHours) -> CallbackWindow | None:
    """The window for a voicemail left at ``left_at`` whose caller was promised ``day`` (said
    when the recording began, from the hours then in force, live closures included), or None
    when that promise cannot stand: not after the day it was left (it went past midnight), not
    a working day by ``hours``, or further off than any run of closures."""
    received_on = _local(left_at, hours).date()
    if not received_on < day <= received_on + timedelta(days=MAX_SEARCH_DAYS):
        return None
    if not is_working_day(day, hours):
        return None
    return CallbackWindow(received_on, day, opening_time(day, hours), closing_time(day, hours))


def spoken_time(t: time) -> str:
    """A time as a caller hears it: "9am", "4:30pm", "12 noon", "12 midnight"."""
    if t.minute == 0 and t.hour in (0, 12):
        return "12 midnight" if t.hour == 0 else "12 noon"
    suffix = "am" if t.hour < 12 else "pm"
    hour = t.hour % 12 or 12
    return f"{hour}{suffix}" if t.minute == 0 else f"{hour}:{t.minute:02d}{suffix}"


def describe_weekly_hours(weekly: Mapping[int, tuple[time, time] | None]) -> str:
    """Weekly hours in plain spoken English, consecutive days with equal hours grouped."""
    groups: list[tuple[int, int, tuple[time, time]]] = []
    for day in range(7):
        span = weekly.get(day)
        if span is None:
            continue
        if groups and groups[-1][1] == day - 1 and groups[-1][2] == span:
            groups[-1] = (groups[-1][0], day, span)
        else:
            groups.append((day, day, span))
    if not groups:
        return "closed every day"
    parts = []
    for first, last, (opens, closes) in groups:
        days = DAY_NAMES[first]
        if last > first:
            days += (" and " if last == first + 1 else " to ") + DAY_NAMES[last]
        parts.append(f"{days}, {spoken_time(opens)} to {spoken_time(closes)}")
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + ", and " + parts[-1]


def spoken_day(d: date, today: date) -> str:
    """A day as a caller hears it: "today", "tomorrow" or "Monday 30 November"."""
    if d == today:
        return "today"
    if d == today + timedelta(days=1):
        return "tomorrow"
    return f"{DAY_NAMES[d.weekday()]} {d.day} {MONTH_NAMES[d.month - 1]}"
