"""Live figures for the wallboard and console: today so far, and the open callback backlog.

Thin readers over ``ivr.report``: the figures themselves are computed there, once.
"""

from __future__ import annotations

from datetime import datetime, time

from ivr.calendar import OpeningHours
from ivr.report import LONDON, Report, compute, day_bounds, load_events
from ivr.report_facts import collect


def live_today(redis, now: float, **options) -> Report:
    """Today's figures (local midnight to ``now``) for the wallboard and console.

    ``options`` are ``compute``'s (see ``settings(config)``). Callback tasks are counted from
    the day they were created, so a wallboard wanting the open backlog uses ``backlog``.
    """
    tz = options["hours"].tz if options.get("hours") else LONDON
    midnight = datetime.combine(datetime.fromtimestamp(now, tz).date(), time(), tzinfo=tz)
    events = load_events(redis, midnight.timestamp(), now + 1)
    return compute(events, start=midnight.timestamp(), end=now + 1, as_of=now, **options)


def backlog(redis, now: float, *, lookback_days: int = 31,
            hours: OpeningHours | None = None) -> dict[str, dict[str, int]]:
    """Open callbacks per department: ``due`` today (not yet overdue) and ``overdue``."""
    tz = hours.tz if hours else LONDON
    facts = collect(load_events(redis, now - lookback_days * 86400, now + 1), hours)
    today_end = day_bounds(datetime.fromtimestamp(now, tz).date(),
                           datetime.fromtimestamp(now, tz).date(), tz)[1]
    out: dict[str, dict[str, int]] = {}
    for t in facts.tasks:
        if t.status == "open" and t.due_at < today_end:
            row = out.setdefault(t.dept, {"due": 0, "overdue": 0})
            row["overdue" if t.due_at < now else "due"] += 1
    return out
