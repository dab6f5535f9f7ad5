"""Live figures, computed here once for ``/metrics``, the console's live view and the wallboard.

Two sources, each the truth for what it holds:

* **Now** (``read_now``): the records the call flows and the callback jobs keep in Redis.
  Callers waiting and the longest wait come from the queue zsets (member: call SID, score:
  time entered); agents and their states from the agent hashes; callbacks from the worklist
  zsets (``WORKLIST``: released tasks scored by ``due_at``; ``SCHEDULED``: tasks not yet
  released, scored by release time), which are what agents actually work from. Two pipelined
  round trips, whatever the number of departments, agents or tasks.
* **Today** (``live_today``): calls offered and answered, the service level and voicemails,
  from ``ivr.report.compute`` over today's events (local midnight to now). The events are read
  once per process and day and then only the new ones (one XRANGE per refresh), so a wall
  screen polling every few seconds does not decode the whole day each time.

Callbacks due / overdue / scheduled (``callbacks_now``):

* **overdue**: an open task past its ``due_at`` (close of the next working day), whether it was
  released to the worklist or is still scheduled because nothing has looked since;
* **due**: released to the worklist, or scheduled with its release time passed (the next look
  releases it), and not yet overdue (released at the opening of the callback day);
* **scheduled**: not yet released (due on a later day).

``ivr.report``'s next-working-day figures are the period's history from the events; the
backlog here is the open work now, from the zsets, and ``backlog`` is only this function.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, time, timedelta
from typing import Any

from ivr import agents, store
from ivr import events as ev
from ivr.agents import Agent, State
from ivr.report import LONDON, PAGE, Report, compute, load_events
from ivr.report.advisors import AdvisorDay, advisor_days
from ivr.report.facts import Facts, collect
from voicemail.tasks import SCHEDULED, TASK, WORKLIST

AMBER_SHARE = 0.75  # the longest wait turns amber at 3/4 of the limit (90 s of 120 s)
REPORT_REUSE = 2.0  # seconds a computed "today" report is reused while no event arrived
MAX_PAGES = 20  # XRANGE pages of new events read in one refresh at most


# -- now: queues, agents, callbacks ------------------------------------------------------


@dataclass(frozen=True)
class QueueNow:
    waiting: int = 0  # callers in the department's queue zset
    longest: int = 0  # seconds the front caller has waited (0 when nobody waits)


@dataclass(frozen=True)
class Backlog:
    due: int = 0
    overdue: int = 0
    scheduled: int = 0

    def __add__(self, other: Backlog) -> Backlog:
        return Backlog(self.due + other.due, self.overdue + other.overdue,
                       self.scheduled + other.scheduled)


@dataclass(frozen=True)
class Now:
    at: float
    queues: dict[str, QueueNow] = field(default_factory=dict)  # per asked department
    agents: tuple[Agent, ...] = ()  # every agent, by agent number
    callbacks: dict[str, Backlog] = field(default_factory=dict)  # per task department

    def backlog(self, departments: Iterable[str] | None = None) -> Backlog:
        """Callbacks of ``departments`` (None: every task, whatever its department)."""
        wanted = None if departments is None else set(departments)
        return sum((b for d, b in self.callbacks.items() if wanted is None or d in wanted),
                   Backlog())


def queue_now(waiting: int, front: Sequence[tuple[Any, float]], at: float) -> QueueNow:
    """One department's queue from its ZCARD and its first member with score."""
    waiting = int(waiting)
    longest = max(0, int(at - float(front[0][1]))) if front and waiting else 0
    return QueueNow(waiting, longest)


def wait_level(longest: int, limit: int) -> str:
    """'ok', 'amber' when the longest wait nears the limit, 'red' once it has reached it."""
    if longest >= limit:
        return "red"
    return "amber" if longest >= limit * AMBER_SHARE else "ok"


def by_state(staff: Iterable[Agent], department: str | None = None) -> dict[State, int]:
    """How many agents are in each state (every state listed), of those serving ``department``
    (an agent with no departments serves all of them) or all when None."""
    counts = dict.fromkeys(State, 0)
    for a in staff:
        if department is None or a.serves(department):
            counts[a.state] += 1
    return counts


def serving_any(staff: Iterable[Agent], departments: Iterable[str]) -> list[Agent]:
    """Agents serving at least one of ``departments`` (each counted once)."""
    depts = list(departments)
    return [a for a in staff if any(a.serves(d) for d in depts)]


def callbacks_now(worklist: Iterable[tuple[str, float]],
                  scheduled: Iterable[tuple[str, float]],
                  tasks: dict[str, tuple[str, float | None]], at: float) -> dict[str, Backlog]:
    """Per department, from the worklist zsets: ``worklist`` is (task, due_at) pairs,
    ``scheduled`` (task, release_at) pairs, ``tasks`` task -> (department, due_at or None)
    from the hashes. A scheduled task whose release time has passed counts as released: the
    next look at the worklist releases it (``voicemail.tasks.LUA_RELEASE``)."""
    out: dict[str, dict[str, int]] = {}
    for task, due in worklist:
        row = out.setdefault(tasks.get(task, ("", None))[0], dict(due=0, overdue=0, scheduled=0))
        row[callback_status(True, due, at)] += 1
    for task, release in scheduled:
        dept, due = tasks.get(task, ("", None))
        row = out.setdefault(dept, dict(due=0, overdue=0, scheduled=0))
        row[callback_status(release <= at, due, at)] += 1
    return {d: Backlog(**row) for d, row in sorted(out.items())}


def callback_status(released: bool, due_at: float | None, at: float) -> str:
    """One open task now: 'overdue' past its due time (released or not), else 'due' once
    released to the worklist, else 'scheduled'."""
    if due_at is not None and due_at < at:
        return "overdue"
    return "due" if released else "scheduled"


def _text(value: bytes | str | None) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else (value or "")


def _number(value: bytes | str | None) -> float | None:
    try:
        return float(_text(value)) if value else None
    except ValueError:
        return None


def read_now(redis, departments: Sequence[str], at: float, *, staff: bool = True,
             callbacks: bool = True, _extra=None) -> Now:
    """Queues of ``departments``, agents and callbacks, in two pipelined round trips.

    ``_extra(pipe)`` may queue more reads on the first round trip; it returns a function
    given those replies (the wallboard's new events ride along this way).
    """
    pipe = redis.pipeline(transaction=False)
    for dept in departments:
        pipe.zcard(store.queue_key(dept))
        pipe.zrange(store.queue_key(dept), 0, 0, withscores=True)
    if staff:
        pipe.smembers(agents.AGENTS)
    if callbacks:
        pipe.zrange(WORKLIST, 0, -1, withscores=True)
        pipe.zrange(SCHEDULED, 0, -1, withscores=True)
    absorb = _extra(pipe) if _extra else None
    replies = iter(pipe.execute())
    queues = {d: queue_now(next(replies), next(replies), at) for d in departments}
    ids = sorted(_text(x) for x in next(replies)) if staff else []
    listed = [(_text(t), float(s)) for t, s in next(replies)] if callbacks else []
    waiting = [(_text(t), float(s)) for t, s in next(replies)] if callbacks else []
    if absorb:
        absorb(list(replies))
    if not ids and not listed and not waiting:
        return Now(at, queues)
    pipe = redis.pipeline(transaction=False)
    for agent_id in ids:
        pipe.hgetall(agents.AGENT.format(id=agent_id))
    task_ids = list(dict.fromkeys([t for t, _ in listed] + [t for t, _ in waiting]))
    for task in task_ids:
        pipe.hmget(TASK.format(id=task), "department", "due_at")
    replies = iter(pipe.execute())
    hashes = [next(replies) for _ in ids]
    # The agents module's own decoding (as ``agents.all_agents``), on our round trip.
    staff_now = tuple(agents._from_hash(agents._decode(h)) for h in hashes if h)
    found = {t: (_text(d), _number(due)) for t, (d, due) in zip(task_ids, replies, strict=True)}
    return Now(at, queues, staff_now,
               callbacks_now(listed, waiting, found, at) if callbacks else {})


def backlog(redis, now: float, departments: Iterable[str] | None = None) -> dict[str, Backlog]:
    """Open callbacks per department now (``callbacks_now``), from the worklist zsets."""
    found = read_now(redis, [], now, staff=False).callbacks
    wanted = None if departments is None else set(departments)
    return {d: b for d, b in found.items() if wanted is None or d in wanted}


# -- today: from the events ----------------------------------------------------------------


def _key(e: dict[str, Any]) -> tuple:
    """What makes two stream entries the same event (as ``report.load_events`` dedupes)."""
    return (e["event"], e.get("call"), e["ts"], e.get("dept"), repr(e.get("data")))


class _Day:
    """One Redis client's events of one local day, read once and then incrementally."""

    def __init__(self, start: float, end: float) -> None:
        self.start, self.end = start, end
        self.lock = threading.Lock()
        self.loaded = False
        self.last_id = "0-0"  # the newest stream id read
        self.events: list[dict[str, Any]] = []
        self.seen: set[tuple] = set()
        self.report: tuple[tuple, float, Report] | None = None
        self.facts: tuple[tuple, Facts, float] | None = None  # (id read, hours), facts, last ts

    def load(self, redis) -> None:
        """Everything of the day (``report.load_events``), and where the stream ends now.

        An event stored between the two reads is read again next time and dropped as seen.
        """
        tip = redis.xrevrange(ev.STREAM, count=1)
        found = load_events(redis, self.start, self.end)
        self.last_id = _text(tip[0][0]) if tip else "0-0"
        self.events, self.seen = found, {_key(e) for e in found}
        self.loaded, self.report, self.facts = True, None, None

    def ask(self, pipe) -> None:
        """Queue the read of what is new, and a check that the last id read is still there
        (it is gone only if the stream was deleted: then the day is read again)."""
        pipe.xrange(ev.STREAM, min="(" + self.last_id, max="+", count=PAGE)
        pipe.xrange(ev.STREAM, min=self.last_id, max=self.last_id, count=1)

    def take(self, redis, replies: list) -> None:
        page, still_there = replies
        if self.last_id != "0-0" and not still_there:
            self.load(redis)
            return
        for _ in range(MAX_PAGES):  # the rest, if ever there is more, on the next refresh
            for entry_id, raw in page:
                self.last_id = _text(entry_id)
                e = ev.decode(raw)
                if self.start <= e["ts"] < self.end and _key(e) not in self.seen:
                    self.seen.add(_key(e))
                    self.events.append(e)
            if len(page) < PAGE:
                return
            page = redis.xrange(ev.STREAM, min="(" + self.last_id, max="+", count=PAGE)

    def compute(self, now: float, options: dict[str, Any]) -> Report:
        key = (self.last_id, tuple(sorted((k, id(v) if k == "hours" else v)
                                          for k, v in options.items())))
        if self.report and self.report[0] == key and 0 <= now - self.report[1] < REPORT_REUSE:
            return self.report[2]
        # The day's facts, collected once per new event read for the figures and the advisors
        # alike; the events themselves when one is stamped after ``now`` (another server's
        # clock ahead), which ``compute`` leaves out until ``now`` reaches it.
        facts, last = self._facts(options)
        report = compute(facts if last <= now else self.events, start=self.start, end=now + 1,
                         as_of=now, **options)
        self.report = (key, now, report)
        return report

    def _facts(self, options: dict[str, Any]) -> tuple[Facts, float]:
        """``collect`` of the day's events (and the newest event's time), once per new event
        read."""
        hours = options.get("hours")
        key = (self.last_id, id(hours))
        if self.facts is None or self.facts[0] != key:
            last = max((e["ts"] for e in self.events), default=0.0)
            self.facts = (key, collect(self.events, hours), last)
        return self.facts[1], self.facts[2]

    def advisors(self, now: float, staff: Iterable[Agent],
                 options: dict[str, Any]) -> dict[str, AdvisorDay]:
        """Each advisor's day so far (``report.advisors``), their current stretch included."""
        staff = list(staff)
        current = {a.id: (str(a.state), a.state_since) for a in staff}
        return advisor_days(self._facts(options)[0], self.start, now, current,
                            [a.id for a in staff])


_days: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_days_lock = threading.Lock()


def _day(redis, now: float, options: dict[str, Any]) -> _Day:
    tz = options["hours"].tz if options.get("hours") else LONDON
    today = datetime.fromtimestamp(now, tz).date()
    start = datetime.combine(today, time(), tzinfo=tz).timestamp()
    end = datetime.combine(today + timedelta(days=1), time(), tzinfo=tz).timestamp()
    with _days_lock:
        day = _days.get(redis)
        if day is None or (day.start, day.end) != (start, end):
            day = _days[redis] = _Day(start, end)
    return day


def live_today(redis, now: float, **options) -> Report:
    """Today's figures (local midnight to ``now``) from the events, by ``report.compute``.

    ``options`` are ``compute``'s (see ``report.settings(config)``); ``by_department`` holds
    each department's. Callback tasks count on the day they were created: the open backlog
    is ``callbacks_now``'s.
    """
    day = _day(redis, now, options)
    with day.lock:
        if not day.loaded:
            day.load(redis)
        else:
            pipe = redis.pipeline(transaction=False)
            day.ask(pipe)
            day.take(redis, pipe.execute())
        return day.compute(now, options)


@dataclass(frozen=True)
class LiveView:
    """What the console's live view shows: now, today per department, each advisor's day."""

    now: Now
    today: Report
    advisors: dict[str, AdvisorDay]


def live_view(redis, departments: Sequence[str], now: float, **options) -> LiveView:
    """Queues and agents now (``read_now``), today's figures and each advisor's day, in two
    round trips (the new events ride on the first), from the day's events read once."""
    day = _day(redis, now, options)
    with day.lock:
        if not day.loaded:
            day.load(redis)

        def extra(pipe):
            day.ask(pipe)
            return lambda replies: day.take(redis, replies)

        live = read_now(redis, departments, now, callbacks=False, _extra=extra)
        today = day.compute(now, options)
        advisors = day.advisors(now, live.agents, options)
    return LiveView(live, today, advisors)


# -- the wallboard -------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One department (or the total of several) on the wallboard."""

    department: str  # "" for the total
    queue: QueueNow
    wait_level: str
    agents: dict[State, int]  # serving the department, by state
    today: Report  # so far today, from the events: offered, answered, service level, voicemails
    callbacks: Backlog

    @property
    def available(self) -> int:
        return self.agents[State.AVAILABLE]

    @property
    def signed_in(self) -> int:
        return sum(n for s, n in self.agents.items() if s in agents.SIGNED_IN)


@dataclass(frozen=True)
class Board:
    at: float
    limit: int
    rows: tuple[Row, ...]
    total: Row


def combined(reports: Sequence[Report], like: Report) -> Report:
    """Several departments' reports as one: counts added, the longest wait the longest.

    Only the counted figures (lists of calls, splits and the mean wait are left empty); enough
    for a total of the departments an agent serves.
    """
    if len(reports) == 1:
        return reports[0]
    sums: dict[str, Any] = {}
    for f in fields(Report):
        if f.name in ("limit", "tolerance") or not isinstance(getattr(like, f.name), int):
            continue
        values = [getattr(r, f.name) for r in reports]
        sums[f.name] = max(values, default=0) if f.name == "longest_wait" else sum(values)
    return replace(like, department=None, **sums)


def board(redis, departments: Sequence[str], now: float, **options) -> Board:
    """The wallboard for ``departments``: ``read_now`` and ``live_today`` in two round trips
    (the new events ride on the first), one row per department and their total (the rows'
    figures added up, so the total is what the screen's departments sum to)."""
    day = _day(redis, now, options)
    limit = int(options.get("limit", 120))
    with day.lock:
        if not day.loaded:
            day.load(redis)

        def extra(pipe):
            day.ask(pipe)
            return lambda replies: day.take(redis, replies)

        live = read_now(redis, departments, now, _extra=extra)
        today = day.compute(now, options)
    empty = Report(start=today.start, end=today.end, as_of=today.as_of, limit=today.limit,
                   tolerance=today.tolerance, department=None)
    rows = []
    for d in departments:
        rows.append(Row(
            department=d, queue=live.queues[d],
            wait_level=wait_level(live.queues[d].longest, limit),
            agents=by_state(live.agents, d),
            today=today.by_department.get(d) or replace(empty, department=d),
            callbacks=live.backlog([d])))
    front = QueueNow(sum(r.queue.waiting for r in rows),
                     max((r.queue.longest for r in rows), default=0))
    total = Row(
        department="", queue=front, wait_level=wait_level(front.longest, limit),
        agents=by_state(serving_any(live.agents, departments)),
        today=combined([r.today for r in rows], empty),
        callbacks=live.backlog(departments))
    return Board(now, limit, tuple(rows), total)
