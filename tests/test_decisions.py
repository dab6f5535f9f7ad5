"""The pure decisions behind the call flows, by tables: menu choice, wait estimate, hold plan."""

from __future__ import annotations

import pytest

from ivr.hold import (
    Deadline,
    LeaveReason,
    Step,
    WaitPhrase,
    deadline_phrase,
    estimate_wait,
    leave_reason,
    plan_hold,
    speaking_seconds,
    wait_phrase,
    wait_to_speak,
)
from ivr.menu import Outcome, choose

NOW = 1_796_000_000.0  # an arbitrary epoch second; the estimate only sees differences

# -- menu choice -------------------------------------------------------------------------------

KEYS = {"1": None, "2": "council_tax", "3": "benefits", "4": "street_care", "5": "housing",
        "9": None, "0": "general"}
ACTIONS = {"1": "payment_line", "9": "text_phone"}


def pick(config, digits=None, speech=None):
    return choose(digits, speech, config.menu.options, config.menu.repeat_key)


@pytest.mark.parametrize("key", sorted(KEYS))
def test_every_option_by_its_key(config, key):
    picked = pick(config, digits=key)
    assert picked.outcome is Outcome.CHOSEN
    assert picked.option.key == key
    assert picked.option.department == KEYS[key]
    assert str(picked.option.action) == ACTIONS.get(key, "queue")


@pytest.mark.parametrize(
    ("speech", "key"),
    [
        ("council tax", "2"),
        ("Council Tax.", "2"),
        ("I want to pay a bill", "1"),  # "pay a bill" beats "bill" and "pay"
        ("payments", "1"),
        ("I want to pay my council tax", "2"),  # the longer phrase wins over "pay"
        ("bins", "4"),
        ("my recycling wasn't collected", "4"),
        ("benefits", "3"),
        ("housing benefit", "3"),  # longest phrase: benefits, not housing
        ("housing repairs", "5"),
        ("text phone", "9"),
        ("anything else", "0"),
        ("option two", "2"),  # a spoken key
        ("press five", "5"),
        ("4", "4"),
        ("oh", "0"),
    ],
)
def test_speech_picks_an_option(config, speech, key):
    picked = pick(config, speech=speech)
    assert picked.outcome is Outcome.CHOSEN, speech
    assert picked.option.key == key


@pytest.mark.parametrize(
    ("digits", "speech"),
    [("*", None), (None, "repeat"), (None, "say that again please"), (None, "star")],
)
def test_repeat(config, digits, speech):
    picked = pick(config, digits=digits, speech=speech)
    assert picked.outcome is Outcome.REPEAT
    assert picked.option is None


@pytest.mark.parametrize(
    ("digits", "speech"),
    [
        ("7", None),  # no option 7
        ("22", None),  # two keys are not an option
        ("#", None),
        ("", None),  # no input
        (None, None),
        ("  ", ""),
        (None, "erm"),
        (None, "..."),
        (None, "seven"),
        ("7", "council tax"),  # keys win over speech, even a wrong key
    ],
)
def test_missed(config, digits, speech):
    picked = pick(config, digits=digits, speech=speech)
    assert picked.outcome is Outcome.MISSED
    assert picked.option is None


# -- wait estimate -----------------------------------------------------------------------------


def estimate(config, position, answered):
    q = config.queue
    return estimate_wait(position, answered, NOW, window=q.estimate_window,
                         min_answers=q.estimate_min_answers,
                         default_per_caller=q.default_seconds_per_caller)


@pytest.mark.parametrize("position", [1, 2, 3, 7])
def test_no_data_uses_default_per_caller(config, position):
    assert config.queue.default_seconds_per_caller == 60
    assert estimate(config, position, []) == 60 * position


@pytest.mark.parametrize(
    ("position", "answered", "expected"),
    [
        # 3 answers in the last 90 s: one every 30 s.
        (1, [NOW - 30, NOW - 60, NOW - 90], 30),
        (2, [NOW - 30, NOW - 60, NOW - 90], 60),
        (4, [NOW - 30, NOW - 60, NOW - 90], 120),
        # 10 answers over 200 s: 20 s each.
        (3, [NOW - 20 * k for k in range(1, 11)], 60),
        # Slow: 3 answers over 15 minutes.
        (1, [NOW - 100, NOW - 500, NOW - 900], 300),
        # Rounded up: 100 s over 3 answers is 33.3 s each.
        (1, [NOW - 10, NOW - 50, NOW - 100], 34),
        # Position 0 (Twilio never sends it) counts as first in line.
        (0, [NOW - 30, NOW - 60, NOW - 90], 30),
    ],
)
def test_measured_answer_rate(config, position, answered, expected):
    assert estimate(config, position, answered) == expected


def test_too_few_answers_fall_back_to_default(config):
    assert config.queue.estimate_min_answers == 3
    assert estimate(config, 2, [NOW - 10, NOW - 20]) == 120


def test_answers_outside_the_window_are_ignored(config):
    window = config.queue.estimate_window
    old = [NOW - window - 1, NOW - window - 600, NOW - 5 * window]
    recent = [NOW - 30, NOW - 60, NOW - 90]
    # Old answers alone: not enough data, the default stands.
    assert estimate(config, 2, old) == 120
    # With recent ones they would stretch the span to hours; they must not count.
    assert estimate(config, 2, recent + old) == 60
    # Two recent answers plus old ones are still too few.
    assert estimate(config, 2, recent[:2] + old) == 120


def test_answers_in_the_future_are_ignored(config):
    assert estimate(config, 1, [NOW + 100, NOW + 200, NOW + 300]) == 60


@pytest.mark.parametrize(
    ("seconds", "phrase", "minutes"),
    [
        (0, WaitPhrase.UNDER_MINUTE, 0),
        (30, WaitPhrase.UNDER_MINUTE, 0),
        (59, WaitPhrase.UNDER_MINUTE, 0),
        (60, WaitPhrase.ONE_MINUTE, 1),
        (61, WaitPhrase.MINUTES, 2),  # rounded up: an honest upper bound
        (120, WaitPhrase.MINUTES, 2),
        (121, WaitPhrase.MINUTES, 3),
        (180, WaitPhrase.MINUTES, 3),
        (3600, WaitPhrase.MINUTES, 60),
    ],
)
def test_wait_phrase(seconds, phrase, minutes):
    assert wait_phrase(seconds) == (phrase, minutes)


@pytest.mark.parametrize(
    ("estimate", "queue_time", "limit", "spoken"),
    [
        (30, 0, 120, (30, False)),
        (119, 0, 120, (119, False)),
        (120, 0, 120, (120, True)),  # reaching the limit: voicemail comes first
        (600, 0, 120, (120, True)),
        (60, 90, 120, (30, True)),
        (10, 90, 120, (10, False)),
        (60, 130, 120, (0, True)),  # past the limit (a late waitUrl): nothing left
        (60, -5, 120, (60, False)),  # a nonsense QueueTime counts as 0
    ],
)
def test_no_spoken_wait_outlasts_the_voicemail_limit(estimate, queue_time, limit, spoken):
    assert wait_to_speak(estimate, queue_time, limit) == spoken


@pytest.mark.parametrize(
    ("seconds", "phrase"),
    [
        (0, (Deadline.SOON, 0)),
        (14, (Deadline.SOON, 0)),
        (15, (Deadline.SECONDS, 10)),
        (61, (Deadline.SECONDS, 60)),  # down, never "about 2 minutes" with 61 s left
        (119, (Deadline.SECONDS, 110)),
        (120, (Deadline.MINUTES, 2)),
        (179, (Deadline.MINUTES, 2)),
        (600, (Deadline.MINUTES, 10)),
    ],
)
def test_the_time_left_before_voicemail_is_rounded_down(seconds, phrase):
    assert deadline_phrase(seconds) == phrase


@pytest.mark.parametrize(
    ("text", "words_per_second", "bound"),
    [("", 2.0, 1.0), ("one two three four", 2.0, 3.0), ("a b c d e f", 3.0, 3.0)],
)
def test_speaking_seconds_bound(text, words_per_second, bound):
    assert speaking_seconds(text, words_per_second) == bound


# -- hold plan ---------------------------------------------------------------------------------


def plan(config, queue_time, announce_seconds):
    q = config.queue
    return plan_hold(queue_time, limit=q.voicemail_after, announce_seconds=announce_seconds,
                     document_seconds=q.announce_every, segment_seconds=q.hold_audio.seconds)


@pytest.mark.parametrize("queue_time", [120, 121, 125, 200, 10_000])
def test_leave_at_and_after_the_limit(config, queue_time):
    assert config.queue.voicemail_after == 120
    assert plan(config, queue_time, 8).steps == ((Step.LEAVE, 0),)


@pytest.mark.parametrize(
    ("queue_time", "announce", "steps"),
    [
        # A full document: announcement, two 10 s segments, then pause to 30 s.
        (0, 8, [(Step.ANNOUNCE, 8), (Step.PLAY, 10), (Step.PLAY, 10), (Step.PAUSE, 2)]),
        (0, 7.2, [(Step.ANNOUNCE, 8), (Step.PLAY, 10), (Step.PLAY, 10), (Step.PAUSE, 2)]),
        (0, 10, [(Step.ANNOUNCE, 10), (Step.PLAY, 10), (Step.PLAY, 10)]),
        (30, 14, [(Step.ANNOUNCE, 14), (Step.PLAY, 10), (Step.PAUSE, 6)]),
        # Near the limit: the announcement only if it ends before the limit.
        (110, 8, [(Step.ANNOUNCE, 8), (Step.PAUSE, 2)]),
        (110, 10, [(Step.PLAY, 10)]),
        (112, 8, [(Step.PAUSE, 8)]),
        (115, 8, [(Step.PAUSE, 5)]),
        (118, 8, [(Step.PAUSE, 2)]),
        (119, 0.5, [(Step.PAUSE, 1)]),
        # An announcement longer than a document is never made; hold audio instead.
        (0, 45, [(Step.PLAY, 10), (Step.PLAY, 10), (Step.PLAY, 10)]),
        # A negative QueueTime (never sent, but read defensively) counts as 0.
        (-5, 8, [(Step.ANNOUNCE, 8), (Step.PLAY, 10), (Step.PLAY, 10), (Step.PAUSE, 2)]),
    ],
)
def test_plan_table(config, queue_time, announce, steps):
    assert list(plan(config, queue_time, announce).steps) == steps


@pytest.mark.parametrize("announce", [0.5, 1.0, 3, 8, 12.5, 19, 29, 29.5, 30, 31, 45, 200])
def test_no_document_overruns_the_limit(config, announce):
    """Property: for every QueueTime, a document never takes the caller past the limit
    (+ max_overrun), never lasts more than a document, and always holds something."""
    q = config.queue
    assert q.max_overrun == 5
    for queue_time in range(0, 131):
        hold = plan(config, queue_time, announce)
        kinds = [step for step, _ in hold.steps]
        if queue_time >= q.voicemail_after:
            assert kinds == [Step.LEAVE], queue_time
            continue
        assert Step.LEAVE not in kinds, queue_time
        assert hold.steps, queue_time
        assert queue_time + hold.seconds <= q.voicemail_after + q.max_overrun, (queue_time, hold)
        assert 1 <= hold.seconds <= q.announce_every, (queue_time, hold)
        for step, seconds in hold.steps:
            assert seconds >= 1, (queue_time, hold)
            if step is Step.PLAY:
                assert seconds == q.hold_audio.seconds
        if Step.ANNOUNCE in kinds:
            assert kinds.index(Step.ANNOUNCE) == 0
            assert dict(hold.steps)[Step.ANNOUNCE] >= announce
            assert queue_time + announce < q.voicemail_after


# -- why a caller left a queue -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("queue_result", "reason"),
    [
        ("bridged", LeaveReason.ANSWERED),
        ("bridging-in-process", LeaveReason.ANSWERED),
        ("leave", LeaveReason.TIMED_OUT),
        ("hangup", LeaveReason.HUNG_UP),
        ("queue-full", LeaveReason.QUEUE_FULL),
        ("error", LeaveReason.ERROR),
        ("system-error", LeaveReason.ERROR),
        # Taken out of the queue by the council (an agent's REST dequeue or transfer).
        ("redirected", LeaveReason.ANSWERED),
        ("redirected-from-bridged", LeaveReason.ANSWERED),
        (" leave ", LeaveReason.TIMED_OUT),
        ("garbage", LeaveReason.ERROR),
        ("", LeaveReason.ERROR),
        (None, LeaveReason.ERROR),
    ],
)
def test_leave_reason(queue_result, reason):
    assert leave_reason(queue_result) is reason


def test_leave_reasons_are_one_closed_set():
    assert {r.value for r in LeaveReason} == {
        "answered", "timed_out", "hung_up", "queue_full", "error",
    }
