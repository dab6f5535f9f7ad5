"""Real processes to break: a redis-server of the tests' own (killed with -9, paused,
restarted on the same data) and RQ workers, for the fault-injection tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis
from conftest import real_clock_env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def missing_redis() -> str:
    return "" if shutil.which("redis-server") else "redis-server is not on PATH"


class RedisServer:
    """A redis-server on a free loopback port with an append-only file in ``directory``,
    started on the real clock (as production's Redis keeps real time)."""

    def __init__(self, directory: Path, appendfsync: str = "always") -> None:
        self.directory = directory
        self.appendfsync = appendfsync
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5)

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.directory), "--appendonly", "yes",
             "--appendfsync", self.appendfsync, "--save", "",
             "--logfile", str(self.directory / "redis.log")],
            env=real_clock_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return self
            except redis.RedisError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.02)
        raise RuntimeError(f"redis-server on {self.port} did not start "
                           f"(see {self.directory / 'redis.log'})")

    def kill9(self) -> None:
        """The worst way to stop: no shutdown, no final fsync."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill9()


def rq_worker(url: str, *queues: str, scheduler: bool = True) -> subprocess.Popen:
    """A real ``rq worker`` process (on the real clock); with ``scheduler``, RQ's own
    scheduler as its child (``ivr serve`` runs the scheduler as a process of its own)."""
    env = real_clock_env() | {"REDIS_URL": url, "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-m", "rq.cli", "worker", "--url", url,
           *(["--with-scheduler"] if scheduler else []), *queues]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def kill9_group(proc: subprocess.Popen) -> None:
    """kill -9 a worker and every process it started (its scheduler, its work horse, which
    RQ puts in a process group of its own), as when the machine or container dies: the tree
    is frozen first (SIGSTOP), so nothing forks or finishes a job while it is found."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGSTOP)
    frozen = [proc.pid]
    for pid in _descendants(proc.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)
        frozen.append(pid)
    for pid in frozen:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=10)


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
