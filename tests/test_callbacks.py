"""Callback tasks: one per recording and per number, one RQ job, released at the next opening.

Twilio reports each recording twice (the <Record> action and the recording status callback) and
may repeat the callback; a Redis outage spools voicemails to disk. None of this may duplicate or
lose a callback.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import time_machine
from jobs import Worker, run_due_jobs
from rq import Queue
from rq.job import Job

from ivr import events
from ivr.spool import FAILED_SUFFIX
from voicemail.tasks import RELEASE_JOB, load_task, release_job_id

OPEN = "2026-12-01 10:00:00+00:00"  # Tuesday, 10:00 GMT
CLOSED = "2026-12-01 19:00:00+00:00"  # Tuesday, 19:00 GMT
MOBILE = "+447911123456"
OTHER = "+441206282300"
RELAY = "+448000223388"  # listed under relay.caller_ids


@pytest.fixture
def app_after_outage(down_app, make_app):
    """The app with Redis up, sharing ``down_app``'s spool directory (same machine)."""
    return make_app()


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def to_record(caller, dept: str = "general"):
    """Where a queue time-out or the closed menu sends a caller: straight to the tone."""
    doc = caller.post(f"/voicemail/start?dept={dept}")
    assert doc.has("Record"), doc.xml
    return doc


def leave_message(caller, dept: str = "general", callbacks: int = 1):
    """The whole message: the tone, the action, then ``callbacks`` recording status callbacks."""
    to_record(caller, dept)
    doc, rec, status_url = caller.record()
    for _ in range(callbacks):
        caller.recording_ready(status_url, rec)
    return doc, rec


def task_ids(redis_client) -> list[str]:
    keys = [k.decode() for k in redis_client.keys("{ivr}:cb:task:*")]
    return sorted(k.split(":")[3] for k in keys if k.count(":") == 3)


def task(redis_client, task_id: str) -> dict:
    found = load_task(redis_client, task_id)
    found["recordings"] = json.loads(found["recordings"])
    return found


def only_task(redis_client) -> dict:
    ids = task_ids(redis_client)
    assert len(ids) == 1, ids
    return task(redis_client, ids[0])


def callbacks_queue(redis_client) -> Queue:
    return Queue("callbacks", connection=redis_client)


def scheduled(redis_client) -> dict[str, datetime]:
    """Scheduled job id -> when RQ will enqueue it (UTC)."""
    registry = callbacks_queue(redis_client).scheduled_job_registry
    return {job_id: registry.get_scheduled_time(job_id) for job_id in registry.get_job_ids()}


def kinds(redis_client) -> list[str]:
    return [e["event"] for e in events.read_all(redis_client)]


def run_scheduler_and_worker(redis_client, at: str) -> int:
    """What the service's RQ worker with its scheduler does at ``at``: returns jobs moved."""
    return run_due_jobs(redis_client, "callbacks", at)


# -- one task and one job per recording ------------------------------------------------------


@pytest.mark.parametrize(
    "order",
    [
        ("action", "status"),
        ("action", "status", "status"),  # Twilio repeats the status callback
        ("status", "action", "status"),  # the callback overtakes the action
        ("status", "status", "action"),
    ],
)
@pytest.mark.parametrize("with_sid", [False, True])  # RecordingSid on the action, or not
@time_machine.travel(CLOSED, tick=False)
def test_one_task_and_one_job_per_recording(caller, redis_client, order, with_sid):
    to_record(caller)
    record = caller.doc.first("Record")
    status_url = record.get("recordingStatusCallback")
    rec = "RE" + "5" * 32
    for step in order:
        if step == "action":
            doc, _, _ = caller.record(recording_sid=rec, with_sid=with_sid)
            assert doc.text.startswith("Thank you. We've got your message")
        else:
            assert caller.recording_ready(status_url, rec).verbs == []

    found = only_task(redis_client)
    assert found["voicemails"] == "1"
    assert [r["id"] for r in found["recordings"]] == [rec]
    assert found["recordings"][0]["status"] == "completed"
    job_id = release_job_id(found["id"])
    assert job_id == f"callback-release-{found['id']}"
    assert Job.exists(job_id, connection=redis_client)
    assert list(scheduled(redis_client)) == [job_id]
    assert callbacks_queue(redis_client).scheduled_job_registry.count == 1
    job = Job.fetch(job_id, connection=redis_client)
    assert (job.func_name, job.args, job.origin) == (RELEASE_JOB, (found["id"],), "callbacks")
    assert kinds(redis_client).count("VOICEMAIL") == 1
    assert kinds(redis_client).count("CALLBACKCREATED") == 1


CALLBACK_DAYS = [
    # left at (UTC), release = opening of the callback day (UTC), due = its closing (UTC)
    (OPEN, "2026-12-02 09:00Z", "2026-12-02 17:00Z"),  # Tuesday -> Wednesday
    (CLOSED, "2026-12-02 09:00Z", "2026-12-02 17:00Z"),
    ("2026-11-27 16:59:00+00:00", "2026-11-30 09:00Z", "2026-11-30 17:00Z"),  # Friday 16:59
    ("2026-11-27 17:01:00+00:00", "2026-11-30 09:00Z", "2026-11-30 17:00Z"),  # Friday 17:01
    ("2026-11-28 12:00:00+00:00", "2026-11-30 09:00Z", "2026-11-30 17:00Z"),  # Saturday
    ("2026-11-29 23:59:00+00:00", "2026-11-30 09:00Z", "2026-11-30 17:00Z"),  # Sunday night
    # Friday in BST; the clocks go back on Sunday 25 October: Monday opens at 09:00 GMT.
    ("2026-10-23 14:00:00+00:00", "2026-10-26 09:00Z", "2026-10-26 17:00Z"),
    # Friday in GMT; the clocks go forward on Sunday 29 March: Monday opens at 08:00 UTC.
    ("2026-03-27 14:00:00+00:00", "2026-03-30 08:00Z", "2026-03-30 16:00Z"),
    ("2026-04-03 10:00:00+00:00", "2026-04-07 08:00Z", "2026-04-07 16:00Z"),  # Good Friday
    ("2026-04-02 16:30:00+00:00", "2026-04-07 08:00Z", "2026-04-07 16:00Z"),  # Thu 17:30 BST
    ("2026-05-22 12:00:00+00:00", "2026-05-26 08:00Z", "2026-05-26 16:00Z"),  # spring bank hol.
    # Christmas Day, Boxing Day (Saturday: substitute Monday 28th): back on Tuesday 29th
    # (config.yaml lists no closures of its own; test_controls adds some live).
    ("2026-12-24 12:00:00+00:00", "2026-12-29 09:00Z", "2026-12-29 17:00Z"),
    # 2027: Christmas on Saturday and Boxing Day on Sunday: substitutes Monday and Tuesday.
    ("2027-12-24 12:00:00+00:00", "2027-12-29 09:00Z", "2027-12-29 17:00Z"),
    # 00:30 on Wednesday 1 July in London, still Tuesday in UTC: London's calendar counts.
    ("2026-06-30 23:30:00+00:00", "2026-07-02 08:00Z", "2026-07-02 16:00Z"),
]


@pytest.mark.parametrize(("left_at", "release", "due"), CALLBACK_DAYS)
def test_job_is_scheduled_for_the_opening_of_the_next_working_day(
    caller, redis_client, left_at, release, due
):
    with time_machine.travel(left_at, tick=False):
        leave_message(caller)
    found = only_task(redis_client)
    assert found["status"] == "scheduled"
    assert int(found["release_at"]) == utc(release).timestamp()
    assert int(found["due_at"]) == utc(due).timestamp()
    assert found["callback_day"] == utc(release).date().isoformat()
    assert scheduled(redis_client) == {release_job_id(found["id"]): utc(release)}
    assert redis_client.zscore("{ivr}:cb:scheduled", found["id"]) == utc(release).timestamp()


# -- one open callback per number ------------------------------------------------------------


@time_machine.travel(CLOSED, tick=False)
def test_second_voicemail_from_the_same_number_joins_the_open_task(make_caller, redis_client):
    first, second = make_caller(from_=MOBILE), make_caller(from_=MOBILE)
    _, rec1 = leave_message(first, "council_tax")
    _, rec2 = leave_message(second, "housing", callbacks=2)
    found = only_task(redis_client)
    assert found["voicemails"] == "2"
    assert [r["id"] for r in found["recordings"]] == [rec1, rec2]
    assert [r["call_sid"] for r in found["recordings"]] == [first.sid, second.sid]
    assert [r["department"] for r in found["recordings"]] == ["council_tax", "housing"]
    assert found["department"] == "council_tax"  # the task keeps its first department
    assert list(scheduled(redis_client)) == [release_job_id(found["id"])]
    assert kinds(redis_client).count("CALLBACKCREATED") == 1
    merged = [e for e in events.read_all(redis_client) if e["event"] == "CALLBACKMERGED"]
    assert [(e["call"], e["data"]["task"]) for e in merged] == [(second.sid, found["id"])]


@time_machine.travel(CLOSED, tick=False)
def test_a_different_number_gets_its_own_task(make_caller, redis_client):
    leave_message(make_caller(from_=MOBILE))
    leave_message(make_caller(from_=OTHER))
    ids = task_ids(redis_client)
    assert len(ids) == 2
    assert sorted(task(redis_client, i)["number"] for i in ids) == sorted([MOBILE, OTHER])
    assert sorted(scheduled(redis_client)) == sorted(release_job_id(i) for i in ids)


@time_machine.travel(CLOSED, tick=False)
def test_callers_without_a_number_are_never_merged(make_caller, redis_client):
    for _ in range(2):
        caller = make_caller(from_="anonymous")
        caller.post("/voicemail/start?dept=general")
        for _ in range(3):
            doc = caller.silence()
        assert doc.has("Record")
        caller.record()
    ids = task_ids(redis_client)
    assert len(ids) == 2
    assert [task(redis_client, i)["needs_number"] for i in ids] == ["1", "1"]
    assert len(scheduled(redis_client)) == 2


@time_machine.travel(CLOSED, tick=False)
def test_relay_caller_task_is_marked_even_when_the_callback_comes_first(make_caller, redis_client):
    caller = make_caller(from_=RELAY)
    doc = caller.post("/voicemail/start?dept=general")
    assert "Relay UK" in doc.text  # the relay's caller ID is not theirs: they are asked
    caller.press("07912345678")
    record = caller.press("1").first("Record")
    rec = "RE" + "7" * 32
    caller.recording_ready(record.get("recordingStatusCallback"), rec)  # carries no From
    caller.record(recording_sid=rec)
    found = only_task(redis_client)
    assert (found["relay"], found["number"]) == ("1", "+447912345678")
    assert found["voicemails"] == "1"


# -- release to the worklist -----------------------------------------------------------------


@time_machine.travel("2026-11-27 18:00:00+00:00", tick=False)  # Friday evening
def test_release_job_moves_the_task_to_the_worklist_once(caller, redis_client):
    leave_message(caller)
    found = only_task(redis_client)
    task_id = found["id"]
    assert redis_client.zscore("{ivr}:cb:scheduled", task_id) is not None
    assert redis_client.zscore("{ivr}:cb:worklist", task_id) is None

    # A minute before Monday's opening nothing is due.
    assert run_scheduler_and_worker(redis_client, "2026-11-30 08:59:00+00:00") == 0
    assert task(redis_client, task_id)["status"] == "scheduled"

    assert run_scheduler_and_worker(redis_client, "2026-11-30 09:00:00+00:00") == 1
    released = task(redis_client, task_id)
    assert released["status"] == "open"
    assert float(released["released_at"]) >= utc("2026-11-30 09:00:00+00:00").timestamp()
    assert redis_client.zscore("{ivr}:cb:scheduled", task_id) is None
    assert redis_client.zscore("{ivr}:cb:worklist", task_id) == float(found["due_at"])
    job = Job.fetch(release_job_id(task_id), connection=redis_client)
    assert job.get_status() == "finished"
    assert job.return_value() == "released"
    assert scheduled(redis_client) == {}

    # Running the release again (a retry, a replayed job) changes nothing.
    again = callbacks_queue(redis_client).enqueue(RELEASE_JOB, task_id)
    Worker([callbacks_queue(redis_client)], connection=redis_client).work(burst=True)
    assert again.return_value() == "open"
    assert task(redis_client, task_id)["released_at"] == released["released_at"]
    assert redis_client.zcard("{ivr}:cb:worklist") == 1
    assert kinds(redis_client).count("CALLBACKRELEASED") == 1
    assert [k for k in kinds(redis_client) if k.startswith(("VOICE", "CALLBACK"))] == [
        "VOICEMAIL",
        "CALLBACKCREATED",
        "CALLBACKRELEASED",
    ]


@time_machine.travel("2026-11-27 18:00:00+00:00", tick=False)
def test_voicemail_after_release_joins_the_open_task(make_caller, redis_client):
    leave_message(make_caller(from_=MOBILE))
    run_scheduler_and_worker(redis_client, "2026-11-30 09:00:00+00:00")
    with time_machine.travel("2026-11-30 10:00:00+00:00", tick=False):
        leave_message(make_caller(from_=MOBILE))
    found = only_task(redis_client)
    assert (found["status"], found["voicemails"]) == ("open", "2")
    assert scheduled(redis_client) == {}  # already on the worklist: no new job
    assert kinds(redis_client).count("CALLBACKMERGED") == 1


def test_release_of_an_unknown_task_is_harmless(redis_client):
    job = callbacks_queue(redis_client).enqueue(RELEASE_JOB, "CBnothere")
    Worker([callbacks_queue(redis_client)], connection=redis_client).work(burst=True)
    assert job.return_value() == ""
    assert redis_client.zcard("{ivr}:cb:worklist") == 0
    assert "CALLBACKRELEASED" not in kinds(redis_client)


# -- Redis down: spooled, then replayed --------------------------------------------------------


LEFT = "2026-11-27 17:30:00+00:00"  # Friday evening: callback on Monday 30 November


def spool_files(spool_dir, kind: str | None = None) -> list:
    if not spool_dir.exists():
        return []
    return sorted(
        p
        for p in spool_dir.iterdir()
        if p.suffix == ".json" and (kind is None or f"-{kind}-" in p.name)
    )


def leave_message_while_redis_is_down(down_app, spool_dir):
    from caller import Caller

    caller = Caller(down_app.test_client())
    with time_machine.travel(LEFT, tick=False):
        doc, rec = leave_message(caller, "council_tax", callbacks=2)
        assert caller.hang_up().verbs == []
    assert doc.text == (
        "Thank you. We've got your message and we'll call you back by the end of "
        "Monday 30 November. Goodbye."
    )
    assert len(spool_files(spool_dir, "voicemail")) == 3  # the action and two callbacks
    assert len(spool_files(spool_dir, "events")) == 1  # the end of the call
    return caller, rec


def test_voicemail_is_spooled_when_redis_is_down_and_replayed_later(
    down_app, app_after_outage, spool_dir, redis_client
):
    caller, rec = leave_message_while_redis_is_down(down_app, spool_dir)
    assert task_ids(redis_client) == []

    spool = app_after_outage.extensions["ivr"].spool
    with time_machine.travel("2026-12-01 10:00:00+00:00", tick=False):  # Tuesday: Redis back
        assert spool.drain() == 4
        assert spool.drain() == 0
    assert spool.pending() == []
    found = only_task(redis_client)
    # The promise made on Friday stands: Monday's window, not one counted from Tuesday.
    assert found["callback_day"] == "2026-11-30"
    assert int(found["release_at"]) == utc("2026-11-30 09:00:00+00:00").timestamp()
    assert int(found["due_at"]) == utc("2026-11-30 17:00:00+00:00").timestamp()
    assert float(found["created_at"]) == utc(LEFT).timestamp()
    assert (found["number"], found["department"], found["voicemails"]) == (
        MOBILE,
        "council_tax",
        "1",
    )
    assert [r["id"] for r in found["recordings"]] == [rec]
    assert list(scheduled(redis_client)) == [release_job_id(found["id"])]
    voicemail_events = [
        e for e in events.read_all(redis_client) if e["event"] in ("VOICEMAIL", "CALLBACKCREATED")
    ]
    assert [(e["event"], e["call"], e["ts"]) for e in voicemail_events] == [
        ("VOICEMAIL", caller.sid, utc(LEFT).timestamp()),
        ("CALLBACKCREATED", caller.sid, utc(LEFT).timestamp()),
    ]


def test_the_next_incoming_call_replays_the_spool(
    down_app, app_after_outage, spool_dir, redis_client
):
    leave_message_while_redis_is_down(down_app, spool_dir)
    from caller import Caller

    with time_machine.travel(OPEN, tick=False):
        doc = Caller(app_after_outage.test_client(), from_=OTHER).ring()
    assert doc.text.startswith("Thank you for calling Colchester Borough Council.")
    assert spool_files(spool_dir) == []
    assert only_task(redis_client)["number"] == MOBILE
    assert "CALLEND" in kinds(redis_client)  # the spooled status-callback events came back too


def test_a_bad_spool_item_is_kept_aside_and_does_not_block_the_rest(
    app, spool_dir, redis_client, caplog
):
    spool = app.extensions["ivr"].spool
    bad = spool.write("voicemail", {"call_sid": "CA1"})  # missing fields: cannot be replayed
    leave_at = utc(LEFT).timestamp()
    good = {
        "call_sid": "CA" + "2" * 32,
        "recording_id": "RE" + "2" * 32,
        "recording_url": "",
        "duration": 9,
        "recording_status": "completed",
        "number": OTHER,
        "relay": False,
        "department": "general",
        "left_at": leave_at,
        "source": "record_action",
    }
    spool.write("voicemail", good)
    from caller import Caller

    with time_machine.travel(OPEN, tick=False):
        doc = Caller(app.test_client()).ring()  # drains the spool
    assert "something went wrong" not in doc.text  # one bad file does not break every call
    assert doc.has("Gather")
    assert spool.pending() == []
    assert bad.with_name(bad.name + FAILED_SUFFIX).exists()  # kept for a person to look at
    assert only_task(redis_client)["number"] == OTHER
    assert bad.name in caplog.text


# -- callers who hang up while queuing ---------------------------------------------------------


def hang_up_in_queue(caller, waited: int = 40):
    with time_machine.travel(OPEN, tick=False):
        caller.ring()
        caller.press("2")
        doc = caller.follow()
        if doc.has("Gather"):
            caller.press("9")
        enqueued = caller.doc
        assert enqueued.verbs[-1] == "Enqueue"
        caller.hold(0)
        doc = caller.leave_queue("hangup", waited)
        assert doc.verbs == []
        caller.hang_up(duration=waited + 20)
        caller.doc = enqueued
        caller.leave_queue("hangup", waited)  # a repeated report changes nothing either


def test_abandoned_caller_gets_no_callback_by_default(caller, redis_client, config):
    assert config.queue.callback_on_abandon is False
    hang_up_in_queue(caller)
    assert task_ids(redis_client) == []
    assert scheduled(redis_client) == {}
    abandons = [e for e in events.read_all(redis_client) if e["event"] == "ABANDON"]
    assert [(e["call"], e["data"]["wait"]) for e in abandons] == [(caller.sid, 40)]


@pytest.fixture
def abandon_app(make_app, config):
    switched = config.model_copy(
        update={"queue": config.queue.model_copy(update={"callback_on_abandon": True})}
    )
    return make_app(config=switched)


def test_abandoned_caller_gets_one_callback_when_switched_on(abandon_app, redis_client):
    from caller import Caller

    caller = Caller(abandon_app.test_client(), from_=MOBILE)
    hang_up_in_queue(caller)
    found = only_task(redis_client)
    assert (found["number"], found["department"], found["source"]) == (
        MOBILE,
        "council_tax",
        "abandoned",
    )
    assert found["voicemails"] == "1"
    assert [r["id"] for r in found["recordings"]] == [f"{caller.sid}-abandoned"]
    assert found["callback_day"] == "2026-12-02"
    assert list(scheduled(redis_client)) == [release_job_id(found["id"])]


def test_abandoned_withheld_caller_cannot_get_a_callback(abandon_app, redis_client):
    from caller import Caller

    hang_up_in_queue(Caller(abandon_app.test_client(), from_="anonymous"))
    assert task_ids(redis_client) == []


# -- one atomic script for the task and its events; the job only makes the release prompt ---


@pytest.fixture
def redis_fails_after_the_script(app, monkeypatch):
    """Redis goes away between a voicemail's two round trips: the task script has run, the
    MULTI/EXEC with its release job cannot reach Redis (a real refused connection).
    Calling the fixture's value brings Redis back."""
    from conftest import DOWN_REDIS_URL

    from ivr import store
    from voicemail import flow

    ivr = app.extensions["ivr"]
    real_save = flow.save_voicemail

    def save_then_fail(r, vm, window, retention_days=None):
        saved = real_save(r, vm, window, retention_days)
        down = store.connect(DOWN_REDIS_URL)
        monkeypatch.setattr(ivr, "redis", down)
        monkeypatch.setattr(ivr, "callbacks", Queue(ivr.callbacks.name, connection=down))
        return saved

    monkeypatch.setattr(flow, "save_voicemail", save_then_fail)
    return monkeypatch.undo


@time_machine.travel(CLOSED, tick=False)
def test_job_lost_after_the_script_costs_nothing_the_task_is_released_by_its_time(
    caller, app, redis_client, spool_dir, redis_fails_after_the_script
):
    """The task, its indexes and its events are one script: once it has run the voicemail
    is safe, and the release follows from the task's release time, not from the job."""
    from voicemail.tasks import release_due

    to_record(caller)
    doc, _, _ = caller.record()
    assert doc.text.startswith("Thank you. We've got your message")
    redis_fails_after_the_script()
    found = only_task(redis_client)
    assert scheduled(redis_client) == {}  # no job
    assert kinds(redis_client) == ["VOICEMAIL", "CALLBACKCREATED"]  # written with the task
    assert spool_files(spool_dir, "voicemail") == []  # nothing to replay
    assert spool_files(spool_dir, "events") == []

    release = float(found["release_at"])
    assert release_due(redis_client, release - 60) == [0, 0]  # not yet
    assert task(redis_client, found["id"])["status"] == "scheduled"
    assert release_due(redis_client, release + 1) == [0, 1]
    assert task(redis_client, found["id"])["status"] == "open"
    assert redis_client.zscore("{ivr}:cb:worklist", found["id"]) == float(found["due_at"])
    assert release_due(redis_client, release + 2) == [0, 0]  # once
    assert kinds(redis_client) == ["VOICEMAIL", "CALLBACKCREATED", "CALLBACKRELEASED"]


@time_machine.travel(CLOSED, tick=False)
def test_job_lost_between_the_round_trips_is_scheduled_by_the_next_delivery(
    caller, app, redis_client, spool_dir, redis_fails_after_the_script
):
    to_record(caller)
    _, rec, status_url = caller.record()
    redis_fails_after_the_script()
    caller.recording_ready(status_url, rec)  # Twilio's second report: a duplicate, job missing
    found = only_task(redis_client)
    assert list(scheduled(redis_client)) == [release_job_id(found["id"])]
    assert app.extensions["ivr"].spool.drain() == 0  # nothing was spooled
    assert only_task(redis_client)["voicemails"] == "1"
    assert kinds(redis_client).count("CALLBACKCREATED") == 1


@time_machine.travel(CLOSED, tick=False)
def test_deliveries_racing_past_the_script_still_make_one_job(app, redis_client):
    """Action and callback at the same moment: both scripts run before either MULTI/EXEC, both
    see no job; the fixed job id makes the second write land on the first job."""
    from ivr.calendar import callback_window
    from voicemail.tasks import Voicemail, commit_release, save_voicemail

    ivr = app.extensions["ivr"]
    now = utc(CLOSED)
    vm = Voicemail(call_sid="CA" + "8" * 32, recording_id="RE" + "8" * 32, recording_url="",
                   duration=7, recording_status="completed", number=MOBILE, relay=False,
                   department="housing", left_at=now.timestamp(), source="record_action")
    window = callback_window(now, ivr.hours)
    first, second = (save_voicemail(ivr.redis, vm, window) for _ in range(2))
    assert (first.outcome, second.outcome) == ("created", "duplicate")
    assert first.needs_job and second.needs_job
    for saved in (first, second):
        assert commit_release(ivr.batch(vm.call_sid, MOBILE, now.timestamp()),
                            ivr.callbacks, saved)
    assert list(scheduled(redis_client)) == [release_job_id(first.task_id)]
    assert not save_voicemail(ivr.redis, vm, window).needs_job  # a third delivery: job found
    assert kinds(redis_client) == ["VOICEMAIL", "CALLBACKCREATED"]


# -- retention -------------------------------------------------------------------------------


@time_machine.travel("2026-11-27 18:00:00+00:00", tick=False)
@pytest.mark.parametrize(("outcomes", "closed"), [
    (["answered"], "done"),
    (["no-answer", "busy", "no-answer"], "unreachable"),
    (["no-answer"], None),  # still open: kept, no expiry
])
def test_a_closed_task_and_its_voicemails_expire_after_the_retention_period(
        make_caller, redis_client, config, outcomes, closed):
    from voicemail import callbacks

    first, second = make_caller(), make_caller()
    leave_message(first)
    leave_message(second)  # same number: joins the task, a second recording
    found = only_task(redis_client)
    task_id = found["id"]
    assert len(found["recordings"]) == 2
    run_scheduler_and_worker(redis_client, "2026-11-30 09:00:00+00:00")
    keys = [f"{{ivr}}:cb:task:{task_id}", f"{{ivr}}:cb:task:{task_id}:attempts",
            f"{{ivr}}:cb:task:{task_id}:recordings", f"{{ivr}}:cb:task:{task_id}:calls",
            *(f"{{ivr}}:cb:recording:{rec['id']}" for rec in found["recordings"]),
            *(f"{{ivr}}:cb:rec:{rec['id']}" for rec in found["recordings"])]
    keep = config.callbacks_work.keep_closed_tasks
    now = utc("2026-11-30 10:00:00+00:00").timestamp()
    for i, outcome in enumerate(outcomes):
        attempt = callbacks.log_attempt(
            redis_client, task_id, agent_id="a1", outcome=callbacks.Outcome(outcome),
            now=now + i * 7200, retry_gap=3600, max_attempts=3, keep_closed=keep,
            call_sid=f"CAdial{i}")
        assert attempt.logged
    assert attempt.status == (closed or "open")
    for key in keys:
        ttl = redis_client.ttl(key)
        if closed:
            assert keep - 5 <= ttl <= keep, (key, ttl)
        else:
            assert ttl == -1, (key, ttl)  # an open task is never lost to an expiry
    if closed:  # a late, repeated report changes nothing, expiry included
        again = callbacks.log_attempt(
            redis_client, task_id, agent_id="a1", outcome=callbacks.Outcome.ANSWERED,
            now=now + 86400, retry_gap=3600, max_attempts=3, keep_closed=keep)
        assert not again.logged and again.status == closed
    assert keep >= 7 * 86400  # the console lists closed tasks for a week


@time_machine.travel("2026-11-27 18:00:00+00:00", tick=False)
def test_a_repeated_dial_result_on_an_open_task_is_logged_once(caller, redis_client, config):
    """Twilio may post the same Dial action twice: one ring is one attempt, never three
    (which would close the task as unreachable and text the resident after one try)."""
    from voicemail import callbacks

    leave_message(caller)
    task_id = only_task(redis_client)["id"]
    run_scheduler_and_worker(redis_client, "2026-11-30 09:00:00+00:00")
    now = utc("2026-11-30 10:00:00+00:00").timestamp()

    def report(call_sid: str, at: float) -> callbacks.Attempt:
        return callbacks.log_attempt(
            redis_client, task_id, agent_id="a1", outcome=callbacks.Outcome.NO_ANSWER,
            now=at, retry_gap=3600, max_attempts=3,
            keep_closed=config.callbacks_work.keep_closed_tasks, call_sid=call_sid)

    first = report("CAdial1", now)
    assert (first.logged, first.status, first.count) == (True, "open", 1)
    for repeat in range(3):
        again = report("CAdial1", now + 5 + repeat)
        assert (again.logged, again.status, again.count) == (False, "open", 1)
    assert redis_client.llen(f"{{ivr}}:cb:task:{task_id}:attempts") == 1
    second = report("CAdial2", now + 7200)  # a new dial is a new attempt
    assert (second.logged, second.count) == (True, 2)


@time_machine.travel("2026-11-27 18:00:00+00:00", tick=False)
def test_a_late_delivery_after_retention_brings_nothing_back(make_caller, redis_client, config):
    """Once retention has removed a recording's details, a late repeat of its status callback
    (or a spool replay) must not recreate them, without any expiry."""
    caller = make_caller()
    to_record(caller)
    doc, rec, status_url = caller.record()
    caller.recording_ready(status_url, rec)
    recording = only_task(redis_client)["recordings"][0]["id"]
    redis_client.delete(f"{{ivr}}:cb:recording:{recording}")  # as the retention expiry does
    caller.recording_ready(status_url, rec)
    assert not redis_client.exists(f"{{ivr}}:cb:recording:{recording}")


@time_machine.travel("2026-11-27 18:00:00+00:00", tick=False)
def test_a_voicemail_never_joins_a_closed_task(make_caller, redis_client):
    """Should the number's open-task pointer outlive its task (it is removed on closing), a
    new message gets a task of its own that someone will work."""
    leave_message(make_caller())
    old = only_task(redis_client)
    redis_client.hset(f"{{ivr}}:cb:task:{old['id']}", "status", "done")
    leave_message(make_caller())  # same number
    ids = task_ids(redis_client)
    assert len(ids) == 2
    new = next(i for i in ids if i != old["id"])
    assert task(redis_client, new)["status"] == "scheduled"
    assert len(task(redis_client, old["id"])["recordings"]) == 1


# -- the worklist scripts: claim the next due task, keep a claim --------------------------------

NOW = 1_800_000_000.0


def worklist_task(redis_client, task_id: str, due: float, dept: str = "general",
                  number: str = MOBILE, **fields) -> str:
    from voicemail.tasks import TASK, WORKLIST

    redis_client.hset(TASK.format(id=task_id), mapping={
        "id": task_id, "status": "open", "department": dept, "number": number, **fields})
    redis_client.zadd(WORKLIST, {task_id: due})
    return task_id


def phone_agent(redis_client, name: str, departments=(), role: str = "agent") -> str:
    """An agent on the agent line: their call is linked to them (what the scripts read)."""
    from ivr import agents

    found = agents.add(redis_client, name=name, departments=departments, phone="",
                       role=agents.Role(role), now=NOW)
    redis_client.set(agents.AGENT_CALL.format(sid=f"CA-{found.id}"), found.id)
    return found.id


def claim_next(redis_client, agent_id: str, now: float = NOW, with_number: bool = True):
    from ivr import agents
    from voicemail import callbacks

    pipe = redis_client.pipeline(transaction=False)
    parse = callbacks.next_due(pipe, index_key=agents.AGENT_CALL.format(sid=f"CA-{agent_id}"),
                               departments=["general", "housing"], now=now,
                               with_number=with_number)
    found = parse(pipe.execute()[0])
    return found.task["id"] if found else None


def test_the_next_due_task_overdue_first_claimed_once(redis_client):
    from voicemail import callbacks

    worklist_task(redis_client, "T-today", NOW + 3600)
    worklist_task(redis_client, "T-overdue", NOW - 86400)
    worklist_task(redis_client, "T-retry", NOW - 90000, next_attempt_at=NOW + 60)  # not yet
    worklist_task(redis_client, "T-closed", NOW - 95000, status="done")
    worklist_task(redis_client, "T-nonumber", NOW - 99000, number="")  # the console's
    worklist_task(redis_client, "T-housing", NOW - 98000, dept="housing")
    ana, ben = phone_agent(redis_client, "Ana", ["general"]), phone_agent(redis_client, "Ben")
    assert claim_next(redis_client, ana) == "T-overdue"
    assert claim_next(redis_client, ana) == "T-overdue"  # still theirs: the same, claim renewed
    assert claim_next(redis_client, ben) == "T-housing"  # no departments: the configured ones
    assert claim_next(redis_client, phone_agent(redis_client, "Cy")) == "T-today"
    assert claim_next(redis_client, phone_agent(redis_client, "Di")) is None  # all claimed
    assert redis_client.ttl(callbacks.CLAIM.format(id="T-overdue")) == callbacks.CLAIM_SECONDS
    assert claim_next(redis_client, phone_agent(redis_client, "Ed"), with_number=False) == (
        "T-nonumber")


def test_a_supervisor_without_departments_takes_any_department(redis_client):
    worklist_task(redis_client, "T-other", NOW - 60, dept="street_care")
    assert claim_next(redis_client, phone_agent(redis_client, "Ana")) is None
    assert claim_next(redis_client, phone_agent(redis_client, "Sue", role="supervisor")) == (
        "T-other")


def test_a_skipped_task_is_not_offered_again_to_that_agent_for_the_skip_period(redis_client):
    from voicemail import callbacks

    worklist_task(redis_client, "T1", NOW - 600)
    worklist_task(redis_client, "T2", NOW - 60)
    ana, ben = phone_agent(redis_client, "Ana"), phone_agent(redis_client, "Ben")
    assert claim_next(redis_client, ana) == "T1"
    pipe = redis_client.pipeline(transaction=False)
    callbacks.skip(pipe, "T1", ana, NOW)
    pipe.execute()
    assert claim_next(redis_client, ana) == "T2"
    assert claim_next(redis_client, ben) == "T1"  # free for others at once
    callbacks.release_claim(redis_client, "T1", ben)
    assert claim_next(redis_client, ana, NOW + callbacks.CLAIM_SECONDS - 1) == "T2"
    callbacks.release_claim(redis_client, "T2", ana)
    assert claim_next(redis_client, ana, NOW + callbacks.CLAIM_SECONDS + 1) == "T1"


def test_calling_needs_the_claim_and_an_unknown_agent_changes_nothing(redis_client):
    from ivr import agents
    from voicemail import callbacks

    worklist_task(redis_client, "T1", NOW - 60)
    ana, ben = phone_agent(redis_client, "Ana"), phone_agent(redis_client, "Ben")

    def hold(agent_sid: str, take: bool = True) -> callbacks.Held:
        pipe = redis_client.pipeline(transaction=False)
        parse = callbacks.hold(pipe, "T1", index_key=agents.AGENT_CALL.format(sid=agent_sid),
                               take=take)
        return parse(pipe.execute()[0])

    assert claim_next(redis_client, ana) == "T1"
    assert not hold(f"CA-{ben}").held  # Ana has it
    assert hold(f"CA-{ana}").held and hold(f"CA-{ana}").workable
    redis_client.delete(callbacks.CLAIM.format(id="T1"))  # lapsed
    assert hold(f"CA-{ben}").held  # taken again by whoever calls first
    assert not hold(f"CA-{ana}").held
    assert not hold(f"CA-{ana}", take=False).held
    assert hold("CA-nobody") == callbacks.Held({}, False)
    pipe = redis_client.pipeline(transaction=False)
    parse = callbacks.queue_attempt(
        pipe, "T1", index_key=agents.AGENT_CALL.format(sid="CA-nobody"),
        outcome=callbacks.Outcome.ANSWERED, now=NOW, retry_gap=3600, max_attempts=3,
        keep_closed=8 * 86400)
    assert not parse(pipe.execute()[0]).logged
    assert redis_client.hget("{ivr}:cb:task:T1", "status") == b"open"
    assert callbacks.attempts(redis_client, "T1") == []
