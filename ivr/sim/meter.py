"""Whose CPU a simulation spends: the app's (its webhooks and RQ jobs) or the stand-in's.

The simulation runs the app and the Twilio stand-in in one process, so its CPU time alone
cannot say which side to make faster. The transport, the job pump and the REST stand-in mark
where each side starts and ends (``part``); parts nest (a job's REST call to the stand-in is
the stand-in's time, not the job's), and each CPU second is counted once, to the innermost.
Everything outside a part (the engine, the clock, the callers, TwiML checks) is the stand-in's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

APP = "app"
STAND_IN = "stand_in"


class CpuMeter:
    """Exclusive CPU seconds per side, from ``time.process_time`` at each boundary."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {APP: 0.0, STAND_IN: 0.0}
        self._stack: list[str] = []
        self._mark = 0.0

    @contextmanager
    def part(self, side: str) -> Iterator[None]:
        now = time.process_time()
        if self._stack:
            self.seconds[self._stack[-1]] += now - self._mark
        self._stack.append(side)
        self._mark = now
        try:
            yield
        finally:
            now = time.process_time()
            self.seconds[self._stack.pop()] += now - self._mark
            self._mark = now

    def app_seconds(self) -> float:
        """CPU seconds in the app's own code (webhooks and jobs), stand-in calls excluded."""
        return self.seconds[APP]


    def reset(self) -> None:
        """Zero the counts for the next run."""
        self.seconds = {APP: 0.0, STAND_IN: 0.0}


METER = CpuMeter()  # the hooks' meter: one simulation at a time runs in a process
