"""Redis: the one place calls, queues and callbacks live, so web processes keep no state.

Each webhook does its writes in one pipeline (a ``Batch``), so a request costs one round trip
for writes. When Redis is unreachable the call goes on: events are spooled and replayed later,
and the failure is logged once with the call SID and a masked number.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import redis
from redis.exceptions import RedisError

from ivr import connections, events, keys
from ivr.events import Event
from ivr.phone import mask
from ivr.spool import Spool

if TYPE_CHECKING:
    from rq import Queue

log = logging.getLogger(__name__)

CALL = "{{ivr}}:call:{sid}"  # hash: one call's facts (expires after the call)
QUEUE = "{{ivr}}:queue:{dept}"  # zset: call SID -> time entered, our record of who waits
ANSWERS = "{{ivr}}:answers:{dept}"  # list: recent answer times, newest first (wait estimates)
CALLER = "{{ivr}}:caller:{number}"       # zset: call SID -> time, a number's recent calls
ANSWER_SAMPLE = 50


def connect(url: str) -> redis.Redis:
    """A client with short timeouts: a webhook must answer Twilio well within 15 s."""
    return connections.connect(url)


def call_key(sid: str) -> str:
    return CALL.format(sid=sid)


def queue_key(dept: str) -> str:
    return QUEUE.format(dept=dept)


def answers_key(dept: str) -> str:
    return ANSWERS.format(dept=dept)


def caller_key(number: str) -> str:
    return CALLER.format(number=number)


def note_caller(batch: Batch, number: str, keep_days: int) -> None:
    """Remember this call against the caller's number (for the agent's whisper)."""
    key = caller_key(number)
    now = batch.now
    batch.op(lambda p: p.zadd(key, {batch.call_sid: now}))
    batch.op(lambda p: p.zremrangebyscore(key, "-inf", now - keep_days * 86400))
    batch.op(lambda p: p.expire(key, keep_days * 86400))


def note_answer(batch: Batch, dept: str, now: float) -> None:
    """An answered call, for the wait estimate (recent answer rate)."""
    key = answers_key(dept)
    batch.op(lambda p: p.lpush(key, f"{now:.3f}"))
    batch.op(lambda p: p.ltrim(key, 0, ANSWER_SAMPLE - 1))


class Batch:
    """Writes and events of one webhook, sent in one pipeline by ``commit``."""

    def __init__(
        self,
        r: redis.Redis,
        spool: Spool,
        *,
        call_sid: str,
        caller: str,
        now: float,
        retention_days: int,
        keep_calls: int,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.r = r
        self.spool = spool
        self.call_sid = call_sid
        self.caller = caller
        self.now = now
        self.retention_days = retention_days
        self.keep_calls = keep_calls
        self.on_error = on_error  # told ``what`` failed (the app counts it for /metrics)
        self._ops: list[Callable[[Any], Any]] = []
        self._events: list[dict[str, str]] = []
        self._conditional: list[dict[str, str]] = []
        self._then: dict[int, Callable[[Any], None]] = {}  # op index -> its follow-up
        self._undo: list[Callable[[], None]] = []  # run if the commit fails
        self._atomic = False  # set by a job: then the batch is sent as one MULTI/EXEC
        self._jobs: dict[int, Any] = {}  # op index -> RQ's connection, for jobs kept apart
        self._records: dict[int, dict[str, str] | None] = {}  # op index -> its event, if any

    def event(self, kind: Event, department: str | None = None, **details: Any) -> Batch:
        self._events.append(events.fields(kind, self.call_sid, self.now, department, **details))
        return self

    def call(self, **values: Any) -> Batch:
        """Record facts about this call (kept for ``keep_calls`` seconds)."""
        mapping = {k: str(v) for k, v in values.items() if v is not None}
        key = call_key(self.call_sid)
        self._ops.append(lambda p: p.hset(key, mapping=mapping))
        self._ops.append(lambda p: p.expire(key, self.keep_calls))
        return self

    def spool_if_lost(self, event: dict[str, str]) -> None:
        """An event an op writes itself (e.g. from a script); spooled if the batch fails."""
        self._conditional.append(event)

    def op(self, fn: Callable[[Any], Any], then: Callable[[Any], None] | None = None) -> Batch:
        """Queue ``fn(pipe)``; ``then`` gets the result of its first command once the commit
        has succeeded (work that must follow these writes, e.g. a job they make possible)."""
        if then is not None:
            self._then[len(self._ops)] = then
        self._ops.append(fn)
        return self

    def if_lost(self, fn: Callable[[], None]) -> Batch:
        """Run ``fn`` if the commit fails: undo what an earlier round trip did for these writes
        (e.g. release a claim), best effort, since Redis may be down."""
        self._undo.append(fn)
        return self

    def enqueue(self, queue: Queue, func: str, *args: Any, **options: Any) -> Batch:
        """An RQ job (``Queue.enqueue``) sent in this batch's round trip, not two of its own."""
        return self._job(queue, lambda p: queue.enqueue(func, *args, pipeline=p, **options))

    def enqueue_at(
        self, queue: Queue, when: datetime, func: str, *args: Any, **options: Any
    ) -> Batch:
        """A scheduled RQ job (``Queue.enqueue_at``) written in this batch's round trip."""
        return self._job(
            queue, lambda p: queue.enqueue_at(when, func, *args, pipeline=p, **options)
        )

    def _job(self, queue: Queue, fn: Callable[[Any], Any]) -> Batch:
        # All or nothing (MULTI/EXEC): a job is never half-written (a hash without its queue
        # entry), and a failed commit has normally applied nothing, so what it spools is exact.
        # RQ on a Redis of its own (the state on a cluster): the job follows the state.
        self._atomic = True
        if queue.connection is not self.r:
            self._jobs[len(self._ops)] = queue.connection
        return self.op(fn)

    def job_event(self, kind: Event, department: str | None = None, **details: Any) -> Batch:
        """An event that reports a job of this batch: written with it and, like the job, not
        spooled when the commit fails (reports never count work that was not queued)."""
        ev = events.fields(kind, self.call_sid, self.now, department, **details)
        self._records[len(self._ops)] = ev
        return self.op(lambda p: events.add(p, ev, self.retention_days))

    def job_record(self, fn: Callable[[Any], Any]) -> Batch:
        """A state write that says a job of this batch exists (e.g. a task's "has its job"
        mark): in the job's MULTI/EXEC on one Redis, after the job when RQ has its own, so
        it never claims a job that was not written."""
        self._records[len(self._ops)] = None
        return self.op(fn)

    def commit(self, what: str) -> list[Any] | None:
        """Send everything in one round trip; on failure spool the events and carry on.

        Returns the ops' results (None if the commit failed). An event Redis refused for
        coming after a later one (``events.add_at_own_time``) is written in a second round
        trip, which happens only when servers' clocks disagree or a spool is replayed."""
        if not self._ops and not self._events:
            return []
        if self._jobs:
            return self._commit_apart(what)
        try:
            pipe = self.r.pipeline(transaction=self._atomic)
            if self._atomic:
                pipe.multi()  # RQ's enqueue(pipeline=) wants MULTI issued before any command
            first = []
            for fn in self._ops:
                first.append(len(pipe))  # queued so far (a cluster pipeline has no stack)
                fn(pipe)
            first_event = len(pipe)
            for ev in self._events:
                events.add_at_own_time(pipe, ev, self.retention_days)
            results = pipe.execute(raise_on_error=False)
            for result in results:
                if isinstance(result, RedisError) and not events.refused(result):
                    raise result
        except RedisError as exc:
            self._failed(what, exc, self._events + self._conditional)
            return None
        late = [ev for ev, result in zip(self._events, results[first_event:], strict=False)
                if events.refused(result)]
        if late:  # written after a later event (another server's clock): the script's way
            try:
                again = self.r.pipeline(transaction=False)
                events.add_all(again, late, self.retention_days)
                again.execute()
            except RedisError as exc:
                self._failed(what, exc, late, step=" (events written out of order)", undo=False)
        for i, then in self._then.items():
            then(results[first[i]])
        return results[:first_event]

    def _send(self, r: Any, indexes: list[int], evs: list[dict[str, str]],
              atomic: bool) -> dict[int, Any]:
        """Some of the ops (and events) in one pipeline; each op's first result by index."""
        pipe = r.pipeline(transaction=atomic)
        if atomic:
            pipe.multi()
        first = {}
        for i in indexes:
            first[i] = len(pipe)
            self._ops[i](pipe)
        for ev in evs:
            events.add(pipe, ev, self.retention_days)
        if not len(pipe):
            return {}
        results = pipe.execute()
        return {i: results[n] if n < len(results) else None for i, n in first.items()}

    def _commit_apart(self, what: str) -> list[Any] | None:
        """The commit when RQ has a Redis of its own: the state first (one MULTI/EXEC in the
        state's slot), then the jobs (RQ's Redis), then the events and marks recording them.

        The order is the safe one: a job never runs before the state it acts on, and a job
        lost after the state was written fails the commit (None), so the caller keeps the
        work (a voicemail stays in the spool; its replay finds the task without its job and
        writes the job). Events already written are not spooled again; the job's events are
        dropped with it (reports never count work that was not queued).
        """
        jobs = sorted(self._jobs)
        records = sorted(self._records)
        state = [i for i in range(len(self._ops)) if i not in self._jobs
                 and i not in self._records]
        try:
            results = self._send(self.r, state, self._events, atomic=True)
        except RedisError as exc:
            self._failed(what, exc, self._events + self._conditional)
            return None
        by_conn: dict[int, tuple[Any, list[int]]] = {}
        for i in jobs:
            by_conn.setdefault(id(self._jobs[i]), (self._jobs[i], []))[1].append(i)
        try:
            for conn, indexes in by_conn.values():
                results |= self._send(conn, indexes, [], atomic=True)
        except RedisError as exc:
            self._failed(what, exc, [], step=" (its job; the state was written)")
            return None
        try:
            results |= self._send(self.r, records, [], atomic=True)
        except RedisError as exc:  # the jobs exist: their events are spooled, marks re-made
            self._failed(what, exc, [ev for i in records if (ev := self._records[i])],
                         step=" (its jobs' events and marks)", undo=False)
        for i, then in self._then.items():
            then(results.get(i))
        return [results.get(i) for i in range(len(self._ops))]

    def _failed(self, what: str, exc: RedisError, lost: list[dict[str, str]], *,
                step: str = "", undo: bool = True) -> None:
        """Log once, spool the ``lost`` events and undo what earlier round trips did."""
        if self.on_error is not None:
            self.on_error(what)
        log.warning(
            "redis unavailable during %s%s (call %s from %s): %s",
            what,
            step,
            self.call_sid,
            mask(self.caller),
            exc,
        )
        if lost:
            try:
                self.spool.write("events", lost)
            except OSError:
                log.exception("could not spool %d event(s) for call %s", len(lost), self.call_sid)
        for fn in self._undo if undo else ():
            try:
                fn()
            except RedisError as again:
                log.warning("could not undo after %s (call %s): %s", what, self.call_sid, again)


def replay_events(r: redis.Redis, retention_days: int, *,
                  keep_calls: int) -> Callable[[list[dict[str, str]], str], None]:
    """Spool handler: write a spooled batch of events back with their original times, once.

    A caller's leaving a queue goes through the once-only leave (``record_leave``), as when it
    was first reported: it takes them out of our record of the queue too, and writes nothing
    if their leaving is recorded meanwhile (by the live reconcile, ``ivr.live_reconcile``, or
    a commit that had applied before failing). The other events are written once per spool
    item id (``events.add_once``), however many processes replay it or how often."""

    def handler(items: list[dict[str, str]], item_id: str) -> None:
        leaves = [ev for ev in items if is_leave(ev)]
        if leaves:
            pipe = r.pipeline(transaction=False)
            for ev in leaves:
                record_leave(pipe, ev, retention_days, keep_calls)
            pipe.execute()
        events.add_once(r, item_id, [ev for ev in items if not is_leave(ev)], retention_days)

    return handler


_LEAVE = events.LUA_ADD + """
if redis.call('HSETNX', KEYS[1], 'left_reason', ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'waited', ARGV[2], 'left_at', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('ZREM', KEYS[2], ARGV[5])
add_event(KEYS[3], ARGV[8], ARGV[6], cjson.decode(ARGV[7]))
return 1
"""

# The events that record a caller leaving a queue (``leave_queue``), each with its reason.
LEAVE_KINDS = frozenset({Event.CONNECT, Event.ABANDON, Event.EXIT_TIMEOUT, Event.FULL,
                          Event.EXIT_ERROR})


def leave_queue(batch: Batch, dept: str, reason: str, waited: int, event: Event,
                **details: Any) -> None:
    """Record once (atomically) that a caller left a queue, and why; repeats are ignored.

    Twilio reports a hang-up twice (the Enqueue action and the status callback): only the
    first report counts, so reports never double-count abandoned calls.
    """
    ev = events.fields(event, batch.call_sid, batch.now, dept, reason=reason, wait=waited,
                       **details)
    batch.spool_if_lost(ev)
    batch.op(lambda p: record_leave(p, ev, batch.retention_days, batch.keep_calls))


def is_leave(ev: dict[str, str]) -> bool:
    """Is this (flat) event a caller leaving a queue, as ``leave_queue`` writes it?"""
    if ev.get("event") not in LEAVE_KINDS or not ev.get("call") or not ev.get("dept"):
        return False
    data = json.loads(ev.get("data") or "{}")
    return "reason" in data and "wait" in data


def record_leave(target: Any, ev: dict[str, str], retention_days: int | None,
                 keep_calls: int) -> Any:
    """The once-only leave that ``ev`` (a ``leave_queue`` event: its call, department, time,
    reason and wait) records, on a pipeline (queued) or a client (run: 1 if recorded now, 0
    if the caller's leaving was already recorded). The event is written only with it."""
    data = json.loads(ev["data"])
    flat = [x for kv in ev.items() for x in kv]
    return keys.eval_script(
        target,
        _LEAVE,
        3,
        call_key(ev["call"]),
        queue_key(ev["dept"]),
        events.STREAM,
        data["reason"],
        data["wait"],
        ev["ts"],
        keep_calls,
        ev["call"],
        events.min_id(events.ms(ev), retention_days),
        json.dumps(flat),
        events.ms(ev),
    )
