"""Live controls: what a supervisor changes during the day without touching ``config.yaml``.

Closures (a whole date, or a span of time today, with the message callers hear), announcements
(for one department or all, between a start and an end), an emergency switch ("we are closed",
or "we are aware of ...") and a department's queue closed. They are stored in Redis by
``ivr.controls_store`` and read by every call's first request that needs them, so a change
counts from the next call, with no restart.

This module is the pure part: the values, their checks (a message is non-empty and short
enough to be spoken, times are Europe/London wall-clock) and the decisions (which hours hold
now, what a caller hears). No Redis, no Flask, no clock: ``now`` is always given.

Which wins: ``config.yaml`` is the baseline (weekly hours, bank holidays, its closure dates,
its messages); a live control is added on top of it, and while it lasts it wins. A live
closure closes the lines even in configured hours; nothing live opens the lines outside them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from ivr.calendar import OpeningHours, with_closures

MAX_MESSAGE = 400  # characters: about 40 seconds spoken at the configured slow rate
MAX_DAYS_AHEAD = 400  # a closure or announcement further ahead than this is a typo
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
FOREVER = datetime(9999, 1, 1, tzinfo=UTC)  # the end of a switch that lasts until turned off


class ControlError(ValueError):
    """A control that cannot be set; the message names the field and says why."""


class EmergencyMode(StrEnum):
    CLOSED = "closed"  # "we are closed": the lines close until it is switched off
    AWARE = "aware"  # "we are aware of ...": said after the recording notice, lines as usual


@dataclass(frozen=True)
class Closure:
    """The lines closed between ``start`` and ``end`` (aware instants); ``whole_day``: a
    date, which is then not a working day (callbacks move past it)."""

    id: str
    start: datetime
    end: datetime
    message: str
    whole_day: bool = False
    set_by: str = ""


@dataclass(frozen=True)
class Announcement:
    """Said to callers between ``start`` and ``end``: to every caller after the recording
    notice (``department`` ""), or to those who choose ``department``."""

    id: str
    message: str
    start: datetime
    end: datetime
    department: str = ""
    set_by: str = ""


@dataclass(frozen=True)
class Emergency:
    mode: EmergencyMode
    message: str
    since: datetime
    set_by: str = ""


@dataclass(frozen=True)
class QueueClosed:
    """A department's queue closed: its callers are offered a voicemail at once."""

    department: str
    message: str = ""
    since: datetime | None = None
    set_by: str = ""


@dataclass(frozen=True)
class Controls:
    """Every live control in force or to come (``ivr.controls_store.load``)."""

    closures: tuple[Closure, ...] = ()
    announcements: tuple[Announcement, ...] = ()
    emergency: Emergency | None = None
    queues_closed: Mapping[str, QueueClosed] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.closures or self.announcements or self.emergency
                    or self.queues_closed)


# -- checks --------------------------------------------------------------------------------------


def check_message(text: str, what: str = "message") -> str:
    """A message callers will hear: trimmed, non-empty, at most ``MAX_MESSAGE`` characters, no
    control characters (a newline becomes a space)."""
    cleaned = " ".join(_CONTROL_CHARS.sub(" ", text or "").split())
    if not cleaned:
        raise ControlError(f"{what}: must not be empty (it is what callers hear)")
    if len(cleaned) > MAX_MESSAGE:
        raise ControlError(f"{what}: {len(cleaned)} characters; at most {MAX_MESSAGE} "
                           "(about 40 seconds spoken)")
    return cleaned


def parse_date(text: str, what: str = "date") -> date:
    try:
        return date.fromisoformat((text or "").strip())
    except ValueError:
        raise ControlError(f"{what}: {text!r} is not a date like 2026-12-24") from None


def parse_time(text: str, what: str = "time") -> time:
    raw = (text or "").strip()
    if not re.fullmatch(r"\d{1,2}:\d{2}", raw):
        raise ControlError(f"{what}: {text!r} is not a time like 13:30 (24-hour clock)")
    hours, minutes = (int(x) for x in raw.split(":"))
    if hours > 23 or minutes > 59:
        raise ControlError(f"{what}: {text!r} is not a time of day")
    return time(hours, minutes)


def parse_when(text: str, tz: ZoneInfo, what: str) -> datetime:
    """'2026-12-24 13:30' (or with a T) in the council's time zone, as an aware instant."""
    raw = (text or "").strip().replace("T", " ")
    day, _, clock = raw.partition(" ")
    if not clock:
        raise ControlError(f"{what}: {text!r} is not a date and time like 2026-12-24 13:30")
    return local(parse_date(day, what), parse_time(clock, what), tz)


def local(d: date, t: time, tz: ZoneInfo) -> datetime:
    """A wall-clock date and time in ``tz`` as an aware instant (GMT or BST as that day is)."""
    return datetime.combine(d, t, tzinfo=tz)


def check_span(start: datetime, end: datetime, now: datetime, what: str) -> None:
    """A span must end after it starts, not be over already, nor start absurdly far ahead."""
    if not start < end:
        raise ControlError(f"{what}: the end must be after the start")
    if end <= now:
        raise ControlError(f"{what}: it would be over already")
    if start > now + timedelta(days=MAX_DAYS_AHEAD):
        raise ControlError(f"{what}: more than {MAX_DAYS_AHEAD} days ahead")


def day_closure(ident: str, day: date, message: str, now: datetime, tz: ZoneInfo, *,
                set_by: str = "") -> Closure:
    """The lines closed for the whole of ``day`` (today or later)."""
    if day < now.astimezone(tz).date():
        raise ControlError(f"date: {day.isoformat()} is in the past")
    start, end = local(day, time(0), tz), local(day + timedelta(days=1), time(0), tz)
    check_span(start, end, now, "date")
    return Closure(ident, start, end, check_message(message), whole_day=True, set_by=set_by)


def span_closure(ident: str, start: datetime, end: datetime, message: str, now: datetime, *,
                 set_by: str = "") -> Closure:
    """The lines closed from ``start`` to ``end`` (e.g. 12:00 to 14:00 today)."""
    check_span(start, end, now, "to")
    return Closure(ident, start, end, check_message(message), set_by=set_by)


def announcement(ident: str, message: str, start: datetime, end: datetime, department: str,
                 departments: Iterable[str], now: datetime, *, set_by: str = "") -> Announcement:
    if department and department not in departments:
        raise ControlError(f"department: {department!r} is not one of "
                           f"{', '.join(sorted(departments))} (or empty for all)")
    check_span(start, end, now, "to")
    return Announcement(ident, check_message(message), start, end, department, set_by)


# -- decisions -----------------------------------------------------------------------------------


def effective_hours(baseline: OpeningHours, controls: Controls) -> OpeningHours:
    """The baseline hours with the live closures: whole days are not working days, spans and a
    "we are closed" emergency close the lines while they last."""
    days: set[date] = set()
    spans: list[tuple[datetime, datetime]] = []
    for c in controls.closures:
        if c.whole_day:
            days.add(c.start.astimezone(baseline.tz).date())
        else:
            spans.append((c.start, c.end))
    if controls.emergency and controls.emergency.mode is EmergencyMode.CLOSED:
        spans.append((controls.emergency.since, FOREVER))
    return with_closures(baseline, days, spans)


def closed_message(controls: Controls, at: datetime) -> str:
    """What a caller hears instead of the usual "our lines are closed" while a live closure
    holds ("" when none does): the emergency first, then the closure in force."""
    if controls.emergency and controls.emergency.mode is EmergencyMode.CLOSED:
        return controls.emergency.message
    held = [c for c in controls.closures if c.start <= at < c.end]
    held.sort(key=lambda c: (c.whole_day, c.start))  # a span today before the day's closure
    return held[0].message if held else ""


def greeting_messages(controls: Controls, at: datetime) -> list[str]:
    """Said to every caller after the recording notice: the "we are aware" emergency, then the
    announcements for all departments in force at ``at``, oldest first."""
    out = []
    if controls.emergency and controls.emergency.mode is EmergencyMode.AWARE:
        out.append(controls.emergency.message)
    out.extend(a.message for a in _in_force(controls.announcements, at, ""))
    return out


def department_messages(controls: Controls, department: str, at: datetime) -> list[str]:
    """Said to a caller who chose ``department``: its announcements in force at ``at``."""
    return [a.message for a in _in_force(controls.announcements, at, department)]


def _in_force(announcements: Iterable[Announcement], at: datetime,
              department: str) -> list[Announcement]:
    found = [a for a in announcements if a.department == department and a.start <= at < a.end]
    return sorted(found, key=lambda a: (a.start, a.id))


def queue_closed(controls: Controls, department: str) -> QueueClosed | None:
    return controls.queues_closed.get(department)


def over(controls: Controls, at: datetime) -> tuple[list[str], list[str]]:
    """The closure ids and announcement ids that have ended by ``at`` (to be deleted)."""
    return ([c.id for c in controls.closures if c.end <= at],
            [a.id for a in controls.announcements if a.end <= at])


def span_today(start: str, end: str, now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """'12:00' and '14:00' as today's instants in ``tz`` (as typed in the console or the CLI)."""
    today = now.astimezone(tz).date()
    return (local(today, parse_time(start, "from"), tz), local(today, parse_time(end, "to"), tz))


def describe(c: Closure | Announcement, tz: ZoneInfo) -> str:
    """'Thu 24 Dec 2026, all day' or 'Tue 1 Dec 12:00 to 14:00' for a page or the CLI."""
    start, end = c.start.astimezone(tz), c.end.astimezone(tz)
    if isinstance(c, Closure) and c.whole_day:
        return f"{start:%a} {start.day} {start:%b %Y}, all day"
    first = f"{start:%a} {start.day} {start:%b %H:%M}"
    if start.date() == end.date() or (end.time() == time(0)
                                      and end.date() == start.date() + timedelta(days=1)):
        return f"{first} to {end:%H:%M}"
    return f"{first} to {end:%a} {end.day} {end:%b %H:%M}"
