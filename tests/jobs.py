"""Running RQ as the service does, for tests: the scheduler's move of due jobs, then a worker."""

from __future__ import annotations

import time_machine
from rq import Queue, SimpleWorker
from rq.scheduler import RQScheduler


def run_due_jobs(redis_client, queue_name: str, when) -> int:
    """What ``rq worker --with-scheduler`` does at ``when`` (epoch seconds or ISO text):
    moves the jobs due by then to the queue and runs them. Returns the jobs moved."""
    queue = Queue(queue_name, connection=redis_client)
    with time_machine.travel(when, tick=True):
        scheduler = RQScheduler([queue], connection=redis_client)
        scheduler.acquire_locks()
        scheduler.enqueue_scheduled_jobs()
        scheduler.release_locks()
        moved = queue.count
        SimpleWorker([queue], connection=redis_client).work(burst=True)
    assert queue.count == 0
    return moved
