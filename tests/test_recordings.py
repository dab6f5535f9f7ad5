"""Retention deletes the recordings themselves at Twilio, not only our pointers to them.

Voicemails are deleted when their closed task's retention ends (never while it is worked);
feedback comments and advisor calls after their own periods. The deletion is an RQ job against
the project's Twilio stand-in, run in-process at the virtual moment it is due; 404 is success
and other failures are retried by RQ.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
import time_machine
from jobs import Worker, run_due_jobs
from rq import Queue
from rq.job import Job
from test_console import add_agent, as_user, leave_voicemail

from ivr import recordings
from ivr.recordings import DELETE_RECORDING, deletion_job_id
from ivr.sim.scenario import Agent, Caller, steps
from ivr.sim.world import in_process
from voicemail.tasks import TASK, load_task

CLOSED = "2026-12-01 19:00:00+00:00"  # Tuesday evening: the voicemail
WED_11 = datetime(2026, 12, 2, 11, 0, tzinfo=UTC).timestamp()  # the task is worked
OPEN = datetime(2026, 12, 1, 10, 0, tzinfo=UTC).timestamp()
AUDIO = b"ID3\x03\x00\x00\x00\x00\x00\x00" + bytes(64)
AGENT_PHONE = "+447700900123"


def run_jobs(redis_client, at: float) -> int:
    return run_due_jobs(redis_client, "callbacks", at)


def scheduled_at(redis_client, sid: str) -> float | None:
    """When the deletion of ``sid`` is due (None: not scheduled)."""
    registry = Queue("callbacks", connection=redis_client).scheduled_job_registry
    when = registry.get_scheduled_time(deletion_job_id(sid)) if deletion_job_id(sid) in (
        registry.get_job_ids()) else None
    return when.timestamp() if when else None


def deletions(redis_client) -> list[str]:
    registry = Queue("callbacks", connection=redis_client).scheduled_job_registry
    return [j for j in registry.get_job_ids() if j.startswith("recording-delete-")]


@pytest.fixture
def tara(redis_client):
    return add_agent(redis_client, "Tara Tax", ("council_tax",), "+447911123402")


@pytest.fixture
def voicemail(make_caller, redis_client, twilio):
    """A council tax voicemail left on Tuesday evening, held at Twilio, released on Wednesday."""
    with time_machine.travel(CLOSED, tick=False):
        task_id, rec = leave_voicemail(make_caller, "council_tax")
    twilio.recordings[rec] = AUDIO
    run_jobs(redis_client, WED_11 - 3600)  # the release job at the opening of the day
    assert load_task(redis_client, task_id)["status"] == "open"
    return task_id, rec


def outcome(app, agent, task_id: str, result: str, at: float) -> None:
    """A call from another phone, recorded by hand: the next attempt of the task."""
    made = int(load_task(app.extensions["ivr"].redis, task_id).get("attempts") or 0)
    with time_machine.travel(at, tick=False):
        response = as_user(app, agent).post(f"/console/callbacks/{task_id}/outcome",
                                            outcome=result, attempt=made + 1)
    assert response.status_code == 302


# -- voicemails: deleted when their closed task's retention ends -------------------------------


@pytest.mark.parametrize("results", [["answered"], ["no-answer", "busy", "no-answer"]])
def test_a_closed_tasks_voicemail_is_deleted_at_twilio_after_retention_and_not_before(
        app, redis_client, twilio, config, tara, voicemail, results):
    task_id, rec = voicemail
    for i, result in enumerate(results):
        assert not deletions(redis_client)  # open: nothing scheduled
        outcome(app, tara, task_id, result, WED_11 + i * 7200)
    closed_at = WED_11 + (len(results) - 1) * 7200
    keep = config.callbacks_work.keep_closed_tasks
    assert scheduled_at(redis_client, rec) == closed_at + keep
    run_jobs(redis_client, closed_at + keep - 60)
    assert rec in twilio.recordings and not twilio.deleted
    run_jobs(redis_client, closed_at + keep + 60)
    assert rec not in twilio.recordings and twilio.deleted == [rec]
    job = Job.fetch(deletion_job_id(rec), connection=redis_client)
    assert job.args == (rec, "voicemail", task_id) and job.return_value() == "deleted"
    assert [r[0] for r in twilio.requests if rec in r[1]] == ["DELETE"]


def test_an_open_tasks_voicemail_is_never_deleted(app, redis_client, twilio, tara, voicemail):
    task_id, rec = voicemail
    outcome(app, tara, task_id, "no-answer", WED_11)
    assert load_task(redis_client, task_id)["status"] == "open"
    assert not deletions(redis_client)
    run_jobs(redis_client, WED_11 + 400 * 86400)
    assert rec in twilio.recordings and not twilio.deleted


def test_a_task_worked_again_when_the_deletion_falls_due_keeps_its_voicemail(
        app, redis_client, twilio, config, tara, voicemail):
    """Should a closed task be back in work (reopened by hand), the job leaves it alone."""
    task_id, rec = voicemail
    outcome(app, tara, task_id, "answered", WED_11)
    redis_client.hset(TASK.format(id=task_id), "status", "open")
    run_jobs(redis_client, WED_11 + config.callbacks_work.keep_closed_tasks + 60)
    assert rec in twilio.recordings and not twilio.deleted
    job = Job.fetch(deletion_job_id(rec), connection=redis_client)
    assert job.return_value() == "kept"


@pytest.mark.parametrize(("status", "keep"), [
    ("open", True), ("scheduled", True), ("done", False), ("unreachable", False), (None, False)])
def test_only_a_task_being_worked_keeps_its_voicemails(status, keep):
    assert recordings.keep_for_task(status) is keep


@pytest.mark.parametrize(("sid", "ok"), [
    ("RE" + "0" * 32, True), ("CA" + "0" * 32 + "-no-recording", False), ("RE123", False)])
def test_only_recording_sids_are_deleted(sid, ok):
    assert recordings.deletable(sid) is ok


# -- the job: 404 is success, other failures are retried ---------------------------------------


def enqueue_deletion(redis_client, sid: str) -> Job:
    return Queue("callbacks", connection=redis_client).enqueue(
        DELETE_RECORDING, sid, "advisor_call", "", job_id=deletion_job_id(sid),
        retry=recordings.RETRY)


def work(redis_client) -> None:
    Worker([Queue("callbacks", connection=redis_client)],
                 connection=redis_client).work(burst=True)


def test_a_recording_twilio_no_longer_has_is_success(redis_client, twilio):
    sid = "RE" + uuid.uuid4().hex
    job = enqueue_deletion(redis_client, sid)
    work(redis_client)
    job.refresh()
    assert job.get_status() == "finished" and job.return_value() == "already gone"
    assert twilio.requests[-1][0] == "DELETE" and not twilio.deleted


def test_a_twilio_error_is_retried_by_rq_until_deleted(redis_client, twilio):
    sid = "RE" + uuid.uuid4().hex
    twilio.recordings[sid] = AUDIO
    twilio.fail_status, twilio.fail_next = 500, 1
    job = enqueue_deletion(redis_client, sid)
    work(redis_client)
    job.refresh()
    assert job.get_status() == "scheduled" and job.retries_left == recordings.RETRY.max - 1
    assert sid in twilio.recordings
    run_jobs(redis_client, time.time() + recordings.RETRY.intervals[0] + 5)
    job.refresh()
    assert job.get_status() == "finished" and job.return_value() == "deleted"
    assert twilio.deleted == [sid]


def test_the_stand_in_answers_like_twilio(twilio):
    from ivr import twilio_rest

    sid = "RE" + uuid.uuid4().hex
    twilio.recordings[sid] = AUDIO
    assert twilio_rest.delete_recording(sid) is True  # 204
    assert twilio_rest.delete_recording(sid) is False  # 404: already gone
    with pytest.raises(ValueError):
        twilio_rest.delete_recording("../Calls/CA1")


# -- feedback comments and advisor calls ----------------------------------------------------


def test_a_feedback_comment_is_deleted_after_its_retention(make_caller, redis_client, twilio,
                                                           config):
    from test_feedback import answered

    with time_machine.travel(OPEN, tick=False):
        caller = answered(make_caller)
        caller.press("4")
        _, rec, status_url = caller.record(duration=8)
        twilio.recordings[rec] = AUDIO
        caller.recording_ready(status_url, rec, duration=8)
    keep = config.recording.keep_feedback_comments
    assert scheduled_at(redis_client, rec) == OPEN + keep
    assert keep <= config.events.retention_days * 86400  # gone before its event is trimmed
    run_jobs(redis_client, OPEN + keep - 60)
    assert rec in twilio.recordings
    run_jobs(redis_client, OPEN + keep + 60)
    assert twilio.deleted == [rec]


def test_an_advisor_call_recording_is_reported_and_deleted_after_its_retention(
        make_app, redis_client, twilio, config):
    """End to end in virtual time: the advisor takes the caller on a recorded <Dial>; Twilio's
    recording callback schedules the deletion, which runs when the period ends."""
    from ivr import agents

    sam = agents.add(redis_client, name="Sam Patel", departments=["council_tax"],
                     phone=AGENT_PHONE, role=agents.Role.AGENT, now=OPEN)
    agents.set_secret(redis_client, sam.id, "pin_hash", "246813")
    world = in_process(make_app(staffed=False), start=OPEN, rest=twilio)
    world.agent(Agent(pin="246813", calls=1), phone=AGENT_PHONE)
    world.call(Caller(steps("2 -"), talk_seconds=30), at=OPEN + 60)
    world.run()
    (rec,) = twilio.recordings  # the conversation, recorded on the advisor's <Dial>
    when = scheduled_at(redis_client, rec)
    keep = config.recording.keep_advisor_calls
    assert when is not None and OPEN + keep < when < OPEN + keep + 600
    run_jobs(redis_client, when - 60)
    assert rec in twilio.recordings
    run_jobs(redis_client, when + 60)
    assert twilio.deleted == [rec] and not twilio.recordings


@pytest.mark.parametrize(("status", "scheduled"), [("completed", True), ("absent", False)])
def test_twilios_report_of_an_advisor_recording_schedules_its_deletion(
        app, redis_client, config, status, scheduled):
    from caller import BASE
    from caller import Caller as Twilio

    line = Twilio(app.test_client(), from_=AGENT_PHONE)
    sid = "RE" + uuid.uuid4().hex
    with time_machine.travel(WED_11, tick=False):
        line._callback(BASE + "/voice/recording/advisor", {
            "AccountSid": "AC" + "0" * 32, "CallSid": line.sid, "RecordingSid": sid,
            "RecordingUrl": f"https://api.twilio.com/Recordings/{sid}",
            "RecordingStatus": status, "RecordingSource": "DialVerb"})
    expected = WED_11 + config.recording.keep_advisor_calls if scheduled else None
    assert scheduled_at(redis_client, sid) == expected
