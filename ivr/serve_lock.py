"""One ``ivr serve`` per ``var/`` directory: a second one finds the first and says so.

Two services in one directory would share the embedded Redis's socket and data (the second
redis-server takes the socket over, both write one append-only file) and the spool. So
``ivr serve`` holds an exclusive ``flock`` on ``var/serve.lock`` while it runs, with its pid
and address written in the file for the message a second one prints.

The kernel releases a ``flock`` when the last process holding it is gone, so a stale pid left
by ``kill -9`` never blocks a start. Every child ``ivr serve`` starts inherits the lock
(``Supervisor(keep_fds=...)``): the lock means "a process of that service still runs", so a
start waits for the children of a killed service to die (at once: ``ivr.orphans``) rather
than starting a second redis-server on data the first one still writes.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ivr.flock import flock_within

PATH = Path("var/serve.lock")
# A service killed -9 leaves its children for the kernel to kill: they are gone within
# milliseconds; this is how long a start waits for them.
WAIT_FOR_DEAD_HOLDER = 10.0


@dataclass(frozen=True)
class Holder:
    """What the running service wrote in the lock file."""

    pid: int | None
    bind: str
    directory: str

    def alive(self) -> bool:
        if self.pid is None:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # another user's process: it exists
            return True
        return True

    def describe(self) -> str:
        """One line for the operator: which service, where (the second start's message)."""
        who = f"pid {self.pid}" if self.pid else "pid unknown"
        where = f", webhooks on {self.bind}" if self.bind else ""
        if self.pid and not self.alive():
            return (f"ivr serve ({who}) has exited but processes it started still hold "
                    f"{self.directory}/{PATH.name}")
        return f"ivr serve is already running in {self.directory} ({who}{where})"


class AlreadyRunning(RuntimeError):
    """Another service holds the lock; ``holder`` says which."""

    def __init__(self, holder: Holder) -> None:
        super().__init__(holder.describe())
        self.holder = holder


def _read(fd: int, path: Path) -> Holder:
    raw = os.pread(fd, 4096, 0).decode(errors="replace")
    try:
        data = json.loads(raw)
        pid = int(data["pid"])
        return Holder(pid, str(data.get("bind", "")), str(data.get("dir", path.parent.parent)))
    except (ValueError, KeyError, TypeError):  # written by nothing, or cut short
        return Holder(None, "", str(path.resolve().parent.parent))


def acquire(bind: str, path: Path = PATH, wait: float = WAIT_FOR_DEAD_HOLDER) -> int:
    """Take the lock for this service (its fd, kept open for the service's life and passed
    to its children), or raise ``AlreadyRunning``. Waits up to ``wait`` seconds only while
    the holder named in the file is dead (its children are dying); a live one is reported
    at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not flock_within(fd, wait, pointless=lambda: _read(fd, path).alive()):
            raise AlreadyRunning(_read(fd, path))
        os.ftruncate(fd, 0)
        record = {"pid": os.getpid(), "bind": bind, "dir": str(path.resolve().parent.parent)}
        os.pwrite(fd, json.dumps(record).encode(), 0)
    except BaseException:
        os.close(fd)
        raise
    return fd


def release(fd: int) -> None:
    """Give the lock up (at a clean stop; the kernel does it at any other)."""
    with contextlib.suppress(OSError):
        os.close(fd)
