"""ivr.jobhealth.repair: what dead RQ processes leave behind is found and run.

The orphans are made by real ``rq worker`` processes killed with kill -9 at the moment that
leaves them (``rq_faults.PausingWorker``: right after taking a job off the queue, before any
record of it), then run by a worker as the service's would. The worker processes keep the
real clock, as Redis does, so the times given to ``repair`` are Redis's (``TIME``).
"""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime

import pytest
from conftest import TEST_REDIS_URL
from jobs import Worker
from rq import Queue, Retry
from rq.job import Job
from rq.registry import StartedJobRegistry
from rq.scheduler import RQScheduler
from rq_faults import (
    RAN,
    TAKEN_ENV,
    child_env,
    kill,
    record,
    rq_command,
    wait_for,
)

from ivr import jobhealth

QUEUES = ["callbacks", "messages"]  # as the service's worker: two queues, so RQ uses BLPOP


def redis_now(r) -> float:
    seconds, micro = r.time()
    return seconds + micro / 1e6


def worker_that_stops_after_taking(tmp_path, worker_class: str) -> tuple[subprocess.Popen, str]:
    """An ``rq worker`` process that takes the next job and stops there; returns it and the
    id of the job it took."""
    taken = tmp_path / "taken"
    log = (tmp_path / "worker.log").open("w")
    proc = subprocess.Popen(
        rq_command("worker", "--url", TEST_REDIS_URL, "--worker-class",
                   f"rq_faults.{worker_class}", *QUEUES),
        env=child_env(**{TAKEN_ENV: str(taken)}), stdout=log, stderr=subprocess.STDOUT)
    try:
        job_id = wait_for(lambda: taken.exists() and taken.read_text(), 20,
                          f"the worker takes a job (see {tmp_path / 'worker.log'})")
    except AssertionError:
        kill(proc)
        raise
    return proc, job_id


def where(r, job: Job) -> tuple[str, bool, bool]:
    """The job's status, whether it is in its queue, and in RQ's started registry."""
    job.refresh()
    queue = Queue(job.origin, connection=r)
    started = StartedJobRegistry(job.origin, connection=r)
    return (job.get_status(), job.id in queue.get_job_ids(),
            job.id in started.get_job_ids(cleanup=False))


def run_queues(r) -> list[str]:
    Worker([Queue(n, connection=r) for n in QUEUES], connection=r).work(burst=True)
    return [x.decode() for x in r.lrange(RAN, 0, -1)]


def test_a_job_taken_by_a_worker_killed_at_once_is_found_and_runs(redis_client, tmp_path):
    job = Queue("callbacks", connection=redis_client).enqueue(record, "release T1")
    worker, taken = worker_that_stops_after_taking(tmp_path, "PausingWorker")
    assert taken == job.id
    kill(worker)
    # RQ 3.0 has lost it: queued, yet in no queue and no registry, and no worker will see it.
    assert where(redis_client, job) == ("queued", False, False)
    assert run_queues(redis_client) == []  # a worker, with RQ's maintenance, never finds it

    t = redis_now(redis_client)
    assert jobhealth.repair(redis_client, QUEUES, grace=60, now=t) == jobhealth.Repair(
        scheduled=0, abandoned=0, orphans=0, suspects=1)  # a healthy worker's moment, so far
    assert jobhealth.repair(redis_client, QUEUES, grace=60, now=t + 30).orphans == 0
    assert jobhealth.repair(redis_client, QUEUES, grace=60, now=t + 61) == jobhealth.Repair(
        scheduled=0, abandoned=0, orphans=1, suspects=0)
    assert where(redis_client, job) == ("queued", True, False)
    assert not redis_client.exists(jobhealth.SUSPECTS)

    assert run_queues(redis_client) == ["release T1"]
    assert where(redis_client, job)[0] == "finished"
    assert jobhealth.repair(redis_client, QUEUES, grace=0, now=t + 62).orphans == 0


def test_a_job_whose_execution_was_recorded_but_never_started_runs(redis_client, tmp_path):
    """Killed after writing the execution, before the work-horse marks the job started: RQ's
    cleanup later drops the lapsed entry and leaves the job queued, nowhere."""
    job = Queue("messages", connection=redis_client).enqueue(record, "sms")
    worker, _ = worker_that_stops_after_taking(tmp_path, "PausingAfterRecordWorker")
    t = redis_now(redis_client)
    kill(worker)
    assert where(redis_client, job) == ("queued", False, True)

    # while its execution's entry lives (90 s), a worker may still be about to start it
    assert jobhealth.repair(redis_client, QUEUES, grace=60, now=t).suspects == 0
    later = t + 100
    assert jobhealth.repair(redis_client, QUEUES, grace=60, now=later).suspects == 1
    assert jobhealth.repair(redis_client, QUEUES, grace=60, now=later + 60).orphans == 1
    assert where(redis_client, job) == ("queued", True, False)
    assert run_queues(redis_client) == ["sms"]


def test_a_started_job_whose_worker_and_work_horse_died_is_retried(redis_client, tmp_path):
    """RQ's own cleanup, run by repair at once rather than at a worker's maintenance."""
    job = Queue("callbacks", connection=redis_client).enqueue(
        "rq_faults.stall_once", "delete RE1", retry=Retry(max=2))
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(rq_command("worker", "--url", TEST_REDIS_URL, *QUEUES),
                              env=child_env(), stdout=log, stderr=subprocess.STDOUT)
    horse = int(wait_for(lambda: redis_client.get("test:rq:stalled:delete RE1"), 20,
                         "the job starts"))
    t = redis_now(redis_client)
    kill(worker)
    subprocess.run(["kill", "-9", str(horse)], check=True)
    assert where(redis_client, job) == ("started", False, True)

    assert jobhealth.repair(redis_client, QUEUES, grace=60, now=t).abandoned == 0  # beating
    assert jobhealth.repair(redis_client, QUEUES, grace=60, now=t + 100).abandoned == 1
    assert where(redis_client, job) == ("queued", True, False)
    assert run_queues(redis_client) == ["delete RE1"]
    job.refresh()
    assert job.get_status() == "finished" and job.retries_left == 1


def test_jobs_where_they_belong_are_left_alone(redis_client):
    queue = Queue("callbacks", connection=redis_client)
    queue.enqueue(record, "waiting")
    queue.enqueue_at(datetime.fromtimestamp(time.time() + 3600, UTC), record, "later")
    assert jobhealth.repair(redis_client, QUEUES, grace=0) == jobhealth.Repair(0, 0, 0, 0)
    assert queue.count == 1
    assert run_queues(redis_client) == ["waiting"]
    assert jobhealth.repair(redis_client, QUEUES, grace=0) == jobhealth.Repair(0, 0, 0, 0)


def test_overdue_scheduled_jobs_move_unless_a_living_scheduler_holds_the_queue(redis_client):
    now = time.time()
    queue = Queue("callbacks", connection=redis_client)
    late = queue.enqueue_at(datetime.fromtimestamp(now - 120, UTC), record, "late")
    later = queue.enqueue_at(datetime.fromtimestamp(now + 3600, UTC), record, "later")

    other = RQScheduler(["callbacks"], connection=redis_client, name="living")
    assert other.acquire_locks() == {"callbacks"}
    assert jobhealth.repair(redis_client, QUEUES, grace=60, now=now).scheduled == 0
    other.release_locks()

    assert jobhealth.repair(redis_client, QUEUES, grace=60, now=now).scheduled == 1
    assert queue.get_job_ids() == [late.id]
    assert later.get_status() == "scheduled"
    assert not redis_client.exists(RQScheduler.get_locking_key("callbacks"))  # released
    assert run_queues(redis_client) == ["late"]


def test_a_scheduled_job_within_grace_is_left_to_the_scheduler(redis_client):
    now = time.time()
    queue = Queue("callbacks", connection=redis_client)
    queue.enqueue_at(datetime.fromtimestamp(now - 30, UTC), record, "just due")
    assert jobhealth.repair(redis_client, QUEUES, grace=60, now=now).scheduled == 0
    assert queue.count == 0


@pytest.mark.parametrize("grace", [0, 60])
def test_repair_on_an_empty_redis_does_nothing(redis_client, grace):
    assert jobhealth.repair(redis_client, QUEUES, grace=grace) == jobhealth.Repair(0, 0, 0, 0)


def test_a_job_left_in_rqs_intermediate_list_is_enqueued_again(redis_client):
    """A worker serving one queue takes jobs through an intermediate list (``LMOVE``); one
    dying there leaves the job in it, which RQ's maintenance would fail rather than run."""
    queue = Queue("callbacks", connection=redis_client)
    job = queue.enqueue(record, "single-queue worker")
    taken, _ = Queue.dequeue_any([queue], None, connection=redis_client)  # and then it died
    assert taken.id == job.id
    assert queue.intermediate_queue.get_job_ids() == [job.id]
    t = time.time()
    assert jobhealth.repair(redis_client, QUEUES, grace=60, now=t).suspects == 1
    assert jobhealth.repair(redis_client, QUEUES, grace=60, now=t + 60).orphans == 1
    assert queue.intermediate_queue.get_job_ids() == []
    assert queue.get_job_ids() == [job.id]
    assert run_queues(redis_client) == ["single-queue worker"]


@pytest.mark.parametrize(("beat_ago", "orphan"), [(5, False), (120, True)])
def test_a_started_job_in_no_registry_is_an_orphan_once_it_stops_beating(redis_client,
                                                                         beat_ago, orphan):
    queue = Queue("callbacks", connection=redis_client)
    job = queue.enqueue(record, "started somewhere")
    now = time.time()
    queue.remove(job)
    job.set_status("started")
    job.heartbeat(datetime.fromtimestamp(now - beat_ago, UTC), ttl=600)
    repaired = jobhealth.repair(redis_client, QUEUES, grace=60, now=now)
    assert repaired.suspects == int(orphan)
    assert jobhealth.repair(redis_client, QUEUES, grace=60, now=now + 60).orphans == int(orphan)
    assert (job.id in queue.get_job_ids()) is orphan
