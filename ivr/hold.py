"""Pure decisions for callers on hold: the wait estimate and what the next hold document holds.

Twilio re-requests the waitUrl whenever its document runs out, so each document is planned to
last at most ``announce_every`` seconds and never to carry the caller more than ``max_overrun``
seconds past the voicemail limit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


def estimate_wait(
    position: int,
    answered_at: Sequence[float],
    now: float,
    *,
    window: float,
    min_answers: int,
    default_per_caller: float,
) -> int:
    """Seconds until a caller at ``position`` is answered, from the recent answer rate.

    The rate is the number of answers in the last ``window`` seconds over the time they took;
    with too few answers measured, a configured seconds-per-caller stands in.
    """
    position = max(1, position)
    recent = sorted(t for t in answered_at if now - window <= t <= now)
    if len(recent) >= min_answers:
        span = max(now - recent[0], 1.0)
        per_caller = span / len(recent)
    else:
        per_caller = default_per_caller
    return math.ceil(position * per_caller)


class WaitPhrase(StrEnum):
    UNDER_MINUTE = "under_minute"
    ONE_MINUTE = "one_minute"
    MINUTES = "minutes"


def wait_phrase(seconds: int) -> tuple[WaitPhrase, int]:
    """Round a wait up to whole minutes for speaking: callers prefer an honest upper bound."""
    if seconds < 60:
        return WaitPhrase.UNDER_MINUTE, 0
    minutes = math.ceil(seconds / 60)
    return (WaitPhrase.ONE_MINUTE, 1) if minutes == 1 else (WaitPhrase.MINUTES, minutes)


def wait_to_speak(estimate: int, queue_time: int, limit: int) -> tuple[int, bool]:
    """The wait a caller should hear, and whether it is the time left before voicemail.

    An estimate that reaches past the voicemail limit would be a promise the system won't
    keep (the caller is taken to voicemail first), so the caller hears the time left before
    they can leave a message instead."""
    remaining = max(0, limit - max(0, queue_time))
    if estimate >= remaining:
        return remaining, True
    return estimate, False


class Deadline(StrEnum):
    SOON = "soon"
    SECONDS = "seconds"
    MINUTES = "minutes"


def deadline_phrase(seconds: int) -> tuple[Deadline, int]:
    """Round the time left before voicemail *down* for speaking (to 10 s under two minutes,
    else to whole minutes): unlike a wait, a deadline rounded up would promise a caller time
    they don't have ("within about 2 minutes" with 61 s left)."""
    if seconds < 15:
        return Deadline.SOON, 0
    if seconds < 120:
        return Deadline.SECONDS, seconds // 10 * 10
    return Deadline.MINUTES, seconds // 60


def speaking_seconds(text: str, words_per_second: float) -> float:
    """An upper bound on how long text-to-speech takes to say ``text``."""
    return len(text.split()) / words_per_second + 1.0


class Step(StrEnum):
    LEAVE = "leave"
    ANNOUNCE = "announce"
    PLAY = "play"
    PAUSE = "pause"


@dataclass(frozen=True)
class HoldPlan:
    steps: tuple[tuple[Step, int], ...]  # (step, seconds)

    @property
    def seconds(self) -> int:
        return sum(s for _, s in self.steps)


def plan_hold(
    queue_time: int,
    *,
    limit: int,
    announce_seconds: float,
    document_seconds: int,
    segment_seconds: int,
) -> HoldPlan:
    """What the next hold document does, so that it ends by the limit (to the second).

    At or past the limit the caller leaves the queue. The announcement (position and wait) is
    made only when it fits before the limit; the rest is whole hold-audio segments, then a
    pause that ends at the limit or at the end of the document, whichever is first.
    """
    remaining = limit - max(0, queue_time)
    if remaining <= 0:
        return HoldPlan(((Step.LEAVE, 0),))
    budget = min(document_seconds, remaining)
    steps: list[tuple[Step, int]] = []
    announce = math.ceil(announce_seconds)
    if announce < budget:
        steps.append((Step.ANNOUNCE, announce))
        budget -= announce
    while budget >= segment_seconds:
        steps.append((Step.PLAY, segment_seconds))
        budget -= segment_seconds
    if budget >= 1 or not steps:
        steps.append((Step.PAUSE, max(1, int(budget))))
    return HoldPlan(tuple(steps))


class LeaveReason(StrEnum):
    """Why a caller left a queue: one closed set, recorded for every caller."""

    ANSWERED = "answered"
    TIMED_OUT = "timed_out"  # taken out at the limit to voicemail
    HUNG_UP = "hung_up"
    QUEUE_FULL = "queue_full"
    ERROR = "error"


def leave_reason(queue_result: str | None) -> LeaveReason:
    """Map Twilio's ``QueueResult`` onto our closed set; anything unknown is an error."""
    return {
        "bridged": LeaveReason.ANSWERED,
        "bridging-in-process": LeaveReason.ANSWERED,
        # Taken out by the council: an agent's REST dequeue (Members update) or a transfer
        # after answering. Deliberate, not a fault: counting them as errors skews the figures.
        "redirected": LeaveReason.ANSWERED,
        "redirected-from-bridged": LeaveReason.ANSWERED,
        "leave": LeaveReason.TIMED_OUT,
        "hangup": LeaveReason.HUNG_UP,
        "queue-full": LeaveReason.QUEUE_FULL,
    }.get((queue_result or "").strip(), LeaveReason.ERROR)
