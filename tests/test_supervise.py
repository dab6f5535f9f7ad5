"""ivr.supervise: ``ivr serve``'s children are started again after a backoff, and a stop
request ends them all, the embedded Redis last."""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from rq_faults import wait_for

from ivr import serve
from ivr.supervise import Backoff, ChildSpec, Supervisor


@contextmanager
def supervised(supervisor: Supervisor) -> Iterator[Supervisor]:
    """``supervisor.run()`` in a thread (as ``ivr serve`` runs it), stopped afterwards."""
    thread = threading.Thread(target=supervisor.run, daemon=True)
    thread.start()
    try:
        yield supervisor
    finally:
        supervisor.request_stop()
        # polled, not join(timeout=): a timed lock wait stalls under libfaketime
        wait_for(lambda: not thread.is_alive(), 60, "the supervisor stops")


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


@pytest.mark.parametrize(("failures", "delay"), [(1, 1), (2, 2), (3, 4), (5, 16), (6, 30),
                                                  (40, 30)])
def test_the_wait_doubles_up_to_its_cap(failures, delay):
    assert Backoff().delay(failures) == delay


@pytest.mark.parametrize(("previous", "uptime", "failures"), [
    (0, 0.5, 1), (3, 0.5, 4), (3, 59.9, 4), (3, 60, 1), (7, 3600, 1)])
def test_a_child_that_stayed_up_starts_the_count_again(previous, uptime, failures):
    assert Backoff().failures(previous, uptime) == failures


def test_a_child_that_exits_is_started_again_after_a_backoff():
    log = io.StringIO()
    supervisor = Supervisor([ChildSpec("steady", python("import time; time.sleep(600)")),
                             ChildSpec("flaky", python("import sys; sys.exit(3)"))],
                            backoff=Backoff(first=0.1, cap=0.4), log=log)
    with supervised(supervisor):
        steady = wait_for(lambda: supervisor.pid("steady"), 10, "steady runs")
        wait_for(lambda: supervisor.restarts["flaky"] >= 4, 20, "flaky restarted 4 times")
        assert supervisor.pid("steady") == steady
    lines = [line for line in log.getvalue().splitlines() if "flaky" in line]
    assert lines[0].startswith("serve: flaky exited (code 3) after ")
    assert lines[0].endswith("starting it again in 0.1 s (restart 1)")
    assert "(restart 4)" in lines[3]
    assert supervisor.restarts["steady"] == 0
    assert supervisor.pid("steady") is None and supervisor.pid("flaky") is None


def test_stop_ends_every_child_the_embedded_redis_last(tmp_path):
    order = tmp_path / "order"

    def noting(name: str) -> list[str]:
        return python(
            "import signal, sys, time\n"
            "def bye(*_):\n"
            f"    open({str(order)!r}, 'a').write({name!r} + '\\n'); sys.exit(0)\n"
            "signal.signal(signal.SIGTERM, bye)\n"
            f"open({str(order)!r}, 'a').write('up\\n')\n"
            "time.sleep(600)\n")

    stubborn = python("import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                      "time.sleep(600)\n")
    log = io.StringIO()
    supervisor = Supervisor([ChildSpec("redis", noting("redis"), stop_last=True),
                             ChildSpec("web", noting("web")), ChildSpec("worker", noting("worker")),
                             ChildSpec("stubborn", stubborn, stop_timeout=0.5)], log=log)
    with supervised(supervisor):
        wait_for(lambda: order.exists() and order.read_text().count("up") == 3, 10,
                 "the children are up")
        wait_for(lambda: supervisor.pid("stubborn"), 10, "stubborn runs")
    stopped = [x for x in order.read_text().split() if x != "up"]
    assert sorted(stopped[:2]) == ["web", "worker"] and stopped[2] == "redis"
    assert "serve: stubborn did not stop within 0.5 s; killed" in log.getvalue()
    assert all(supervisor.pid(n) is None for n in ("redis", "web", "worker", "stubborn"))
    assert supervisor.restarts == {"redis": 0, "web": 0, "worker": 0, "stubborn": 0}


def test_a_child_that_never_answers_at_the_start_is_said_and_the_others_start_anyway():
    """The embedded Redis that cannot start (a bad append-only file, a full disk) stops no
    webhook: they answer with the fail-safe while it is started again."""
    log = io.StringIO()
    supervisor = Supervisor([ChildSpec("redis", python("import sys; sys.exit(1)"),
                                       ready=lambda: False, stop_last=True, see="redis.log"),
                             ChildSpec("web", python("import time; time.sleep(600)"))],
                            backoff=Backoff(first=0.1, cap=0.2), log=log)
    with supervised(supervisor):
        wait_for(lambda: supervisor.pid("web"), 10, "web runs")
        wait_for(lambda: supervisor.restarts["redis"] >= 2, 10, "redis started again")
    lines = log.getvalue().splitlines()
    assert lines[0] == "serve: redis exited at its start; starting the others anyway; " \
                       "see redis.log"
    assert lines[1].startswith("serve: redis exited (code 1) after ")
    assert lines[1].endswith("starting it again in 0.1 s (restart 1); see redis.log")


def test_serve_runs_the_worker_the_scheduler_and_the_reconciler_as_children():
    specs = serve.child_specs("127.0.0.1:5000", 2, "redis://rq:6379/0", ["callbacks", "messages"],
                              {"REDIS_URL": "redis://state:6379/0"})
    assert [s.name for s in specs] == ["web", "worker", "scheduler", "reconciler"]
    assert specs[3].argv[1:] == ["-m", "ivr.cli", "reconcile", "--every", "30"]
    worker, scheduler = specs[1].argv, specs[2].argv
    assert worker[1:] == ["worker", "--url", "redis://rq:6379/0",
                          "--worker-class", "ivr.rq_worker.Worker", "--worker-ttl", "60",
                          "callbacks", "messages"]
    assert "--with-scheduler" not in worker
    assert scheduler[1:4] == ["-m", "ivr.cli", "scheduler"]
    assert scheduler[4:] == ["--url", "redis://rq:6379/0", "--name", serve.scheduler_name(),
                             "callbacks", "messages"]
