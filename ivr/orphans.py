"""No orphans: every process ``ivr serve`` starts dies when its parent dies, however it dies.

``ivr serve`` stops its children in order when asked (Ctrl-C, SIGTERM). ``kill -9``, the OOM
killer or a crash leave it no chance to, and its children would run on unsupervised: a second
redis-server on the same data beside the next start's, gunicorn holding the port, RQ's work
horses running jobs nobody watches. So each process asks Linux to kill it when its parent
goes (``PR_SET_PDEATHSIG``): the direct children in ``preexec`` (set between fork and exec,
kept across exec), gunicorn's workers in its ``post_fork`` hook (``ivr.gunicorn_conf``) and
RQ's work horses when forked (``ivr.rq_worker``). A parent killed -9 is a crash, so its
children crash with it, at once (SIGKILL): the service is built to survive that (Redis fsyncs
every write, RQ's abandoned jobs are repaired by the reconciler), while a gentler signal would
leave processes with nobody to finish stopping them (RQ's warm shutdown can hang a minute).

Elsewhere than Linux, ``die_with_parent`` does nothing and says so (returns False).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    return libc.prctl


# Looked up once, before any fork: a child between fork and exec should only make the call.
_PRCTL = _prctl()


def die_with_parent(parent: int | None = None, sig: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent exits. ``parent`` is
    the pid expected as the parent: if it is already gone (it died before the request took
    hold), the signal is sent now. False where this cannot be asked (not Linux)."""
    if _PRCTL is None or _PRCTL(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return False
    if parent is not None and os.getppid() != parent:
        os.kill(os.getpid(), sig)
    return True


def preexec(sig: int = signal.SIGKILL) -> Callable[[], None]:
    """A ``subprocess.Popen`` ``preexec_fn`` for a child that dies with this process."""
    parent = os.getpid()

    def in_child() -> None:
        die_with_parent(parent, sig)

    return in_child
