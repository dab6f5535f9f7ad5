"""The Customer Service Standard figures, computed once, from the call events only.

The console, the wallboard, the simulator and ``ivr report`` all call ``compute`` (the
wallboard through ``ivr.report.live``): no figure is worked out anywhere else. Definitions:

* **Offered**: callers who entered a department queue (ENTERQUEUE) and have left it, or
  whose departure was never recorded; callers still inside the limit are ``waiting``.
* **Service level (SL)**: answered within ``limit`` seconds (wait <= limit) / offered.
* **SL2**: Asterisk app_queue's ``ServicelevelPerf2``, which counts short abandons as
  served: (answered within + abandoned within) / (answered + abandoned). Source: Asterisk
  ``apps/app_queue.c`` (QueueParams' ServicelevelPerf2, since 16.24/18.10/19.2):
  ``manager_queues_status`` computes ``sl2 = 100 * (callsabandonedinsl + callscompletedinsl)
  / (callsabandoned + callscompleted)`` and ``record_abandoned`` counts an abandon "in SL"
  when ``now - qe->start <= servicelevel``. As there, timeouts and full queues are in neither
  part of SL2. (Its ``ServicelevelPerf`` divides by answered calls only; our SL divides
  by offered, so calls taken to voicemail count against it.)
* **2-minute promise**: a queued caller is answered, or taken to voicemail (timeout, full
  queue, queue error), within ``limit + tolerance`` seconds (125 s). A caller who hangs up
  within that time was neither served nor failed: not counted either way (``short_abandons``).
  Hanging up later, waiting longer, or no recorded outcome after it, is an exception.
* **Next-working-day promise**: a callback task (one per voicemail; merged voicemails share
  it) is kept when answered (CALLBACKDONE) or closed unreachable after ``attempts`` attempts
  (CALLBACKUNREACHABLE), at or before its ``due_at`` (close of the next working day). Tasks
  still open and not yet due at ``as_of`` are ``callbacks_pending`` and not counted. Only an
  answered attempt closes a task as done, and attempts are true at the source
  (``voicemail.callbacks``: one per dial, only the claim's holder or a supervisor records
  one, a manual outcome never doubles a dial's); here an attempt reported twice counts once,
  and the answered callbacks recorded by hand (no dial result) are counted apart
  (``callbacks_by_hand``) so the figure shows how much of it rests on an advisor's word.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from statistics import fmean
from typing import Any
from zoneinfo import ZoneInfo

from ivr import events as ev
from ivr.calendar import OpeningHours
from ivr.report.facts import (
    TO_VOICEMAIL,
    Facts,
    Feedback,
    Inbound,
    Miss,
    Overdue,
    QueueVisit,
    collect,
    miss_text,
    overdue_text,
)

LONDON = ZoneInfo("Europe/London")
LATE = 7 * 86400  # spooled events replayed up to this long after their time are still read
PAGE = 5000


@dataclass(frozen=True)
class Report:
    start: float | None
    end: float | None
    as_of: float
    limit: int
    tolerance: int
    department: str | None
    # queues
    offered: int = 0
    answered: int = 0
    answered_within: int = 0
    abandoned: int = 0
    abandoned_within: int = 0
    timed_out: int = 0
    full: int = 0
    errors: int = 0
    no_outcome: int = 0
    waiting: int = 0
    no_agents: int = 0
    longest_wait: int = 0
    mean_wait: float | None = None  # answered callers
    visits: tuple[QueueVisit, ...] = ()
    # 2-minute promise
    promise_kept: int = 0
    short_abandons: int = 0
    misses: tuple[Miss, ...] = ()
    # next-working-day promise
    voicemails: int = 0
    voicemails_merged: int = 0
    callbacks: int = 0
    callbacks_answered: int = 0
    callbacks_unreachable: int = 0
    callbacks_by_hand: int = 0  # answered, by an outcome recorded by hand (no dial result)
    callbacks_kept: int = 0
    callbacks_pending: int = 0
    overdue: tuple[Overdue, ...] = ()
    # calls
    inbound: int = 0
    notice_played: int = 0
    notice_missing: tuple[Inbound, ...] = ()
    out_of_hours: int = 0
    transfers: dict[str, int] = field(default_factory=dict)  # line -> count
    transfer_results: dict[str, dict[str, int]] = field(default_factory=dict)  # line -> status
    online: int = 0
    sms_offered: int = 0
    sms_links: int = 0  # texts Twilio accepted (SMSSENT), not jobs queued, nor undelivered
    sms_delivered: int = 0  # of those, reported on the handset (SMSDELIVERED)
    sms_requested: int = 0  # texts asked for (SMSLINK: the job queued)
    sms_failed: int = 0  # texts whose every try failed (SMSFAILED final)
    failsafes: int = 0
    # after the call
    wrapups: int = 0
    resolved: int = 0
    feedback_scores: dict[int, int] = field(default_factory=dict)  # 1..5 -> count
    comments: tuple[Feedback, ...] = ()  # feedback with a spoken comment
    by_hour: dict[int, Report] = field(default_factory=dict)
    by_department: dict[str, Report] = field(default_factory=dict)

    @property
    def service_level(self) -> float | None:
        return _share(self.answered_within, self.offered)

    @property
    def service_level2(self) -> float | None:
        return _share(self.answered_within + self.abandoned_within,
                      self.answered + self.abandoned)

    @property
    def promise_counted(self) -> int:
        return self.promise_kept + len(self.misses)

    @property
    def promise_share(self) -> float | None:
        return _share(self.promise_kept, self.promise_counted)

    @property
    def callbacks_counted(self) -> int:
        return self.callbacks - self.callbacks_pending

    @property
    def callback_share(self) -> float | None:
        return _share(self.callbacks_kept, self.callbacks_counted)

    @property
    def notice_share(self) -> float | None:
        return _share(self.notice_played, self.inbound)

    @property
    def fcr(self) -> float | None:
        return _share(self.resolved, self.wrapups)

    @property
    def feedback_count(self) -> int:
        return sum(self.feedback_scores.values())

    @property
    def feedback_mean(self) -> float | None:
        n = self.feedback_count
        return sum(s * c for s, c in self.feedback_scores.items()) / n if n else None


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def settings(config) -> dict[str, Any]:
    """``compute`` keyword arguments from the loaded ``config.yaml``."""
    return {"limit": config.queue.voicemail_after, "tolerance": config.queue.max_overrun,
            "attempts": config.callbacks_work.max_attempts,
            "hours": config.hours.opening_hours()}


def compute(events, *, limit: int = 120, tolerance: int = 5, attempts: int = 3,
            hours: OpeningHours | None = None, department: str | None = None,
            start: float | None = None, end: float | None = None, as_of: float | None = None,
            nested: bool = True) -> Report:
    """The report for decoded ``events`` (or already collected ``Facts``).

    Facts anchored in ``[start, end)`` (and in ``department``) are counted; events after
    ``end`` still supply outcomes. ``as_of`` (default: the last event, or ``end``) decides
    what is still waiting or pending. With ``nested``, ``by_hour`` (local hour of the day in
    ``hours.tz``, Europe/London by default) and ``by_department`` hold the same figures split.
    """
    if isinstance(events, Facts):
        facts = events
        last = max([f.ts for f in facts.all()] + [t.closed_at or 0 for t in facts.tasks],
                   default=end or 0.0)
    else:  # nothing after ``as_of`` is known yet
        events = [e for e in events if as_of is None or e["ts"] <= as_of]
        last = max((e["ts"] for e in events), default=end or 0.0)
        facts = collect(events, hours)
    as_of = last if as_of is None else as_of
    facts = facts.keep(lambda f: (start is None or f.ts >= start) and (end is None or f.ts < end)
                       and (department is None or f.dept == department))
    tz = hours.tz if hours else LONDON
    base = dict(limit=limit, tolerance=tolerance, attempts=attempts, as_of=as_of,
                start=start, end=end)
    report = _figures(facts, department=department, **base)
    if not nested:
        return report
    hours_seen = sorted({datetime.fromtimestamp(f.ts, tz).hour for f in facts.all()})
    depts = sorted({f.dept for f in facts.all()})
    by_hour = {h: _figures(facts.keep(lambda f, h=h: datetime.fromtimestamp(f.ts, tz).hour == h),
                           department=department, **base) for h in hours_seen}
    by_dept = {d: _figures(facts.keep(lambda f, d=d: f.dept == d), department=d, **base)
               for d in depts}
    return replace(report, by_hour=by_hour, by_department=by_dept)


def _figures(facts: Facts, *, limit: int, tolerance: int, attempts: int, as_of: float,
             start: float | None, end: float | None, department: str | None) -> Report:
    promise = limit + tolerance
    waiting, left = [], []
    for v in facts.visits:
        (waiting if not v.outcome and as_of - v.ts <= promise else left).append(v)
    by = Counter(v.outcome for v in left)
    answered = [v for v in left if v.outcome == "answered"]
    kept, short, misses = 0, 0, []
    for v in left:
        wait = v.wait if v.wait is not None else int(as_of - v.ts)
        if v.outcome == "abandoned" and wait <= promise:
            short += 1
        elif (v.outcome == "answered" or v.outcome in TO_VOICEMAIL) and wait <= promise:
            kept += 1
        else:
            misses.append(Miss(v, miss_text(v, promise)))
    tasks_kept, overdue, pending = 0, [], 0
    for t in facts.tasks:
        proper = t.status == "answered" or (t.status == "unreachable" and t.attempts >= attempts)
        if t.status == "open" and as_of <= t.due_at:
            pending += 1
        elif proper and t.closed_at is not None and t.closed_at <= t.due_at:
            tasks_kept += 1
        else:
            overdue.append(Overdue(t, overdue_text(t, attempts)))
    transfers = Counter(t.line for t in facts.transfers)
    results: dict[str, Counter] = {}
    for t in facts.transfers:
        results.setdefault(t.line, Counter())[t.status or "no result"] += 1
    return Report(
        start=start, end=end, as_of=as_of, limit=limit, tolerance=tolerance,
        department=department, offered=len(left), answered=len(answered),
        answered_within=sum(1 for v in answered if v.wait <= limit),
        abandoned=by["abandoned"],
        abandoned_within=sum(1 for v in left if v.outcome == "abandoned" and v.wait <= limit),
        timed_out=by["timed_out"], full=by["full"], errors=by["error"], no_outcome=by[""],
        waiting=len(waiting), no_agents=len(facts.no_agents),
        longest_wait=max((v.wait for v in left if v.wait is not None), default=0),
        mean_wait=fmean(v.wait for v in answered) if answered else None,
        visits=tuple(left), promise_kept=kept, short_abandons=short,
        misses=tuple(sorted(misses, key=lambda m: m.visit.ts)),
        voicemails=len(facts.voicemails),
        voicemails_merged=sum(1 for v in facts.voicemails if v.detail == "merged"),
        callbacks=len(facts.tasks),
        callbacks_answered=sum(1 for t in facts.tasks if t.status == "answered"),
        callbacks_unreachable=sum(1 for t in facts.tasks if t.status == "unreachable"),
        callbacks_by_hand=sum(1 for t in facts.tasks if t.status == "answered" and t.by_hand),
        callbacks_kept=tasks_kept, callbacks_pending=pending,
        overdue=tuple(sorted(overdue, key=lambda o: (o.task.due_at, o.task.ts))),
        inbound=len(facts.inbound), notice_played=sum(1 for c in facts.inbound if c.notice),
        notice_missing=tuple(c for c in facts.inbound if not c.notice),
        out_of_hours=sum(1 for c in facts.inbound if c.out_of_hours),
        transfers=dict(sorted(transfers.items())),
        transfer_results={k: dict(v.most_common()) for k, v in sorted(results.items())},
        online=len(facts.online), sms_offered=sum(1 for o in facts.online if o.detail),
        sms_links=len(facts.sms_sent), sms_delivered=len(facts.sms_delivered),
        sms_requested=len(facts.sms_links),
        sms_failed=len(facts.sms_failed), failsafes=len(facts.failsafes),
        wrapups=len(facts.wrapups), resolved=sum(1 for w in facts.wrapups if w.resolved),
        feedback_scores={s: sum(1 for f in facts.feedback if f.score == s) for s in range(1, 6)},
        comments=tuple(f for f in facts.feedback if f.comment),
    )


def day_bounds(first: date, last: date, tz: ZoneInfo = LONDON) -> tuple[float, float]:
    """Epoch seconds from local midnight starting ``first`` to the midnight ending ``last``."""
    begin = datetime.combine(first, time(), tzinfo=tz)
    finish = datetime.combine(last + timedelta(days=1), time(), tzinfo=tz)
    return begin.timestamp(), finish.timestamp()


def load_events(redis, start: float, end: float, *, late: float = LATE,
                whole: bool = False) -> list[dict[str, Any]]:
    """Events whose own ``ts`` is in ``[start, end)``, read with paged XRANGE, in time order.

    A stream id is the event's own time, or later when it was written out of order (a spooled
    event replayed, ``events.add``), never before. So ids are read from ``start`` to ``end +
    late`` and filtered by ``ts``. ``whole`` reads every id instead, for a stream imported
    from elsewhere. Exact duplicates (a spool replayed twice) are dropped.
    """
    low = "-" if whole else f"{max(int(start * 1000), 0)}-0"
    high = "+" if whole else f"{int((end + late) * 1000)}-18446744073709551615"
    seen: set[tuple] = set()
    out: list[dict[str, Any]] = []
    while True:
        page = redis.xrange(ev.STREAM, min=low, max=high, count=PAGE)
        for _, raw in page:
            e = ev.decode(raw)
            if not start <= e["ts"] < end:
                continue
            key = (e["event"], e.get("call"), e["ts"], e.get("dept"), repr(e.get("data")))
            if key not in seen:
                seen.add(key)
                out.append(e)
        if len(page) < PAGE:
            break
        last = page[-1][0]
        low = "(" + (last.decode() if isinstance(last, bytes) else last)
    out.sort(key=lambda e: e["ts"])
    return out
