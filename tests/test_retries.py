"""Every job that keeps a promise is retried by RQ, and one that fails for good lands in RQ's
failed registry (``ivr_jobs_failed`` on ``/metrics``), never silently."""

from __future__ import annotations

import time

import redis
from jobs import run_due_jobs
from rq import Queue
from rq.registry import FailedJobRegistry

from ivr import agents, messaging
from ivr.agents.jobs import END_WRAP_UP, END_WRAP_UP_RETRY


def run_until_failed(redis_client, queue: Queue, job, retry) -> list[str]:
    """Runs the job and each retry as the scheduler would, in turn; the statuses it went
    through."""
    seen = []
    start = time.time()
    for attempt in range(retry.max + 1):
        if attempt == 0:
            queue.enqueue_job(job)
        run_due_jobs(redis_client, queue.name, start + 3600 * attempt)
        job.refresh()
        seen.append(job.get_status())
    return seen


def test_an_end_of_wrap_up_that_cannot_reach_the_state_is_retried_then_failed(
        redis_client, monkeypatch):
    def down(*args, **kwargs):
        raise redis.ConnectionError("the state's Redis is down")

    monkeypatch.setattr(agents, "get", down)
    queue = Queue("callbacks", connection=redis_client)
    job = queue.create_job(END_WRAP_UP, args=("1001", 1.0), retry=END_WRAP_UP_RETRY)
    seen = run_until_failed(redis_client, queue, job, END_WRAP_UP_RETRY)
    assert seen == ["scheduled"] * END_WRAP_UP_RETRY.max + ["failed"]
    assert job.id in FailedJobRegistry("callbacks", connection=redis_client)


def test_a_text_twilio_keeps_refusing_is_retried_then_failed(redis_client, twilio):
    twilio.fail_status, twilio.fail_next = 500, 100
    queue = Queue("messages", connection=redis_client)
    job = queue.create_job(messaging.SEND_SMS, args=("+447700900123", "hi", "+441206282222"),
                           retry=messaging.RETRY)
    seen = run_until_failed(redis_client, queue, job, messaging.RETRY)
    assert seen == ["scheduled"] * messaging.RETRY.max + ["failed"]
    assert job.id in FailedJobRegistry("messages", connection=redis_client)
    assert twilio.messages == []
