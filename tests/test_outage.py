"""Fault injection: RQ's worker and scheduler, supervised as ``ivr serve`` runs them
(``ivr.serve.job_children`` under ``ivr.supervise.Supervisor``), against a redis-server of the
test's own (``faults.RedisServer``) that is stopped for 10 s and started again. Every due job
runs once Redis is back.

The processes keep the real clock, as Redis does, so the jobs' times are Redis's (``TIME``).
"""

from __future__ import annotations

import io
import os
import signal
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from faults import RedisServer, missing_redis
from rq import Queue, Worker
from rq.scheduler import RQScheduler
from rq_faults import RAN, child_env, record, wait_for
from test_supervise import supervised

from ivr import serve
from ivr.supervise import Supervisor

QUEUES = ["callbacks", "messages"]
OUTAGE = 10.0
BOUND = 60.0  # seconds after Redis's return by which every due job must have run

pytestmark = pytest.mark.skipif(bool(missing_redis()), reason=missing_redis())


@pytest.fixture
def server(tmp_path):
    """A redis-server of the test's own, stopped (SIGTERM) and started again on its data."""
    own = RedisServer(tmp_path / "redis").start()
    yield own
    own.stop()


def redis_now(r) -> float:
    seconds, micro = r.time()
    return seconds + micro / 1e6


def jobs_service(url: str, log: io.StringIO) -> tuple[Supervisor, str]:
    """``ivr serve``'s worker and scheduler. Stopped after 5 s rather than 15: RQ 3.0's worker
    now and then hangs in its warm shutdown (it unsubscribes before stopping its pubsub
    thread, then joins that thread, which waits up to 60 s for a subscription)."""
    name = f"test-scheduler-{uuid.uuid4().hex[:8]}"
    specs = [replace(s, stop_timeout=5) for s in serve.job_children(url, QUEUES, child_env(), name)]
    return Supervisor(specs, log=log), name


def ready(r, name: str) -> bool:
    """The scheduler holds both queues and a worker is registered."""
    owners = {r.get(RQScheduler.get_locking_key(q)) for q in QUEUES}
    return owners == {name.encode()} and Worker.count(connection=r) >= 1


def test_due_jobs_run_after_redis_is_stopped_and_started_again(server):
    log = io.StringIO()
    r = server.client()
    supervisor, name = jobs_service(server.url, log)
    with supervised(supervisor):
        wait_for(lambda: ready(r, name), 30, "the scheduler and the worker start")
        t = redis_now(r)
        callbacks, messages = (Queue(q, connection=r) for q in QUEUES)
        during = [callbacks.enqueue_at(datetime.fromtimestamp(t + d, UTC), record,
                                       f"due at +{d}s") for d in (3, 6, 9)]
        during.append(messages.enqueue_at(datetime.fromtimestamp(t + 5, UTC), record,
                                          "text due at +5s"))
        after = callbacks.enqueue_at(datetime.fromtimestamp(t + OUTAGE + 4, UTC), record,
                                     "due after the outage")
        server.stop()  # SIGTERM: Redis writes its append-only file and exits
        time.sleep(OUTAGE)
        server.start()
        back = time.monotonic()
        wait_for(lambda: all(j.get_status(refresh=True) == "finished" for j in during),
                 BOUND, f"the jobs due during the outage run (log: {log.getvalue()})")
        late = time.monotonic() - back
        wait_for(lambda: after.get_status(refresh=True) == "finished", BOUND,
                 "the job due after the outage runs")
        print(f"\njobs due during the outage ran {late:.1f} s after Redis returned; "
              f"restarts {supervisor.restarts}")
    assert sorted(x.decode() for x in r.lrange(RAN, 0, -1)) == sorted(
        [j.args[0] for j in during] + ["due after the outage"])
    assert supervisor.restarts["scheduler"] >= 1  # RQ's scheduler ends at the first error
    assert "serve: scheduler exited (code 1)" in log.getvalue()


def test_a_killed_scheduler_comes_back_with_its_locks_at_once(server):
    """Under the same name, so it refreshes the locks its predecessor held, rather than
    waiting 61 s for them to expire and then up to 120 s more to try again."""
    r = server.client()
    supervisor, name = jobs_service(server.url, io.StringIO())
    with supervised(supervisor):
        wait_for(lambda: ready(r, name), 30, "the scheduler and the worker start")
        os.kill(supervisor.pid("scheduler"), signal.SIGKILL)
        job = Queue("callbacks", connection=r).enqueue_at(
            datetime.fromtimestamp(redis_now(r) + 2, UTC), record, "after the kill")
        wait_for(lambda: job.get_status(refresh=True) == "finished", 20,
                 "the job due after the kill runs")
        assert supervisor.restarts["scheduler"] == 1
        assert r.get(RQScheduler.get_locking_key("callbacks")) == name.encode()
