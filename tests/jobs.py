"""Running RQ as the service does, for tests: the scheduler's move of due jobs, then a worker."""

from __future__ import annotations

import time_machine
from rq import Queue, SimpleWorker
from rq.scheduler import RQScheduler


class Worker(SimpleWorker):
    """RQ's burst worker without its pubsub thread for remote commands (kill, stop), which
    tests never send: joining that thread at teardown is a timed lock wait, which stalls
    under libfaketime (``scripts/test --clock-ahead``) and costs time everywhere."""

    def subscribe(self) -> None:
        pass

    def unsubscribe(self) -> None:
        pass


def run_due_jobs(redis_client, queue_name: str, when) -> int:
    """What RQ's scheduler and worker (``ivr serve``) do at ``when`` (epoch seconds or ISO text):
    moves the jobs due by then to the queue and runs them. Returns the jobs moved."""
    queue = Queue(queue_name, connection=redis_client)
    with time_machine.travel(when, tick=True):
        scheduler = RQScheduler([queue], connection=redis_client)
        scheduler.acquire_locks()
        scheduler.enqueue_scheduled_jobs()
        scheduler.release_locks()
        moved = queue.count
        Worker([queue], connection=redis_client).work(burst=True)
    assert queue.count == 0
    return moved
