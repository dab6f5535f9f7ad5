"""``ivr serve`` as a real process for the tests: started in a directory of its own (its
``var/``: the embedded Redis, the spool, the lock), on a free loopback port and the real
clock, its output in ``serve.log``; and the processes it started, found in ``/proc``.

``at=`` runs the webhooks on ``served_app``'s clock from that instant (``serve_at``), for
journeys that depend on the opening hours.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from conftest import ROOT, real_clock_env
from faults import free_port

TESTS = Path(__file__).resolve().parent
# Settings of the developer's shell that would change what the service does here.
DROPPED = ("REDIS_URL", "RQ_REDIS_URL", "IVR_REDIS_CLUSTER", "IVR_SPOOL_DIR", "PUBLIC_BASE_URL",
           "IVR_INSECURE_SKIP_SIGNATURE", "TWILIO_AUTH_TOKEN", "IVR_BIND", "IVR_WORKERS")


@dataclass(frozen=True)
class Proc:
    """One process as ``/proc`` shows it; ``start`` (clock ticks after boot) tells it apart
    from a later process given the same pid."""

    pid: int
    ppid: int
    pgid: int
    sid: int
    start: int
    state: str
    name: str

    def running(self) -> bool:
        """Still this process, and not a zombie waiting to be reaped."""
        now = read_proc(self.pid)
        return now is not None and now.start == self.start and now.state not in "ZX"


def read_proc(pid: int) -> Proc | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    comm, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
    name = cmdline.replace(b"\0", b" ").decode(errors="replace").strip() or comm
    return Proc(pid, int(rest[1]), int(rest[2]), int(rest[3]), int(rest[19]), rest[0], name)


def all_procs() -> list[Proc]:
    found = (read_proc(int(p.name)) for p in Path("/proc").iterdir() if p.name.isdigit())
    return [p for p in found if p is not None]


def descendants(pid: int) -> list[Proc]:
    """Every living process below ``pid`` (children, their children, ...)."""
    procs = all_procs()
    below, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for proc in procs:
            if proc.ppid == parent and proc.state not in "ZX":
                below.append(proc)
                todo.append(proc.pid)
    return below


def wait_until(check, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds:.0f} s: {what}")


@dataclass
class Reply:
    """What ``caller.Caller`` reads from a response (as from Flask's test client)."""

    status_code: int
    mimetype: str
    body: bytes

    def get_data(self, as_text: bool = False):
        return self.body.decode() if as_text else self.body


class Service:
    """``ivr serve`` (``python -m ivr.cli serve``) in ``workdir``."""

    def __init__(self, workdir: Path, *, at: str | None = None, workers: int = 2,
                 **env: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.port = free_port()
        self.bind = f"127.0.0.1:{self.port}"
        self.log = workdir / "serve.log"
        self.env = {k: v for k, v in real_clock_env().items() if k not in DROPPED}
        self.env |= {"IVR_CONFIG": str(ROOT / "config.yaml"),
                     "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS)])}
        if at is not None:
            self.env["IVR_TEST_AT"] = at
        self.env |= env
        module = "serve_at" if at is not None else "ivr.cli"
        self.argv = [sys.executable, "-m", module, "serve", "--bind", self.bind,
                     "--workers", str(workers)]
        self.proc: subprocess.Popen | None = None
        self.requests: list[int] = []  # each webhook's HTTP status, in order

    def start(self) -> Service:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, cwd=self.workdir, env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    # -- HTTP ----------------------------------------------------------------------------------
    def get(self, path: str) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def health(self) -> dict | None:
        """``/healthz``'s answer (200 with Redis, 503 without), or None while nothing
        answers."""
        try:
            status, body = self.get("/healthz")
        except OSError:
            return None
        return json.loads(body) if status in (200, 503) else None  # 503: Redis down

    def wait_ready(self, redis: bool, seconds: float = 60) -> dict:
        """Until ``/healthz`` answers (with Redis answering or not, as ``redis`` says)."""
        def ready():
            assert self.proc is not None and self.proc.poll() is None, self.output()[-3000:]
            health = self.health()
            return health if health and health["redis"] is redis else None

        return wait_until(ready, seconds, f"ivr serve answers /healthz with redis={redis}\n"
                                          f"{self.output()[-3000:]}")

    def post(self, path: str, data: dict[str, str], headers: dict[str, str]) -> Reply:
        """As Twilio posts: to ``http://localhost/...`` (the URL signed), on this port."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            conn.request("POST", path, urlencode(data), headers={
                **headers, "Host": "localhost",
                "Content-Type": "application/x-www-form-urlencoded",
                "User-Agent": "TwilioProxy/1.1"})
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        self.requests.append(response.status)
        mimetype = (response.getheader("Content-Type") or "").split(";")[0].strip()
        return Reply(response.status, mimetype, body)

    # -- processes -----------------------------------------------------------------------------
    def children(self) -> dict[str, Proc]:
        """The processes ``ivr serve`` started itself, by what they are."""
        assert self.proc is not None
        named = {}
        for proc in descendants(self.proc.pid):
            if proc.ppid != self.proc.pid:
                continue
            for key, mark in (("redis", "redis-server"), ("web", "gunicorn"),
                              ("worker", "rq worker"), ("scheduler", "ivr.cli scheduler"),
                              ("reconciler", "ivr.cli reconcile")):
                if mark in proc.name:
                    named[key] = proc
        return named

    def stop(self, seconds: float = 60) -> int:
        """SIGTERM, as Ctrl-C or systemd stops it; its exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.kill_all()
            raise AssertionError(f"ivr serve did not stop within {seconds:.0f} s") from None

    def kill_all(self) -> None:
        """Clean-up after a failed test: kill -9 this service and everything below it."""
        if self.proc is None:
            return
        for proc in [*descendants(self.proc.pid), read_proc(self.proc.pid)]:
            if proc is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
