"""``ivr serve``'s processes, run for real (``service.Service``: a directory of its own, a free
port, the real clock): a Redis that is down at the start stops no webhook, the embedded Redis
killed -9 is started again, ``kill -9`` of ``ivr serve`` leaves no process behind, a second
start in the same directory names the first and exits, and two services run side by side.

Each test prints its figure (webhooks answered, orphans) for the issue's closing note.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from caller import ACCOUNT_SID, AUTH_TOKEN, Caller
from faults import RedisServer, missing_redis
from rq import Queue, Worker
from service import Proc, Service, all_procs, descendants, wait_until

from ivr import connections
from voicemail.tasks import OPEN_BY_NUMBER

pytestmark = pytest.mark.skipif(bool(missing_redis()), reason=missing_redis())

OPEN = "2026-12-01 10:00:00+00:00"  # Tuesday, 10:00 GMT: the lines are open
MOBILE = "+447911123456"
APOLOGY = "Sorry, something went wrong on our side."
NOTICE = "Calls may be recorded for training and monitoring purposes."


@pytest.fixture
def services():
    """Services a test starts; any still running afterwards is killed with its processes."""
    started: list[Service] = []
    yield started
    for service in started:
        service.kill_all()


def embedded(service: Service) -> redis.Redis:
    """A client of ``service``'s embedded Redis (``var/redis/redis.sock``)."""
    return redis.Redis.from_url(connections.embedded_url(service.workdir), socket_timeout=5)


def task_ids(r: redis.Redis) -> list[str]:
    keys = [k.decode() for k in r.keys("{ivr}:cb:task:*")]
    return sorted(k.split(":")[3] for k in keys if k.count(":") == 3)


# -- 1. Redis down at the start ---------------------------------------------------------------


def test_webhooks_answer_with_redis_down_at_the_start_and_the_spool_is_replayed(
        tmp_path, services):
    redis_down = RedisServer(tmp_path / "redis")  # its port, nothing listening on it yet
    service = Service(tmp_path / "svc", at=OPEN, REDIS_URL=redis_down.url,
                      TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_ACCOUNT_SID=ACCOUNT_SID).start()
    services.append(service)
    assert service.wait_ready(redis=False)["ok"] is False  # /healthz 503: Redis is down
    assert service.get("/livez")[0] == 200  # the process serves (the webhooks, below)
    assert "warning: Redis does not answer yet" in service.output()

    # A mobile caller: council tax, the text link (refused without Redis), the queue, two
    # minutes, a message; every answer is checked as Twilio would run it (``Caller``).
    mobile = Caller(service, from_=MOBILE)
    doc = mobile.ring()
    assert doc.text.startswith(f"Thank you for calling Colchester Borough Council. {NOTICE}")
    mobile.press("2")
    assert "council tax" in mobile.follow().text
    doc = mobile.press("1")
    assert doc.verbs == ["Say", "Enqueue"] and mobile.enqueue().text == "council-tax"
    assert mobile.hold(10).text.startswith("You are number 1 in the queue.")
    assert mobile.hold(120).verbs == ["Leave"]
    assert mobile.leave_queue("leave", 120).verbs == ["Say", "Redirect"]
    assert mobile.follow().has("Record")
    doc, rec, status_url = mobile.record()
    assert doc.text.startswith("Thank you. We've got your message")
    assert mobile.recording_ready(status_url, rec).verbs == []
    assert mobile.hang_up().verbs == []

    # A withheld caller who keys nothing the menu knows: put through to an advisor.
    withheld = Caller(service, from_="anonymous")
    withheld.ring()
    for key in ("7", "8"):
        assert withheld.press(key).text.startswith("Sorry, I didn't catch that.")
    assert withheld.press("6").text == "Let me put you through to an advisor."
    withheld.follow()
    assert withheld.enqueue().text == "general"
    assert withheld.hold(0).text.startswith("You are number 1 in the queue.")
    assert withheld.leave_queue("hangup", 20).verbs == []
    assert withheld.hang_up().verbs == []

    sent = len(service.requests)
    answered = sum(status == 200 for status in service.requests)
    print(f"\nwebhooks served with Redis down at start: {answered}/{sent}")
    assert answered == sent
    spool = service.workdir / "var" / "spool"
    assert sum("-voicemail-" in p.name for p in spool.iterdir()) == 2  # action + callback
    assert service.proc.poll() is None  # still serving
    out = service.output()
    assert "serve: worker exited" in out and "starting it again in" in out

    # Redis comes up where REDIS_URL points: the reconciler replays the spool (no call needed)
    # and the worker, started again after its backoff, registers.
    redis_down.start()
    try:
        r = redis_down.client()
        wait_until(lambda: r.get(OPEN_BY_NUMBER.format(number=MOBILE)), 90,
                   f"the voicemail's callback task is written\n{service.output()[-3000:]}")
        assert len(task_ids(r)) == 1  # the spooled action and callback: one task
        wait_until(lambda: not any(p.name.endswith(".json") for p in spool.iterdir()), 30,
                   "the spool is empty")
        wait_until(lambda: Worker.count(connection=r) >= 1, 60, "the RQ worker registers")
        assert service.wait_ready(redis=True)["spooled"] == 0
        assert service.stop() == 0
    finally:
        redis_down.stop()


def test_an_embedded_redis_that_cannot_start_stops_no_webhook(tmp_path, services):
    """A bad append-only manifest (as a full disk or a person might leave it): the webhooks
    answer callers without Redis, and Redis is started again until the file is mended."""
    workdir = tmp_path / "svc"
    manifest = workdir / "var" / "redis" / "appendonlydir" / "appendonly.aof.manifest"
    manifest.parent.mkdir(parents=True)
    manifest.write_text("not a manifest\n")
    service = Service(workdir, at=OPEN, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
                      TWILIO_ACCOUNT_SID=ACCOUNT_SID).start()
    services.append(service)
    service.wait_ready(redis=False)
    caller = Caller(service, from_=MOBILE)
    assert caller.ring().has("Gather")
    caller.press("7")
    caller.press("8")
    assert caller.press("6").text == "Let me put you through to an advisor."
    caller.follow()
    assert caller.enqueue().text == "general"  # an advisor, Redis or not
    assert all(status == 200 for status in service.requests)
    assert ("serve: redis exited at its start; starting the others anyway; "
            "see var/redis/redis.log") in service.output()
    manifest.unlink()  # mended
    wait_until(lambda: (h := service.health()) and h["redis"], 60,
               f"the embedded Redis answers\n{service.output()[-2000:]}")
    assert service.stop() == 0


# -- 2. The embedded Redis, killed, is started again ----------------------------------------------


def test_the_embedded_redis_killed_9_is_started_again_with_its_data(tmp_path, services):
    service = Service(tmp_path / "svc").start()
    services.append(service)
    service.wait_ready(redis=True)
    r = embedded(service)
    r.set("test:before-the-kill", "kept")
    first = service.children()["redis"]
    os.kill(first.pid, signal.SIGKILL)
    again = wait_until(lambda: (c := service.children().get("redis")) and c.pid != first.pid
                       and c, 30, "a new redis-server")
    assert again.ppid == service.proc.pid
    wait_until(lambda: service.health() and service.health()["redis"], 30, "Redis answers")
    assert embedded(service).get("test:before-the-kill") == b"kept"  # appendfsync always
    assert "serve: redis exited (signal SIGKILL)" in service.output()
    assert service.stop() == 0
    assert "Restarts: {'redis': 1}" in service.output()


# -- 3 and 4. kill -9 leaves nothing; the next start is clean; a second start says so --------------


def family(service: Service) -> list[Proc]:
    """``ivr serve``'s processes: all below it, with everything in their sessions."""
    below = descendants(service.proc.pid)
    sessions = {p.sid for p in below}
    return [p for p in all_procs() if p.sid in sessions and p.state not in "ZX"]


def test_kill_9_leaves_no_orphans_and_the_next_start_is_clean(tmp_path, services):
    workdir = tmp_path / "svc"
    service = Service(workdir).start()
    services.append(service)
    service.wait_ready(redis=True)
    r = embedded(service)
    r.set("test:before-the-kill", "kept")
    # A job that runs on: its work horse is a grandchild, in a process group of its own.
    Queue("callbacks", connection=r).enqueue("rq_faults.stall_once", "kill-9")
    horse = int(wait_until(lambda: r.get("test:rq:stalled:kill-9"), 60, "the job starts"))
    wait_until(lambda: len(service.children()) == 5, 30, "every child runs")

    before = family(service)
    kinds = {name for p in before for name in ("redis-server", "gunicorn", "rq worker",
                                                "scheduler", "reconcile") if name in p.name}
    assert kinds == {"redis-server", "gunicorn", "rq worker", "scheduler", "reconcile"}
    assert sum("gunicorn" in p.name for p in before) == 3  # the master and its 2 workers
    assert horse in {p.pid for p in before}
    sessions = {p.sid for p in before}

    service.proc.send_signal(signal.SIGKILL)
    service.proc.wait(timeout=10)
    killed = time.monotonic()
    with contextlib.suppress(AssertionError):  # those left are counted below
        wait_until(lambda: not any(p.running() for p in before), 15, "every process has gone")
    gone_in = time.monotonic() - killed
    survivors = [p for p in before if p.running()]
    survivors += [p for p in all_procs() if p.sid in sessions and p.state not in "ZX"
                  and p not in survivors]
    print(f"\norphans after kill -9: {len(survivors)} of {len(before)} processes "
          f"(the rest gone within {gone_in:.1f} s)")
    for p in survivors:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p.pid, signal.SIGKILL)
    assert survivors == []

    # The next start in the same directory: the lock is free, the socket and data reused.
    again = Service(workdir).start()
    services.append(again)
    again.wait_ready(redis=True, seconds=60)
    r = embedded(again)
    assert r.get("test:before-the-kill") == b"kept"
    assert "already running" not in again.output()
    # RQ's scheduler comes back under its name for this directory, so it takes its queue
    # locks back at once (not after the dead one's expire, 61 s): a job due in 2 s runs.
    seconds, micro = r.time()
    due = Queue("callbacks", connection=r).enqueue_at(
        datetime.fromtimestamp(seconds + micro / 1e6 + 2, UTC), "rq_faults.record", "due")
    started = time.monotonic()
    wait_until(lambda: due.get_status(refresh=True) == "finished", 45, "the due job runs")
    print(f"a job due 2 s after the restart ran {time.monotonic() - started:.1f} s later")

    # A second start there while this one runs: one line naming it, exit 1, nothing started.
    second = Service(workdir)
    result = subprocess.run(second.argv, cwd=workdir, env=second.env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"error: ivr serve is already running in {workdir} (pid {again.proc.pid}, webhooks on "
        f"{again.bind}): stop it first, or start this one in another directory\n")
    assert sum("redis-server" in p.name and str(workdir) in p.name for p in all_procs()) == 1
    assert again.health()["redis"]
    assert again.stop() == 0


# -- 5. Two services at once: each its own var/, no shared control socket ------------------------


def test_two_services_run_side_by_side_without_a_control_socket(tmp_path, services):
    home, runtime = tmp_path / "home", tmp_path / "run"
    home.mkdir()
    runtime.mkdir(mode=0o700)
    both = [Service(tmp_path / name, HOME=str(home), XDG_RUNTIME_DIR=str(runtime)).start()
            for name in ("one", "two")]
    services.extend(both)
    for service in both:
        service.wait_ready(redis=True)
    embedded(both[0]).set("test:whose", "one")
    assert embedded(both[1]).get("test:whose") is None  # a Redis each
    for service in both:
        assert (service.workdir / "var" / "serve.lock").exists()
        assert (service.workdir / "var" / "redis" / "redis.sock").is_socket()
    # gunicorn's default control socket would be $XDG_RUNTIME_DIR/gunicorn.ctl (else
    # ~/.gunicorn/gunicorn.ctl), one per user: neither service made one.
    assert list(runtime.iterdir()) == [] and not (home / ".gunicorn").exists()
    masters = {s.children()["web"].pid for s in both}
    assert len(masters) == 2
    assert [path for pid in masters for path in _bound_unix_paths(pid)] == []
    time.sleep(1)  # neither took the other over: both still answer, each on its own port
    assert all(s.health()["redis"] for s in both)
    assert [s.stop() for s in both] == [0, 0]


def _bound_unix_paths(pid: int) -> list[str]:
    """The paths of the unix sockets process ``pid`` holds open (its fds' inodes looked up
    in ``/proc/net/unix``): a control socket would be one."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    rows = [line.split() for line in Path("/proc/net/unix").read_text().splitlines()[1:]]
    return [row[7] for row in rows if len(row) >= 8 and row[6] in inodes]


def test_no_redis_url_and_no_redis_server_is_one_line(tmp_path):
    service = Service(tmp_path / "svc", PATH=str(tmp_path / "empty"))  # no redis-server on it
    result = subprocess.run(service.argv, cwd=service.workdir, env=service.env,
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == ("error: REDIS_URL is not set and redis-server is not installed for "
                             "the embedded Redis: install it (scripts/run does) or set "
                             "REDIS_URL\n")
