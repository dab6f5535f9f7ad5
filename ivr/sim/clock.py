"""Time for the stand-in: one event scheduler, driven by a virtual or a real clock.

Every call leg is a generator-based process (in the manner of SimPy, without the dependency):
it yields how long it is busy (a Say, a Pause, ringing) or a ``Signal`` it waits for (a bridge,
a caller arriving in an empty queue), and can be interrupted at any such point (the caller hangs
up, an agent dequeues it). The same code runs in virtual time (a simulated day in seconds of
wall time, the app's own clock moved with time-machine) and in real time (over HTTP against a
running server), so the simulator and the interactive ``ivr call`` share every behaviour.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

ProcessGen = Generator[Any, Any, Any]


class Interrupt(Exception):
    """Thrown into a process at the point where it waits; ``cause`` says why."""

    def __init__(self, cause: Any) -> None:
        super().__init__(cause)
        self.cause = cause


class Signal:
    """A one-shot event that processes can wait for; ``fire`` wakes them all with a value."""

    __slots__ = ("fired", "value", "_waiters")

    def __init__(self) -> None:
        self.fired = False
        self.value: Any = None
        self._waiters: list[Callable[[Any], None]] = []

    def fire(self, value: Any = None) -> None:
        if self.fired:
            return
        self.fired, self.value = True, value
        waiters, self._waiters = self._waiters, []
        for wake in waiters:
            wake(value)


@dataclass(frozen=True)
class WaitFor:
    """Yield this to wait for ``signal`` at most ``timeout`` seconds (``None`` if it timed out)."""

    signal: Signal
    timeout: float


class _Event:
    """A scheduled call, ordered by (``at``, ``seq``). A plain class with slots: the heap
    compares events millions of times in a simulated day, so the clock's heap holds
    ``(at, seq, event)`` entries, compared in C (``seq`` is unique: events themselves are never
    compared there); ``__lt__`` gives the same order to anyone sorting events."""

    __slots__ = ("at", "seq", "fn", "args", "daemon", "cancelled", "clock", "popped")

    def __init__(self, at: float, seq: int, fn: Callable[..., None], args: tuple = (),
                 daemon: bool = False, clock: Clock | None = None) -> None:
        self.at, self.seq, self.fn, self.args = at, seq, fn, args
        self.daemon, self.clock = daemon, clock
        self.cancelled = self.popped = False

    def __lt__(self, other: _Event) -> bool:
        return self.at < other.at or (self.at == other.at and self.seq < other.seq)

    def __repr__(self) -> str:
        return f"_Event(at={self.at!r}, seq={self.seq!r}, fn={self.fn!r})"

    def cancel(self) -> None:
        if not (self.cancelled or self.popped or self.daemon) and self.clock is not None:
            self.clock._live -= 1
        self.cancelled = True


class Process:
    """A running generator. Not created directly: use ``Clock.spawn``."""

    def __init__(self, clock: Clock, gen: ProcessGen, name: str) -> None:
        self.clock, self.gen, self.name = clock, gen, name
        self.alive = True
        self.result: Any = None
        self.done = Signal()
        self._token = 0  # only the most recent wake-up may resume the process
        self._pending: _Event | None = None
        self._interrupts: deque[Any] = deque()
        self._running = False
        self._schedule(0.0, None)

    def interrupt(self, cause: Any) -> None:
        """Throw ``Interrupt(cause)`` into the process at its next (or current) wait."""
        if not self.alive:
            return
        self._interrupts.append(cause)
        if not self._running:
            self._schedule(0.0, None)

    def _schedule(self, delay: float, value: Any) -> None:
        self._token += 1
        if self._pending is not None:
            self._pending.cancel()
        self._pending = self.clock.later(delay, self._resume, self._token, value)

    def _wake_on(self, signal: Signal, timeout: float | None) -> None:
        self._token += 1
        token = self._token
        self._pending = None
        if timeout is not None:
            self._pending = self.clock.later(timeout, self._resume, token, None)
        signal._waiters.append(lambda value: self._resume(token, value))

    def _resume(self, token: int, value: Any) -> None:
        if token != self._token or not self.alive:
            return  # superseded by an interrupt or a later wake-up
        self._token += 1
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        self._running = True
        try:
            if self._interrupts:
                cmd = self.gen.throw(Interrupt(self._interrupts.popleft()))
            else:
                cmd = self.gen.send(value)
        except StopIteration as stop:
            self._finish(stop.value)
            return
        except BaseException as exc:
            self._finish(None)
            self.clock.failure = self.clock.failure or exc
            return
        finally:
            self._running = False
        if self._interrupts:
            self._schedule(0.0, None)
        elif isinstance(cmd, Signal):
            if cmd.fired:
                self._schedule(0.0, cmd.value)
            else:
                self._wake_on(cmd, None)
        elif isinstance(cmd, WaitFor):
            if cmd.signal.fired:
                self._schedule(0.0, cmd.signal.value)
            else:
                self._wake_on(cmd.signal, max(0.0, cmd.timeout))
        else:
            self._schedule(max(0.0, float(cmd or 0.0)), None)

    def _finish(self, result: Any) -> None:
        self.alive = False
        self.result = result
        self.done.fire(result)


class Clock:
    """The scheduler. ``now`` is epoch seconds; subclasses decide how time passes."""

    def __init__(self, start: float) -> None:
        self._now = float(start)
        self._heap: list[tuple[float, int, _Event]] = []  # (at, seq, event): see _Event
        self._seq = itertools.count()
        self._live = 0  # events that keep ``run()`` going (not daemon)
        self.failure: BaseException | None = None

    @property
    def now(self) -> float:
        return self._now

    def at(self, when: float, fn: Callable[..., None], *args: Any, daemon: bool = False) -> _Event:
        event = _Event(max(when, self._now), next(self._seq), fn, args, daemon, clock=self)
        heapq.heappush(self._heap, (event.at, event.seq, event))
        if not daemon:
            self._live += 1
        return event

    def later(self, delay: float, fn: Callable[..., None], *args: Any,
              daemon: bool = False) -> _Event:
        return self.at(self._now + delay, fn, *args, daemon=daemon)

    def spawn(self, gen: ProcessGen, name: str = "") -> Process:
        return Process(self, gen, name)

    def pending(self) -> bool:
        """Is anything other than daemon events (periodic housekeeping) still to happen?"""
        return self._live > 0

    def next_time(self) -> float | None:
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)[2].popped = True
        return heap[0][0] if heap else None

    def run(self, until: float | None = None) -> None:
        """Run events in time order: up to ``until``, or while non-daemon events remain."""
        while True:
            if self.failure is not None:
                failure, self.failure = self.failure, None
                raise failure
            when = self.next_time()
            if when is None or (until is not None and when > until):
                break
            if until is None and not self.pending():
                break
            event = heapq.heappop(self._heap)[2]
            event.popped = True
            if not event.daemon:
                self._live -= 1
            if when > self._now:
                self._advance(when)
            event.fn(*event.args)
        if until is not None and until > self._now:
            self._advance(until)

    def _advance(self, when: float) -> None:
        self._now = when

    def begin(self) -> None:
        """Called when a run starts (virtual clocks start travelling the process's time)."""

    def end(self) -> None:
        """Called when a run stops."""


class VirtualClock(Clock):
    """Time jumps from event to event. With ``travel`` the whole process (the app in-process,
    RQ jobs, ``datetime.now``) sees the virtual time during ``run`` via time-machine."""

    def __init__(self, start: float | datetime | None = None, travel: bool = True) -> None:
        if isinstance(start, datetime):
            start = start.timestamp()
        super().__init__(time.time() if start is None else start)
        self.travel = travel
        self._traveller: Any = None
        self._coordinates: Any = None

    def begin(self) -> None:
        if self.travel and self._traveller is None:
            import time_machine  # a dev dependency: only needed for in-process virtual time

            self._traveller = time_machine.travel(self._now, tick=False)
            self._coordinates = self._traveller.start()

    def _advance(self, when: float) -> None:
        self._now = when
        if self._traveller is not None:
            self._coordinates.move_to(when)

    def end(self) -> None:
        if self._traveller is not None:
            self._traveller.stop()
            self._traveller = None


class RealClock(Clock):
    """Wall-clock time, for calls over HTTP to a running server: waiting really waits."""

    def __init__(self) -> None:
        super().__init__(time.time())

    @property
    def now(self) -> float:
        return max(self._now, time.time())

    def at(self, when: float, fn: Callable[..., None], *args: Any, daemon: bool = False) -> _Event:
        self._now = max(self._now, time.time())
        return super().at(when, fn, *args, daemon=daemon)

    def _advance(self, when: float) -> None:
        while (gap := when - time.time()) > 0:
            time.sleep(min(gap, 0.25))
        self._now = max(when, time.time())
