"""Numbers read from a request: Twilio's parameters and the app's own query arguments.

Every number a webhook takes from a request comes through ``bounded``: plain ASCII decimal
(Twilio sends whole seconds and counts; a fraction is dropped), within its parameter's range
in ``RANGES``, or else the default the caller of ``bounded`` gives. ``inf``, ``nan``, ``1e400``,
a negative time or a thousand digits can neither raise nor reach a decision.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DAY = 86_400  # seconds: Twilio ends every call within 24 hours (twilio.md §9)
QUEUE_MAX = 5_000  # Twilio's largest queue (twilio.md §9)
MAX_CHARS = 32  # longer than any number in range with spaces round it: not worth reading
_DECIMAL = re.compile(r"\s*([+-]?[0-9]+)(?:\.[0-9]*)?\s*")


@dataclass(frozen=True)
class Range:
    """The values a parameter can sensibly take, both ends included."""

    low: int
    high: int


#: Every numeric request value the webhooks read, by the name it is sent under.
RANGES: dict[str, Range] = {
    # Twilio's, in the form: seconds within one call, a place in one queue
    "QueueTime": Range(0, DAY),
    "QueuePosition": Range(1, QUEUE_MAX),
    "CallDuration": Range(0, DAY),
    "DialCallDuration": Range(0, DAY),
    "RecordingDuration": Range(0, DAY),
    # the app's own, in the URLs it hands Twilio: counts of misses and tries on one prompt
    "miss": Range(0, 100),
    "tries": Range(0, 100),
    "asked": Range(0, 100),
}


def bounded(raw: object, default: int, allowed: Range) -> int:
    """``raw`` as an integer within ``allowed``, or ``default`` when it is missing, not a
    plain decimal number, or out of range (never an error)."""
    if not isinstance(raw, str) or len(raw) > MAX_CHARS:
        return default
    found = _DECIMAL.fullmatch(raw)
    if found is None:
        return default
    value = int(found.group(1))
    return value if allowed.low <= value <= allowed.high else default


def parameter(name: str, raw: object, default: int) -> int:
    """The request value ``raw`` sent as ``name`` (one of ``RANGES``), bounded."""
    return bounded(raw, default, RANGES[name])
