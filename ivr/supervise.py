"""Keep ``ivr serve``'s processes running: a child that exits is started again after a backoff
(one line in the log, counted), and a stop request ends them all, the others before the
embedded Redis they use.

``Backoff.delay`` decides how long to wait (pure); ``Supervisor`` starts, polls and signals
the processes. Each child is a ``ChildSpec``; ``ivr.serve.child_specs`` lists them.

Every child dies with ``ivr serve`` however it dies (``ivr.orphans``: the kernel kills it when
the thread that started it exits, so ``run`` belongs on the main thread), and inherits
``keep_fds`` (``ivr.serve_lock``'s lock, held while any of them lives).

The loop polls with ``time.sleep`` and a plain flag rather than a timed lock wait
(``threading.Event.wait``), which stalls under libfaketime (``scripts/test --clock-ahead``).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from ivr import orphans


@dataclass(frozen=True)
class Backoff:
    """The wait before starting a child again: ``first`` seconds, doubling with each quick
    exit in a row up to ``cap``; a child that had stayed up ``reset_after`` seconds starts
    again after ``first``."""

    first: float = 1.0
    cap: float = 30.0
    reset_after: float = 60.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` (at least 1) quick exits in a row."""
        return min(self.cap, self.first * 2 ** max(0, failures - 1))

    def failures(self, previous: int, uptime: float) -> int:
        """The run of quick exits once a child has exited after ``uptime`` seconds."""
        return 1 if uptime >= self.reset_after else previous + 1


@dataclass(frozen=True)
class ChildSpec:
    """One process ``ivr serve`` keeps running."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] | None = None
    ready: Callable[[], bool] | None = None  # at the first start, awaited before the next child
    ready_timeout: float = 5.0
    see: str = ""  # where to look when it fails (its log), said with each exit
    stop_last: bool = False  # stopped after the others (the embedded Redis they use)
    stop_timeout: float = 15.0  # SIGTERM, then SIGKILL after this many seconds


@dataclass
class _Child:
    spec: ChildSpec
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    failures: int = 0
    restart_at: float | None = None
    restarts: int = 0


def _how(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"code {returncode}"


@dataclass
class Supervisor:
    """Starts the children in order, restarts any that exits, stops them all on request.

    ``request_stop`` may be called from a signal handler or another thread; ``run`` returns
    once every child has stopped."""

    specs: Sequence[ChildSpec]
    backoff: Backoff = field(default_factory=Backoff)
    log: TextIO = field(default_factory=lambda: sys.stderr)
    poll_seconds: float = 0.2
    keep_fds: tuple[int, ...] = ()  # open in every child (the service's lock)
    _children: list[_Child] = field(init=False, default_factory=list)
    _stop_requested: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        names = [s.name for s in self.specs]
        if len(set(names)) != len(names):
            raise ValueError(f"child names must differ: {names}")
        self._children = [_Child(s) for s in self.specs]

    @property
    def restarts(self) -> dict[str, int]:
        """How often each child has been started again."""
        return {c.spec.name: c.restarts for c in self._children}

    def pid(self, name: str) -> int | None:
        """The running process of child ``name`` (None while it waits to start again)."""
        child = self._child(name)
        return child.proc.pid if child.proc is not None and child.proc.poll() is None else None

    def request_stop(self, signum: int | None = None, frame: object = None) -> None:  # noqa: ARG002
        """Stop every child and return from ``run`` (a signal handler's signature)."""
        self._stop_requested = True

    def start(self) -> None:
        """Start every child in order, waiting for each one's ``ready`` check. One that does
        not pass it is said and the others start anyway: what depends on it (the webhooks
        on Redis) has a way to serve without it, and it is started again when it exits."""
        for child in self._children:
            self._spawn(child)
            if child.spec.ready is not None and not self._await_ready(child):
                what = ("exited" if child.proc.poll() is not None
                        else f"did not answer within {child.spec.ready_timeout:g} s")
                self._say(f"{child.spec.name} {what} at its start; starting the others "
                          f"anyway{self._see(child)}")

    def run(self) -> None:
        """Start the children (unless ``start`` did), then tend them until a stop request."""
        try:
            if all(c.proc is None for c in self._children):
                self.start()
            while not self._stop_requested:
                self.tend(time.monotonic())
                time.sleep(self.poll_seconds)
        finally:
            self.stop()

    def tend(self, now: float) -> None:
        """Notice children that exited and start those whose backoff has passed."""
        for child in self._children:
            if child.restart_at is not None:
                if now >= child.restart_at and not self._stop_requested:
                    child.restarts += 1
                    self._spawn(child)
                continue
            if child.proc is None or child.proc.poll() is None:
                continue
            uptime = now - child.started_at
            child.failures = self.backoff.failures(child.failures, uptime)
            delay = self.backoff.delay(child.failures)
            child.restart_at = now + delay
            self._say(f"{child.spec.name} exited ({_how(child.proc.returncode)}) after "
                      f"{uptime:.1f} s; starting it again in {delay:g} s "
                      f"(restart {child.restarts + 1}){self._see(child)}")

    def stop(self) -> None:
        """SIGTERM to every running child (those marked ``stop_last`` after the others), then
        SIGKILL to any still running after its ``stop_timeout``."""
        self._stop_requested = True
        for last in (False, True):
            group = [c for c in self._children if c.spec.stop_last is last]
            for child in group:
                child.restart_at = None
                if child.proc is not None and child.proc.poll() is None:
                    child.proc.send_signal(signal.SIGTERM)
            for child in group:
                if child.proc is None:
                    continue
                try:
                    child.proc.wait(timeout=child.spec.stop_timeout)
                except subprocess.TimeoutExpired:
                    self._say(f"{child.spec.name} did not stop within "
                              f"{child.spec.stop_timeout:g} s; killed")
                    child.proc.kill()
                    child.proc.wait()

    def _spawn(self, child: _Child) -> None:
        child.restart_at = None
        child.started_at = time.monotonic()
        # A session of its own: Ctrl-C in the terminal reaches ``ivr serve`` only, which
        # stops the children in order. Killed by the kernel if ``ivr serve`` dies first.
        child.proc = subprocess.Popen(list(child.spec.argv), env=child.spec.env,
                                      start_new_session=True, pass_fds=self.keep_fds,
                                      preexec_fn=orphans.preexec())

    def _await_ready(self, child: _Child) -> bool:
        deadline = time.monotonic() + child.spec.ready_timeout
        while time.monotonic() < deadline:
            if child.spec.ready():
                return True
            if child.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    @staticmethod
    def _see(child: _Child) -> str:
        return f"; see {child.spec.see}" if child.spec.see else ""

    def _child(self, name: str) -> _Child:
        for child in self._children:
            if child.spec.name == name:
                return child
        raise KeyError(name)

    def _say(self, line: str) -> None:
        print(f"serve: {line}", file=self.log, flush=True)
