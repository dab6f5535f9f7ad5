"""Department queues: Enqueue, the hold loop in (virtual) time, and why each caller left."""

from __future__ import annotations

import io
import wave
from datetime import datetime

import pytest
import time_machine

from ivr.events import read_all
from ivr.hold import speaking_seconds

OPEN = "2026-12-01 10:00:00+00:00"  # Tuesday 10:00 GMT
T0 = datetime.fromisoformat(OPEN).timestamp()
LANDLINE = "+441206282300"  # no text offer: the department option goes straight to the queue
DEPT_KEYS = {"council_tax": "2", "benefits": "3", "street_care": "4", "housing": "5",
             "general": "0"}


@pytest.fixture(autouse=True)
def traveller():
    with time_machine.travel(OPEN, tick=False) as t:
        yield t


def queued(make_caller, dept: str = "council_tax", from_: str = LANDLINE):
    """A caller who has rung, chosen ``dept`` and is now in its queue."""
    caller = make_caller(from_)
    caller.ring()
    caller.press(DEPT_KEYS[dept])
    doc = caller.follow()
    assert doc.verbs[-1] == "Enqueue", doc.xml
    return caller


def events(redis_client, kind: str) -> list[dict]:
    return [e for e in read_all(redis_client) if e["event"] == kind]


def call_hash(redis_client, sid: str) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in redis_client.hgetall(f"{{ivr}}:call:{sid}").items()}


def push_answers(redis_client, dept: str, ages: list[float]):
    """Answers measured ``ages`` seconds ago, stored as the app stores them (LPUSH epochs)."""
    for age in sorted(ages, reverse=True):
        redis_client.lpush(f"{{ivr}}:answers:{dept}", f"{T0 - age:.3f}")


# -- Enqueue -----------------------------------------------------------------------------------


@pytest.mark.parametrize("dept", sorted(DEPT_KEYS))
def test_enqueue_attributes(make_caller, config, dept):
    caller = queued(make_caller, dept)
    enqueue = caller.enqueue()
    assert enqueue.text == config.departments[dept].queue
    assert enqueue.get("waitUrl") == f"/voice/queue/{dept}/wait"
    assert enqueue.get("waitUrlMethod") == "POST"
    assert enqueue.get("action") == f"/voice/queue/{dept}/left"
    assert enqueue.get("method") == "POST"
    assert enqueue.get("maxQueueSize") == str(config.queue.max_size) == "100"


def test_each_department_has_its_own_queue(config):
    names = [d.queue for d in config.departments.values()]
    assert len(set(names)) == len(names) == 5


@pytest.mark.parametrize("dept", sorted(DEPT_KEYS))
def test_enqueue_records_the_caller_in_redis(make_caller, redis_client, dept):
    caller = queued(make_caller, dept)
    assert redis_client.zrange(f"{{ivr}}:queue:{dept}", 0, -1, withscores=True) == [
        (caller.sid.encode(), T0)
    ]
    facts = call_hash(redis_client, caller.sid)
    assert facts["dept"] == dept
    assert float(facts["queue_entered_at"]) == T0
    assert [e["call"] for e in events(redis_client, "ENTERQUEUE")] == [caller.sid]
    others = set(DEPT_KEYS) - {dept}
    assert all(redis_client.zcard(f"{{ivr}}:queue:{d}") == 0 for d in others)


def test_enqueue_twice_keeps_the_first_entry_time(make_caller, redis_client, traveller):
    caller = queued(make_caller)
    traveller.shift(30)
    caller.post("/voice/queue/council_tax/enter")
    assert redis_client.zscore("{ivr}:queue:council_tax", caller.sid) == T0


# -- the hold document ---------------------------------------------------------------------------


def told_wait(text: str) -> str:
    """The wait a hold announcement promises: an estimate, or the time left before voicemail."""
    if "The estimated wait is " in text:
        return "estimate: " + text.split("The estimated wait is ")[1].split(".")[0]
    if "If an advisor isn't free " in text:
        return "voicemail: " + text.split("isn't free ")[1].split(",")[0]
    raise AssertionError(f"no wait in {text!r}")


@pytest.mark.parametrize(
    ("position", "told", "busy"),
    [
        (1, "estimate: about a minute", False),  # 60 s, not over the 90 s threshold
        # 120 s and more would outlast the two-minute limit: the caller hears when they can
        # leave a message instead of a wait the system won't let them sit through.
        (2, "voicemail: in the next 2 minutes", True),
        (3, "voicemail: in the next 2 minutes", True),  # 180 s > 90 s: busy too
        (5, "voicemail: in the next 2 minutes", True),
    ],
)
def test_hold_announces_position_and_default_estimate(make_caller, config, position, told, busy):
    caller = queued(make_caller)
    doc = caller.hold(0, position=position, size=position)
    says = doc.all("Say")
    assert says[0].text.startswith(f"You are number {position} in the queue.")
    assert told_wait(doc.text) == told
    assert ("We're very busy at the moment. Thank you for your patience." in doc.text) is busy
    assert doc.verbs[0] == "Say"


@pytest.mark.parametrize(
    ("queue_time", "position", "told"),
    [
        (0, 1, "estimate: about a minute"),  # 60 s of 120 left
        (30, 1, "estimate: about a minute"),  # 60 s of 90 left
        (60, 1, "voicemail: in the next 60 seconds"),  # 60 s estimate, 60 s left
        (90, 1, "voicemail: in the next 30 seconds"),  # never "about a minute" 30 s from it
        (30, 2, "voicemail: in the next 90 seconds"),  # 120 s estimated, 90 s left
        (59, 2, "voicemail: in the next 60 seconds"),  # 61 s left: rounded down, never up
        (100, 1, "voicemail: in the next 20 seconds"),
    ],
)
def test_no_estimate_outlasts_the_voicemail_limit(make_caller, queue_time, position, told):
    caller = queued(make_caller)
    doc = caller.hold(queue_time, position=position, size=position)
    assert told_wait(doc.text) == told


@pytest.mark.parametrize(
    ("ages", "position", "wait", "busy"),
    [
        # One answer every 20 s in the last 200 s.
        ([20 * k for k in range(1, 11)], 1, "less than a minute", False),
        ([20 * k for k in range(1, 11)], 3, "about a minute", False),  # not 180 s any more
        # Slow: one answer every 5 minutes (past the limit: when voicemail comes instead).
        ([300, 600, 900], 1, None, True),
        # Too old to count: the default (60 s a caller) stands.
        ([2000, 2100, 2200, 2300], 3, None, True),
    ],
)
def test_measured_answers_change_the_estimate(make_caller, redis_client, ages, position, wait,
                                              busy):
    push_answers(redis_client, "council_tax", ages)
    caller = queued(make_caller)
    doc = caller.hold(0, position=position)
    expected = f"estimate: {wait}" if wait else "voicemail: in the next 2 minutes"
    assert told_wait(doc.text) == expected
    assert ("We're very busy" in doc.text) is busy


def test_answers_in_another_department_do_not_count(make_caller, redis_client):
    push_answers(redis_client, "housing", [10, 20, 30, 40])  # one every 10 s: 30 s for 3rd
    caller = queued(make_caller, "council_tax")
    # council tax has no answers of its own: the default 60 s a caller, past the limit
    assert told_wait(caller.hold(0, position=3).text) == "voicemail: in the next 2 minutes"


def test_hold_plays_audio_in_segments(make_caller, config):
    caller = queued(make_caller)
    doc = caller.hold(0)
    assert doc.verbs == ["Say", "Play", "Play", "Pause"]
    plays = doc.all("Play")
    assert {p.text for p in plays} == {config.queue.hold_audio.url}
    assert int(doc.first("Pause").get("length")) <= config.queue.announce_every


def test_hold_audio_is_served_and_as_long_as_configured(app, config):
    response = app.test_client().get(config.queue.hold_audio.url)
    assert response.status_code == 200
    assert response.mimetype.startswith("audio/")
    with wave.open(io.BytesIO(response.data)) as audio:
        assert audio.getnframes() / audio.getframerate() == config.queue.hold_audio.seconds


@pytest.mark.parametrize("queue_time", [95, 100, 105, 110, 112, 115, 118, 119])
def test_near_the_limit_only_what_fits(make_caller, config, queue_time):
    caller = queued(make_caller)
    doc = caller.hold(queue_time)
    remaining = config.queue.voicemail_after - queue_time
    assert "Leave" not in doc.verbs
    played = sum(config.queue.hold_audio.seconds for _ in doc.all("Play"))
    paused = sum(int(p.get("length")) for p in doc.all("Pause"))
    assert played + paused <= remaining


def test_at_118_only_a_short_pause(make_caller, config):
    caller = queued(make_caller)
    doc = caller.hold(118)
    assert doc.verbs == ["Pause"]
    assert 1 <= int(doc.first("Pause").get("length")) <= 2 + 1


@pytest.mark.parametrize("queue_time", [120, 121, 200, 3600])
def test_at_the_limit_leave(make_caller, queue_time):
    caller = queued(make_caller)
    assert caller.hold(queue_time).verbs == ["Leave"]


def document_seconds(doc, config) -> float:
    """How long Twilio takes to play a hold document, with a speaking-time upper bound."""
    total = 0.0
    for verb in doc.root:
        if verb.tag == "Say":
            total += speaking_seconds(verb.text, config.speech.words_per_second)
        elif verb.tag == "Play":
            total += config.queue.hold_audio.seconds
        elif verb.tag == "Pause":
            total += int(verb.get("length", "1"))
    return total


@pytest.mark.parametrize("fetch_latency", [0.0, 0.4])
@pytest.mark.parametrize(("position", "ages"), [(1, []), (4, []), (9, []),
                                                 (2, [20 * k for k in range(1, 11)])])
def test_hold_loop_in_virtual_time_leaves_by_the_limit(make_caller, redis_client, config,
                                                       traveller, position, ages,
                                                       fetch_latency):
    """Twilio re-requests the waitUrl each time a document ends; the caller must be out of the
    queue by 120 s + 5 s, whatever the position, and must not be taken out early."""
    push_answers(redis_client, "council_tax", ages)
    caller = queued(make_caller)
    limit, overrun = config.queue.voicemail_after, config.queue.max_overrun
    elapsed, documents, announcements = 0.0, 0, 0
    while True:
        traveller.move_to(datetime.fromtimestamp(T0 + elapsed).astimezone())
        doc = caller.hold(int(elapsed), position=position)  # Twilio sends whole seconds
        documents += 1
        assert documents < 50, "the hold loop never ended"
        if doc.verbs == ["Leave"]:
            break
        assert "Leave" not in doc.verbs
        length = document_seconds(doc, config)
        assert 1 <= length <= config.queue.announce_every
        announcements += doc.has("Say")
        elapsed += length + fetch_latency
    assert limit <= elapsed <= limit + overrun, elapsed
    assert announcements >= 3  # position and wait are repeated through the wait
    assert caller.leave_queue("leave", int(elapsed)).has("Redirect")


# -- leaving the queue ---------------------------------------------------------------------------

RESULTS = [
    ("bridged", "answered", "CONNECT"),
    ("bridging-in-process", "answered", "CONNECT"),
    ("redirected", "answered", "CONNECT"),
    ("redirected-from-bridged", "answered", "CONNECT"),
    ("leave", "timed_out", "EXITWITHTIMEOUT"),
    ("hangup", "hung_up", "ABANDON"),
    ("queue-full", "queue_full", "FULL"),
    ("error", "error", "EXITWITHERROR"),
    ("system-error", "error", "EXITWITHERROR"),
    ("garbage", "error", "EXITWITHERROR"),
]


@pytest.mark.parametrize(("result", "reason", "event"), RESULTS)
def test_each_result_is_recorded_once(make_caller, redis_client, traveller, result, reason, event):
    caller = queued(make_caller)
    traveller.shift(47)
    caller.leave_queue(result, 45)
    facts = call_hash(redis_client, caller.sid)
    assert facts["left_reason"] == reason
    assert facts["waited"] == "45"
    assert redis_client.zscore("{ivr}:queue:council_tax", caller.sid) is None
    # Twilio may report again (a retried action, then the status callback): still once.
    caller.post("/voice/queue/council_tax/left", QueueResult=result, QueueTime=45)
    caller.hang_up(duration=80)
    assert call_hash(redis_client, caller.sid)["left_reason"] == reason
    left = [e for e in read_all(redis_client) if e["data"].get("reason")]
    assert [(e["event"], e["data"]["reason"], e["data"]["wait"]) for e in left] == [
        (event, reason, 45)
    ]
    assert left[0]["dept"] == "council_tax"


@pytest.mark.parametrize(
    ("result", "apology", "reason"),
    [
        ("leave", "Sorry, we haven't been able to answer your call within two minutes.",
         "timed_out"),
        ("queue-full", "Sorry, all our advisors are busy and the queue is full.", "queue_full"),
        ("error", "Sorry, something went wrong on our side.", "error"),
        ("system-error", "Sorry, something went wrong on our side.", "error"),
        ("no-such-result", "Sorry, something went wrong on our side.", "error"),
    ],
)
def test_unanswered_results_go_to_voicemail(make_caller, config, result, apology, reason):
    caller = queued(make_caller, "housing")
    doc = caller.leave_queue(result, 120)
    assert doc.verbs == ["Say", "Redirect"]
    assert doc.text == apology
    assert doc.root.find("Redirect").text == f"/voicemail/start?dept=housing&reason={reason}"
    doc = caller.follow()
    assert doc.has("Record")
    assert "Please leave your name, number and a short message after the tone." in doc.text


def test_hangup_returns_no_speech(make_caller, redis_client):
    caller = queued(make_caller)
    doc = caller.leave_queue("hangup", 33)
    assert doc.verbs == []
    assert doc.text == ""
    assert not redis_client.keys("{ivr}:cb:*")  # callback_on_abandon is off by default


@pytest.mark.parametrize("result", ["bridged", "bridging-in-process"])
def test_answered_caller_who_stays_on_is_asked_for_feedback(make_caller, config, result):
    caller = queued(make_caller)
    doc = caller.leave_queue(result, 20)
    assert doc.verbs == ["Gather", "Redirect"]
    assert doc.text == config.messages.feedback_prompt


@pytest.mark.parametrize("result", ["redirected", "redirected-from-bridged"])
def test_redirected_leaves_the_call_to_its_new_document(make_caller, result):
    caller = queued(make_caller)
    assert caller.leave_queue(result, 20).verbs == []


def test_status_after_hangup_does_not_double_count(make_caller, redis_client, traveller):
    caller = queued(make_caller)
    traveller.shift(33)
    caller.leave_queue("hangup", 33)
    traveller.shift(2)
    caller.hang_up(duration=70)
    abandons = events(redis_client, "ABANDON")
    assert len(abandons) == 1
    assert abandons[0]["data"]["wait"] == 33
    ends = events(redis_client, "CALLEND")
    assert [(e["data"]["status"], e["data"]["duration"], e["dept"]) for e in ends] == [
        ("completed", 70, "council_tax")
    ]
    facts = call_hash(redis_client, caller.sid)
    assert facts["status"] == "completed"
    assert facts["duration"] == "70"


def test_status_for_a_caller_still_queued_records_abandon(make_caller, redis_client, traveller):
    caller = queued(make_caller, "benefits")
    traveller.shift(75)
    caller.hang_up(duration=100)  # no Enqueue action seen
    abandons = events(redis_client, "ABANDON")
    assert [(e["call"], e["dept"], e["data"]["wait"], e["data"]["reason"]) for e in abandons] == [
        (caller.sid, "benefits", 75, "hung_up")
    ]
    assert call_hash(redis_client, caller.sid)["left_reason"] == "hung_up"
    assert redis_client.zcard("{ivr}:queue:benefits") == 0
    # A late Enqueue action changes nothing.
    caller.leave_queue("hangup", 60)
    assert call_hash(redis_client, caller.sid)["waited"] == "75"
    assert len(events(redis_client, "ABANDON")) == 1


def test_status_for_a_call_that_never_queued_is_no_abandon(make_caller, redis_client):
    caller = make_caller()
    caller.ring()
    caller.hang_up(duration=12)
    assert events(redis_client, "ABANDON") == []
    assert len(events(redis_client, "CALLEND")) == 1


@pytest.mark.parametrize("status", ["ringing", "in-progress", "queued"])
def test_non_final_status_records_nothing(make_caller, redis_client, status):
    caller = queued(make_caller)
    caller.hang_up(status=status)
    assert events(redis_client, "CALLEND") == []
    assert events(redis_client, "ABANDON") == []
    assert redis_client.zscore("{ivr}:queue:council_tax", caller.sid) == T0


@pytest.mark.parametrize("result", ["bridged", "redirected"])
def test_answered_records_when_the_caller_was_answered(make_caller, redis_client, traveller,
                                                       result):
    caller = queued(make_caller, "street_care")
    # Twilio requests a bridged caller's action after the conversation: 45 s queued, then
    # a conversation of several minutes. The answer happened at entry + 45 s.
    traveller.shift(45 + (400 if result == "bridged" else 0))
    caller.leave_queue(result, 45)
    assert redis_client.lrange("{ivr}:answers:street_care", 0, -1) == [f"{T0 + 45:.3f}".encode()]
    assert redis_client.llen("{ivr}:answers:council_tax") == 0


def test_a_repeated_answer_report_is_one_sample(make_caller, redis_client, traveller):
    """Twilio may retry the action; an agent's leg may have noted the answer already."""
    caller = queued(make_caller)
    traveller.shift(300)
    caller.leave_queue("bridged", 20)
    caller.post("/voice/queue/council_tax/left", QueueResult="bridged", QueueTime=20)
    assert redis_client.lrange("{ivr}:answers:council_tax", 0, -1) == [f"{T0 + 20:.3f}".encode()]


def test_unanswered_records_no_answer(make_caller, redis_client):
    for result in ("leave", "hangup", "queue-full", "error"):
        queued(make_caller).leave_queue(result, 30)
    assert redis_client.llen("{ivr}:answers:council_tax") == 0


def test_answers_measured_here_drive_the_next_estimate(make_caller, redis_client, traveller):
    """Three callers answered 10, 20 and 30 s after T0: one answer every 10 s."""
    callers = [queued(make_caller) for _ in range(3)]
    for n, caller in enumerate(callers, start=1):
        traveller.move_to(datetime.fromtimestamp(T0 + 10 * n).astimezone())
        caller.leave_queue("bridged", 10 * n)
    traveller.move_to(datetime.fromtimestamp(T0 + 30).astimezone())
    waiting = queued(make_caller)
    doc = waiting.hold(0, position=5)  # 5 x 10 s
    assert "The estimated wait is less than a minute." in doc.text
    assert "very busy" not in doc.text


def test_answer_sample_is_bounded(make_caller, redis_client):
    push_answers(redis_client, "council_tax", list(range(100, 160)))
    queued(make_caller).leave_queue("bridged", 5)
    assert redis_client.llen("{ivr}:answers:council_tax") == 50
