"""Jobs and workers for RQ processes the fault tests start (a redis-server of their own is
``faults.RedisServer``).

RQ worker processes import this module (``child_env`` puts ``tests/`` on their path), so it
imports nothing heavier than RQ at the top.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import redis
from rq import Worker, get_current_job

ROOT = Path(__file__).resolve().parent.parent
RAN = "test:rq:ran"  # the probe job's record, on RQ's Redis
TAKEN_ENV = "IVR_TEST_TAKEN"  # file a pausing worker writes the taken job's id to


def wait_for(check: Callable[[], object], seconds: float, what: str) -> object:
    """Poll ``check`` until it is truthy (Redis errors count as not yet)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            value = check()
        except redis.RedisError:
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds:.0f} s: {what}")


def child_env(**extra: str) -> dict[str, str]:
    """For RQ processes the tests start: this checkout and ``tests/`` first on the path, and
    the real clock (as production's, and the Redis they share)."""
    from conftest import real_clock_env

    env = real_clock_env()
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "tests"),
                                         env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


def rq_command(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "rq"), *args]


def kill(proc: subprocess.Popen) -> None:
    """kill -9, and reap it."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


# -- run inside RQ worker processes ------------------------------------------------------------


def record(label: str) -> str:
    """A job: notes that it ran, on RQ's Redis."""
    get_current_job().connection.rpush(RAN, label)
    return label


def stall_once(label: str) -> str:
    """A job that stalls on its first run (its work-horse's pid in ``test:rq:stalled:<label>``,
    to be killed), and records ``label`` when run again."""
    connection = get_current_job().connection
    if connection.set(f"test:rq:stalled:{label}", os.getpid(), nx=True):
        time.sleep(3600)
    return record(label)


def _announce(job_id: str) -> None:
    Path(os.environ[TAKEN_ENV]).write_text(job_id)


class PausingWorker(Worker):
    """Takes a job off the queue, then waits before recording its execution: a kill -9 there
    is a worker dying between RQ's ``BLPOP`` and its first write about the job."""

    def prepare_execution(self, job):
        _announce(job.id)
        time.sleep(3600)


class PausingAfterRecordWorker(Worker):
    """Records the job's execution (RQ's started registry), then waits before its work-horse
    marks the job started: a kill -9 there leaves the job ``queued`` with a lapsing entry."""

    def prepare_execution(self, job):
        execution = super().prepare_execution(job)
        _announce(job.id)
        time.sleep(3600)
        return execution
