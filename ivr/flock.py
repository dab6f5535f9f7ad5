"""An exclusive ``flock`` taken within a time limit: the spool's lock and ``ivr serve``'s.

``flock`` itself either blocks without limit or fails at once; both users need "retry for a
while, unless it is clear that waiting is pointless".
"""

from __future__ import annotations

import errno
import fcntl
import time
from collections.abc import Callable

RETRY_SECONDS = 0.05


def flock_within(fd: int, wait: float, pointless: Callable[[], bool] = lambda: False) -> bool:
    """Take ``fd``'s exclusive lock, trying again every 50 ms for up to ``wait`` seconds or
    until ``pointless()`` (asked after each miss) says to stop. True if taken; other errors
    than "held by another" raise."""
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
        if pointless() or time.monotonic() >= deadline:
            return False
        time.sleep(RETRY_SECONDS)
