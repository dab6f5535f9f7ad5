"""Whether RQ's jobs are moving, and the repairs for when they are not (RQ only: no Flask, no
app state). Pass RQ's own connection (``RQ_REDIS_URL`` when set, ``ivr.connections.rq_url``).

``read`` gives ``/metrics`` its figures: workers and the age of their freshest heartbeat,
whether a living scheduler holds each queue, and per queue the jobs waiting, the scheduled
jobs overdue (a stalled scheduler) and the failed ones (retries spent).

``repair``, for a periodic reconciler, mends what a dead process leaves behind:

- **overdue scheduled jobs** (time passed by more than ``grace``) are moved to their queues by
  RQ's own scheduler code under its per-queue lock, so never while a living scheduler holds
  that queue;
- **abandoned executions** (a started job whose worker and work-horse both died) go through
  RQ's own cleanup (retried if it has retries left, else failed) now, not at a worker's next
  10-minute maintenance;
- **orphans**: a job whose status is queued (or started) but which is in no queue, holds no
  live execution and is scheduled nowhere. RQ 3.0 leaves one behind when a worker serving more
  than one queue (ours serve two) is killed between taking a job id (``BLPOP``) and recording
  its execution; or between recording it and its work-horse marking it started, since RQ's
  cleanup then drops the lapsed execution without touching a job that is not "started". One
  serving a single queue takes jobs through an intermediate list, which RQ cleans on its
  maintenance by failing the job; here a job in that list is an orphan too, enqueued again
  without spending a retry. A healthy worker passes through these states in milliseconds, so
  an orphan is enqueued only once it has been seen in one for ``grace`` seconds (first seen in
  the ``SUSPECTS`` hash), and only in a transaction that checks it again.

Times are epoch seconds on the process clock, as RQ writes them (its scores and heartbeats).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from uuid import uuid4

from redis import Redis
from redis.exceptions import WatchError
from rq import Queue, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.scheduler import SCHEDULER_KEY_TEMPLATE, RQScheduler
from rq.utils import as_text, utcparse

OVERDUE_AFTER = 60.0  # a scheduled job this late counts as overdue (the scheduler beats each 1 s)
SCHEDULER_STALE = 10.0  # a scheduler silent this long is not up (RQ's lock outlives it by 61 s)
SUSPECTS = "ivr:jobhealth:suspects"  # on RQ's Redis: job id -> when first seen orphaned
_CANDIDATES = frozenset({JobStatus.QUEUED.value, JobStatus.STARTED.value})


@dataclass(frozen=True)
class QueueHealth:
    queued: int  # waiting in the queue
    overdue: int  # scheduled, their time passed more than OVERDUE_AFTER ago
    failed: int  # in RQ's FailedJobRegistry (retries spent, or none)
    scheduler_up: bool  # a scheduler holds the queue's lock and beat within SCHEDULER_STALE
    scheduler_age: float | None = None  # seconds since its beat; None: no scheduler holds it
    failed_by_function: dict[str, int] | None = None  # the failed ones by job function


@dataclass(frozen=True)
class Health:
    workers: int  # RQ workers registered on any of the queues
    heartbeat_age: float | None  # seconds since the freshest worker heartbeat; None: no worker
    queues: dict[str, QueueHealth]


@dataclass(frozen=True)
class Repair:
    scheduled: int  # overdue scheduled jobs moved to their queues
    abandoned: int  # started jobs whose execution lapsed, retried or failed by RQ's cleanup
    orphans: int  # jobs in no queue or registry, enqueued again
    suspects: int  # possible orphans, not yet seen for ``grace`` seconds


def read(connection: Redis, queue_names: Sequence[str], now: float | None = None) -> Health:
    """The figures ``/metrics`` reports, read through RQ's API."""
    now = time.time() if now is None else now
    wanted = set(queue_names)
    workers = [w for w in Worker.all(connection=connection) if wanted & set(w.queue_names())]
    beats = [w.last_heartbeat.timestamp() for w in workers if w.last_heartbeat is not None]
    queues = {}
    for name in queue_names:
        scheduled = ScheduledJobRegistry(name, connection=connection)
        failed = FailedJobRegistry(name, connection=connection)
        age = _scheduler_age(connection, name, now)
        queues[name] = QueueHealth(
            queued=Queue(name, connection=connection).count,
            overdue=connection.zcount(scheduled.key, 0, now - OVERDUE_AFTER),
            failed=failed.get_job_count(cleanup=False),
            scheduler_up=age <= SCHEDULER_STALE,
            scheduler_age=None if age == float("inf") else max(0.0, age),
            failed_by_function=failed_by_function(connection, failed),
        )
    return Health(workers=len(workers), heartbeat_age=now - max(beats) if beats else None,
                  queues=queues)


FAILED_READ_LIMIT = 1000  # failed jobs read per queue and scrape (newest first)


def failed_by_function(connection: Redis, registry: FailedJobRegistry) -> dict[str, int]:
    """The failed registry's jobs counted by their function (``ivr.messaging.send_sms``...),
    the newest ``FAILED_READ_LIMIT``; a job that expired meanwhile is not counted."""
    ids = [as_text(x) for x in connection.zrevrange(registry.key, 0, FAILED_READ_LIMIT - 1)]
    counts: dict[str, int] = {}
    for job in Job.fetch_many(ids, connection=connection):
        if job is not None:
            counts[job.func_name] = counts.get(job.func_name, 0) + 1
    return counts


def _scheduler_age(connection: Redis, queue_name: str, now: float) -> float:
    """Seconds since the holder of the queue's scheduler lock beat (inf: no holder)."""
    owner = connection.get(RQScheduler.get_locking_key(queue_name))
    if owner is None:
        return float("inf")
    beat = connection.hget(SCHEDULER_KEY_TEMPLATE % as_text(owner), "last_heartbeat")
    return now - utcparse(as_text(beat)).timestamp() if beat else float("inf")


def repair(connection: Redis, queue_names: Sequence[str], *, grace: float = 60.0,
           now: float | None = None) -> Repair:
    """Move overdue scheduled jobs, clean lapsed executions and enqueue orphans again, for
    the queues ``queue_names`` on RQ's ``connection``. Safe beside living workers and
    schedulers, and beside another ``repair``; meant to run every 30 s or so."""
    now = time.time() if now is None else now
    scheduled = enqueue_overdue(connection, queue_names, grace=grace, now=now)
    abandoned = clean_abandoned(connection, queue_names, now=now)
    orphans, suspects = requeue_orphans(connection, queue_names, grace=grace, now=now)
    return Repair(scheduled=scheduled, abandoned=abandoned, orphans=orphans, suspects=suspects)


def enqueue_overdue(connection: Redis, queue_names: Iterable[str], *, grace: float,
                    now: float) -> int:
    """What RQ's scheduler does, for the queues with a job overdue by more than ``grace``
    whose lock no living scheduler holds. Returns the jobs moved."""
    late = [n for n in queue_names
            if connection.zcount(ScheduledJobRegistry(n, connection=connection).key, 0,
                                 now - grace)]
    if not late:
        return 0
    scheduler = RQScheduler(late, connection=connection, name=f"ivr-jobhealth-{uuid4().hex}")
    mine = scheduler.acquire_locks()
    if not mine:
        return 0
    try:
        registries = [ScheduledJobRegistry(n, connection=connection) for n in mine]
        due = sum(len(r.get_jobs_to_schedule()) for r in registries)
        scheduler.enqueue_scheduled_jobs()
        return due - sum(len(r.get_jobs_to_schedule()) for r in registries)
    finally:
        scheduler.release_locks()


def clean_abandoned(connection: Redis, queue_names: Iterable[str], *, now: float) -> int:
    """RQ's cleanup of executions that stopped beating (``StartedJobRegistry.cleanup``).
    Returns the started jobs it handled."""
    handled = 0
    for name in queue_names:
        started = StartedJobRegistry(name, connection=connection)
        expired = started.get_expired_job_ids(now)
        if not expired:
            continue
        handled += sum(1 for job in Job.fetch_many(expired, connection=connection)
                       if job is not None and job.get_status(refresh=False) == JobStatus.STARTED)
        started.cleanup(timestamp=now)
    return handled


def requeue_orphans(connection: Redis, queue_names: Sequence[str], *, grace: float,
                    now: float) -> tuple[int, int]:
    """Enqueue again the jobs that have sat in no queue and no registry for ``grace``
    seconds (see the module's docstring). Returns (enqueued, still within grace).

    It reads every RQ job's status (a ``SCAN`` of RQ's Redis, then one pipelined round trip):
    nothing else records a job between a worker's ``BLPOP`` and its first write."""
    held = {name: _held(connection, name, now) for name in queue_names}
    found = {job.id: job for job in _candidates(connection, held)
             if _orphaned(job, held[job.origin], now, grace)}
    first_seen = {as_text(k): float(v) for k, v in connection.hgetall(SUSPECTS).items()}
    due = [j for i, j in found.items() if now - first_seen.get(i, now) >= grace]
    with connection.pipeline() as pipe:
        gone = [i for i in first_seen if i not in found]
        if gone:
            pipe.hdel(SUSPECTS, *gone)
        new = {i: now for i in found if i not in first_seen}
        if new:
            pipe.hset(SUSPECTS, mapping=new)
        pipe.execute()
    enqueued = [job.id for job in due if _requeue(connection, job, now, grace)]
    if enqueued:
        connection.hdel(SUSPECTS, *enqueued)
    return len(enqueued), len(found) - len(enqueued)


@dataclass(frozen=True)
class _Held:
    queued: frozenset[str]  # ids in the queue
    running: frozenset[str]  # ids with a live execution
    scheduled: frozenset[str]  # ids in the scheduled registry


def _held(connection: Redis, name: str, now: float) -> _Held:
    queue = Queue(name, connection=connection)
    started = StartedJobRegistry(name, connection=connection)
    live = connection.zrangebyscore(started.key, now, "+inf")
    return _Held(
        queued=frozenset(queue.get_job_ids()),
        running=frozenset(started.parse_job_id(e) for e in live),
        scheduled=frozenset(ScheduledJobRegistry(name, connection=connection)
                            .get_job_ids(cleanup=False)),
    )


def _candidates(connection: Redis, held: dict[str, _Held]) -> list[Job]:
    """Jobs of these queues whose status says queued or started, wherever they are."""
    prefix = Job.redis_job_namespace_prefix
    ids = [rest for key in connection.scan_iter(match=f"{prefix}*", count=1000, _type="hash")
           if ":" not in (rest := as_text(key)[len(prefix):])]
    with connection.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.hmget(Job.key_for(job_id), "status", "origin")
        fields = pipe.execute()
    wanted = [i for i, (status, origin) in zip(ids, fields, strict=True)
              if status and as_text(status) in _CANDIDATES
              and origin and as_text(origin) in held]
    return [job for job in Job.fetch_many(wanted, connection=connection) if job is not None]


def _orphaned(job: Job, held: _Held, now: float, grace: float) -> bool:
    if job.get_status(refresh=False) not in _CANDIDATES:
        return False
    if job.id in held.queued or job.id in held.running or job.id in held.scheduled:
        return False
    if job.get_status(refresh=False) == JobStatus.STARTED:
        # its execution lapsed; a work-horse still running it would still be beating
        beat = job.last_heartbeat or job.started_at
        return beat is None or now - beat.timestamp() > grace
    return True


def _requeue(connection: Redis, job: Job, now: float, grace: float) -> bool:
    """Enqueue ``job`` again if it is still an orphan, in a transaction that fails (and does
    nothing) when a worker, a scheduler or another repair touches it meanwhile."""
    queue = Queue(job.origin, connection=connection)
    started = StartedJobRegistry(queue.name, connection=connection)
    scheduled = ScheduledJobRegistry(queue.name, connection=connection)
    with connection.pipeline() as pipe:
        try:
            pipe.watch(job.key, queue.key, started.key, scheduled.key,
                       queue.intermediate_queue_key)
            job = Job.fetch(job.id, connection=connection)
            entries = {e: score for e, score in pipe.zrange(started.key, 0, -1, withscores=True)
                       if started.parse_job_id(e) == job.id}
            held = _Held(
                queued=_when(pipe.lpos(queue.key, job.id) is not None, job.id),
                running=_when(any(score >= now for score in entries.values()), job.id),
                scheduled=_when(pipe.zscore(scheduled.key, job.id) is not None, job.id),
            )
            if not _orphaned(job, held, now, grace):
                return False
            pipe.multi()
            if entries:
                pipe.zrem(started.key, *entries)  # lapsed: RQ's cleanup must not act on it
            pipe.lrem(queue.intermediate_queue_key, 0, job.id)
            job.started_at = job.ended_at = None
            queue.enqueue_job(job, pipeline=pipe)
            pipe.execute()
        except (WatchError, NoSuchJobError):
            return False
    return True


def _when(condition: bool, job_id: str) -> frozenset[str]:
    return frozenset([job_id]) if condition else frozenset()
