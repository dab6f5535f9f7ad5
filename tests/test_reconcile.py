"""The reconciler mends what crashes and outages left behind, from stored state and the clock
(and Twilio's own records), once: released tasks, overdue notes, voicemails with no task."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest
import time_machine
from caller import Caller

from ivr import events, reconcile
from voicemail.tasks import load_task

FRIDAY_EVENING = "2026-11-27 18:00:00+00:00"
MONDAY_OPENING = datetime(2026, 11, 30, 9, 0, tzinfo=UTC).timestamp()
MOBILE = "+447911123456"


def utc(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def kinds(redis_client) -> list[str]:
    return [e["event"] for e in events.read_all(redis_client)]


def task_ids(redis_client) -> list[str]:
    keys = [k.decode() for k in redis_client.keys("{ivr}:cb:task:*")]
    return sorted(k.split(":")[3] for k in keys if k.count(":") == 3)


def leave_message(caller: Caller, dept: str = "council_tax", callbacks: int = 1,
                  expect: int = 200) -> str:
    doc = caller.post(f"/voicemail/start?dept={dept}")
    assert doc.has("Record"), doc.xml
    doc, rec, status_url = caller.record()
    assert doc.text.startswith("Thank you. We've got your message"), doc.xml  # never re-record
    for _ in range(callbacks):
        caller.recording_ready(status_url, rec, expect=expect)
    return rec


def test_a_task_whose_job_never_ran_is_released_by_its_time_once(app, caller, redis_client):
    ivr = app.extensions["ivr"]
    with time_machine.travel(FRIDAY_EVENING, tick=False):
        leave_message(caller)
    [task_id] = task_ids(redis_client)
    redis_client.delete(*redis_client.keys("rq:*"))  # the job is lost (a dead scheduler, say)

    assert reconcile.tasks_pass(ivr, MONDAY_OPENING - 1) == reconcile.Mended()
    assert load_task(redis_client, task_id)["status"] == "scheduled"
    assert reconcile.tasks_pass(ivr, MONDAY_OPENING + 5) == reconcile.Mended(fixed=1)
    assert load_task(redis_client, task_id)["status"] == "open"
    assert redis_client.zscore("{ivr}:cb:worklist", task_id) is not None
    assert reconcile.tasks_pass(ivr, MONDAY_OPENING + 35) == reconcile.Mended()
    assert kinds(redis_client).count("CALLBACKRELEASED") == 1


def test_an_open_task_past_its_due_time_is_noted_once(app, caller, redis_client):
    ivr = app.extensions["ivr"]
    with time_machine.travel(FRIDAY_EVENING, tick=False):
        leave_message(caller)
    [task_id] = task_ids(redis_client)
    due = float(load_task(redis_client, task_id)["due_at"])
    assert reconcile.tasks_pass(ivr, due - 60).fixed == 1  # released, not yet overdue
    assert reconcile.tasks_pass(ivr, due + 1) == reconcile.Mended(fixed=1)
    assert reconcile.tasks_pass(ivr, due + 31) == reconcile.Mended()
    [overdue] = [e for e in events.read_all(redis_client) if e["event"] == "CALLBACKOVERDUE"]
    assert overdue["data"] == {"task": task_id, "due_at": due, "attempts": 0}
    assert overdue["dept"] == "council_tax"


def test_the_metrics_and_the_console_count_a_task_past_its_release_time_as_due(
        app, caller, redis_client):
    from ivr.report.live import backlog

    with time_machine.travel(FRIDAY_EVENING, tick=False):
        leave_message(caller)
    assert backlog(redis_client, MONDAY_OPENING - 1)["council_tax"].scheduled == 1
    assert backlog(redis_client, MONDAY_OPENING + 1)["council_tax"].due == 1  # read-only
    [task_id] = task_ids(redis_client)
    assert load_task(redis_client, task_id)["status"] == "scheduled"


@pytest.fixture
def unwritable_spool(tmp_path):
    """A spool directory that cannot be made (its parent is a file): even root cannot write."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    return blocker / "spool"


def test_redis_and_spool_both_down_the_voicemail_is_recovered_from_twilio(
        make_app, redis_client, twilio, unwritable_spool, caplog):
    """Nothing could store it: the caller is thanked (not asked to record again), the
    recording callback gets 503 so Twilio may retry, the log names the recording, and the
    reconciler turns Twilio's recording into the task, once."""
    dead = make_app(REDIS_URL="redis://127.0.0.1:1/0", IVR_SPOOL_DIR=str(unwritable_spool))
    caller = Caller(dead.test_client())
    with time_machine.travel(FRIDAY_EVENING, tick=False), caplog.at_level(logging.ERROR):
        rec = leave_message(caller, callbacks=2, expect=503)
    assert "VOICEMAIL NOT STORED" in caplog.text and rec in caplog.text
    assert MOBILE not in caplog.text  # masked
    assert task_ids(redis_client) == []
    left = utc(FRIDAY_EVENING)
    twilio.recording_info[rec] = {"call_sid": caller.sid, "date_created": left, "duration": 12,
                                  "source": "RecordVerb"}
    twilio.recording_info["RE" + "d" * 32] = {"call_sid": "CA" + "d" * 32, "source": "DialVerb",
                                              "date_created": left, "duration": 60}
    twilio.recording_info["RE" + "e" * 32] = {"call_sid": "CA" + "e" * 32, "source": "RecordVerb",
                                              "date_created": left - 3 * 86400, "duration": 9}

    ivr = make_app().extensions["ivr"]  # Redis is back
    assert _recover(ivr, twilio, caller.sid, left + 60) == reconcile.Mended()  # on its way?
    # the call record was never written: Twilio's call gives the caller's number
    assert _recover(ivr, twilio, caller.sid, left + 900) == reconcile.Mended(fixed=1)
    [task_id] = task_ids(redis_client)
    task = load_task(redis_client, task_id)
    assert (task["number"], task["department"], task["source"]) == (MOBILE, "general",
                                                                    "reconciled")
    [recording] = json.loads(task["recordings"])
    assert recording["id"] == rec and recording["status"] == "completed"
    assert _recover(ivr, twilio, caller.sid, left + 1000) == reconcile.Mended()  # once
    assert kinds(redis_client) == ["VOICEMAIL", "CALLBACKCREATED"]


def _recover(ivr, twilio, call_sid: str, now: float) -> reconcile.Mended:
    """The recordings pass, with Twilio knowing the resident's call ``call_sid``."""
    twilio.call_info[call_sid] = {"from": MOBILE, "to": "+441206282222",
                                  "direction": "inbound", "status": "completed"}
    return reconcile.recordings_pass(ivr, now)


def test_a_voicemail_whose_call_record_is_known_takes_its_department_and_number(
        app, caller, redis_client, twilio):
    """The recording callbacks never came (a network failure): the call's record says where
    the caller queued; the reconciler stores the message there."""
    ivr = app.extensions["ivr"]
    left = utc(FRIDAY_EVENING)
    with time_machine.travel(FRIDAY_EVENING, tick=False):
        caller.ring()
        redis_client.hset(f"{{ivr}}:call:{caller.sid}", "dept", "housing")
    rec = "RE" + "7" * 32
    twilio.recording_info[rec] = {"call_sid": caller.sid, "date_created": left, "duration": 30,
                                  "source": "RecordVerb"}
    assert reconcile.recordings_pass(ivr, left + 900) == reconcile.Mended(fixed=1)
    [task_id] = task_ids(redis_client)
    task = load_task(redis_client, task_id)
    assert (task["number"], task["department"]) == (MOBILE, "housing")
    assert not [r for r in twilio.requests if "/Calls/" in r[1]]  # no REST call needed


def test_a_feedback_comment_is_not_a_voicemail(app, caller, redis_client, twilio):
    ivr = app.extensions["ivr"]
    left = utc(FRIDAY_EVENING)
    redis_client.hset(f"{{ivr}}:call:{caller.sid}", mapping={"caller": MOBILE,
                                                             "answered_by": "1001"})
    twilio.recording_info["RE" + "8" * 32] = {"call_sid": caller.sid, "date_created": left,
                                              "duration": 8, "source": "RecordVerb"}
    assert reconcile.recordings_pass(ivr, left + 900) == reconcile.Mended()
    assert task_ids(redis_client) == []


def test_twilio_unreachable_changes_nothing_and_is_counted(app, redis_client, twilio):
    twilio.fail_next = 1
    assert reconcile.recordings_pass(app.extensions["ivr"], utc(FRIDAY_EVENING)) == \
        reconcile.Mended(errors=1)
    assert task_ids(redis_client) == []


def test_run_once_leaves_a_heartbeat_and_totals_and_one_run_at_a_time(app, caller,
                                                                     redis_client, twilio):
    ivr = app.extensions["ivr"]
    with time_machine.travel(FRIDAY_EVENING, tick=False):
        leave_message(caller)
    results = reconcile.run_once(ivr, MONDAY_OPENING + 5)
    assert results["tasks"] == reconcile.Mended(fixed=1)
    # another machine's run holds the lock: only this host's spool is replayed
    assert reconcile.run_once(ivr, MONDAY_OPENING + 6) == {"spool": reconcile.Mended()}
    at, totals = reconcile.health(redis_client)
    assert at == pytest.approx(MONDAY_OPENING + 5)
    assert totals["tasks"] == reconcile.Mended(fixed=1)


def test_the_reconcile_command_runs_once_and_says_what_it_mended(
        make_app, caller, redis_client, monkeypatch, capsys, spool_dir):
    from conftest import TEST_REDIS_URL

    from ivr.cli import main

    with time_machine.travel(FRIDAY_EVENING, tick=False):
        leave_message(caller)
    redis_client.delete(*redis_client.keys("rq:*"))
    monkeypatch.setenv("REDIS_URL", TEST_REDIS_URL)
    monkeypatch.setenv("IVR_SPOOL_DIR", str(spool_dir))
    monkeypatch.delenv("TWILIO_ACCOUNT_SID", raising=False)
    with time_machine.travel(MONDAY_OPENING + 5, tick=False):
        assert main(["reconcile"]) == 0
    assert "tasks 1 mended" in capsys.readouterr().out
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    assert main(["reconcile"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Redis unavailable" in err
