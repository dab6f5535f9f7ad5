"""Log lines that a request can neither forge nor flood.

Call SIDs, Twilio's error URLs, request paths and Redis errors reach log messages, and each
may carry what a caller or a client sent: a CR or LF in one would start a log line of their
choosing, and a 100 kB value would be written whole. So, for every record of the process:

- ``SafeRecords`` (a ``logging.Filter``, run on every record as it is made once ``install``
  has been called: ``create_app`` does) writes control characters in the message and its
  arguments as escapes (``\\r``, ``\\n``, ``\\t``, ``\\x1b``, ``\\x85``, ``\\u2028``,
  ``\\u202e``) and cuts each text argument to ``ARG_LIMIT`` characters with a marker saying
  how much was left out. Numbers stay numbers, so ``%d`` and ``%.3f`` still work.
- ``SafeFormatter`` (the production handler's: ``configure``, called by ``ivr.wsgi``, the
  entry ``ivr serve`` runs under gunicorn) escapes the finished line as well, traceback
  included, and bounds it, so one record is one line.
- ``clean`` is the same rule for a value built into a message by hand (an RQ job's
  description, which the worker logs).

Phone numbers are not this module's business: they are masked (``ivr.phone.mask``) before
they are logged, and escaping leaves a masked number as it is.
"""

from __future__ import annotations

import logging
import numbers
import sys
from collections.abc import Mapping
from typing import Any, TextIO

ARG_LIMIT = 200  # characters of one argument: a SID, a URL or an error is far shorter
MESSAGE_LIMIT = 2_000  # a message with no arguments (already formatted by its caller)
LINE_LIMIT = 16_000  # one formatted record, traceback included
FORMAT = "%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s"

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# C0, DEL, C1 (NEL among them); Unicode's line and paragraph separators; the bidirectional
# controls, which can make a line read in another order than it was written.
_CONTROL = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029,
            0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
ESCAPES = {
    code: _NAMED.get(chr(code)) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    for code in _CONTROL
}


def clean(value: object, limit: int = ARG_LIMIT) -> str:
    """``value`` as one safe piece of a log line: at most ``limit`` characters of it (and a
    marker if more), control characters escaped."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = f"{text[:limit]}...[{len(text) - limit} more chars]"
    return text.translate(ESCAPES)


class _Shown:
    """A non-text argument, shown through ``clean`` whether the message says %s or %r."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __str__(self) -> str:
        return clean(str(self.value))

    def __repr__(self) -> str:
        return clean(repr(self.value))


class _ShownMapping(Mapping):
    """Mapping arguments (``%(name)s``), each value shown through ``_safe_arg`` as it is
    looked up: the mapping's own lookup is kept (gunicorn's access log answers "-" for any
    header it was not sent)."""

    __slots__ = ("inner",)

    def __init__(self, inner: Mapping) -> None:
        self.inner = inner

    def __getitem__(self, key: Any) -> Any:
        return _safe_arg(self.inner[key])

    def __iter__(self):
        return iter(self.inner)

    def __len__(self) -> int:
        return len(self.inner)


def _safe_arg(value: Any) -> Any:
    if value is None or isinstance(value, numbers.Number):
        return value  # %d, %.3f; and a number's text has no control characters
    if isinstance(value, str):
        return clean(value)
    return _Shown(value)


class SafeRecords(logging.Filter):
    """Makes a record's message safe in place (once); keeps every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "ivr_safe", False):
            return True
        args = record.args
        if args:
            record.msg = str(record.msg).translate(ESCAPES)  # the template: ours, but cheap
        else:
            record.msg = clean(record.msg, MESSAGE_LIMIT)
        if isinstance(args, Mapping):
            record.args = _ShownMapping(args)
        elif isinstance(args, tuple):
            record.args = tuple(_safe_arg(value) for value in args)
        record.ivr_safe = True
        return True


_SAFE = SafeRecords()


def install() -> None:
    """Run ``SafeRecords`` on every record this process makes, whichever handler (pytest's
    caplog, gunicorn's, ``configure``'s) writes it. Idempotent."""
    make = logging.getLogRecordFactory()
    if getattr(make, "ivr_safe", False):
        return

    def safe_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        _SAFE.filter(record)
        return record

    safe_record.ivr_safe = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(safe_record)


class SafeFormatter(logging.Formatter):
    """One line per record: the formatted record, traceback included, through ``clean``."""

    def format(self, record: logging.LogRecord) -> str:
        return clean(super().format(record), LINE_LIMIT)


def handler(stream: TextIO | None = None) -> logging.Handler:
    """The production handler: safe lines on ``stream`` (standard error by default)."""
    out = logging.StreamHandler(stream if stream is not None else sys.stderr)
    out.setFormatter(SafeFormatter(FORMAT))
    out.addFilter(_SAFE)  # a record made before ``install`` (or by another factory)
    return out


def configure(stream: TextIO | None = None) -> logging.Handler | None:
    """The process's logging as served (``ivr.wsgi``): ``install``, and ``handler`` on the
    root logger unless it has handlers already (a gunicorn ``--log-config``, say, whose
    records ``install`` still makes safe). Returns the handler added, if any. The root's
    level is left as it is: Python's default, WARNING, is what was written before."""
    install()
    root = logging.getLogger()
    if root.handlers:
        return None
    out = handler(stream)
    root.addHandler(out)
    return out
