"""A failure is counted as a failure: every Twilio job that fails (a text Twilio refuses, a
text with no credentials, a recording deletion, an offer to an advisor) raises, lands in RQ's
failed registry, is an event, and shows in the report and on ``/metrics``; the report's "SMS
links sent" counts texts Twilio accepted, not jobs queued. Start-up refuses in production when
a credential a feature needs is missing (warns on loopback); ``/livez``, ``/readyz`` and
``/healthz`` say what is up."""

from __future__ import annotations

import logging
import time

import pytest
import time_machine
from caller import AUTH_TOKEN, sign
from jobs import Worker, run_due_jobs
from rq import Queue
from rq.registry import FailedJobRegistry
from test_metrics import scrape

from ivr import events, messaging, preflight, recordings, report
from ivr.agents.jobs import OFFER_CALLER
from ivr.cli import main
from ivr.report.text import render_text

OPEN = "2026-12-01 10:00:00+00:00"
MOBILE = "+447911123456"
SEND = "ivr.messaging.send_sms"


def ask_for_a_text(caller) -> None:
    with time_machine.travel(OPEN, tick=False):
        caller.ring()
        caller.press("2")  # council tax: told what is online, offered the link by text
        caller.follow()
        caller.press("1")


def run_sms_until_done(redis_client) -> None:
    """The job and each retry RQ schedules, as the scheduler and worker would."""
    start = time.time()
    for attempt in range(messaging.RETRY.max + 1):
        run_due_jobs(redis_client, "messages", start + 3600 * attempt)


def sms_report(redis_client) -> report.Report:
    return report.compute(events.read_all(redis_client))


def failed_by_function(app) -> dict[str, float]:
    return {dict(labels)["function"]: v for (name, labels), v in scrape(app).items()
            if name == "ivr_jobs_failed_by_function"}


def test_a_text_twilio_accepts_is_counted_sent(app, caller, redis_client, twilio):
    ask_for_a_text(caller)
    run_sms_until_done(redis_client)
    r = sms_report(redis_client)
    assert (r.sms_requested, r.sms_links, r.sms_failed) == (1, 1, 0)
    [sent] = [e for e in events.read_all(redis_client) if e["event"] == "SMSSENT"]
    assert sent["call"] == caller.sid and sent["data"]["message"] == twilio.messages[0]["sid"]
    assert failed_by_function(app) == {}


def report_status(app, message: dict, status: str, code: str = "") -> None:
    """Twilio's message status callback, signed as Twilio signs it."""
    form = {"MessageSid": message["sid"], "MessageStatus": status, "SmsSid": message["sid"],
            "SmsStatus": status, "AccountSid": message["account_sid"], "To": message["to"],
            "From": message["from"], "ApiVersion": "2010-04-01"} | (
        {"ErrorCode": code} if code else {})
    url = message["status_callback"]
    answer = app.test_client().post("/sms/status", data=form,
                                    headers={"X-Twilio-Signature": sign(url, form, AUTH_TOKEN)})
    assert answer.status_code == 200


def test_delivery_is_counted_from_twilios_status_callback(app, make_caller, redis_client,
                                                          twilio, monkeypatch):
    monkeypatch.setenv("PUBLIC_BASE_URL", "http://localhost")  # the worker's: Twilio reports
    delivered, lost = make_caller(), make_caller("+447911123457")
    ask_for_a_text(delivered)
    ask_for_a_text(lost)
    run_sms_until_done(redis_client)
    first, second = twilio.messages
    assert first["status_callback"] == "http://localhost/sms/status"
    report_status(app, first, "sent")  # progress only
    report_status(app, first, "delivered")
    report_status(app, first, "delivered")  # reported twice: counted once
    report_status(app, second, "undelivered", "30003")
    r = sms_report(redis_client)
    assert (r.sms_requested, r.sms_links, r.sms_delivered, r.sms_failed) == (2, 1, 1, 1)
    outcomes = [(e["event"], e["call"]) for e in events.read_all(redis_client)
                if e["event"] in ("SMSDELIVERED", "SMSUNDELIVERED")]
    assert outcomes == [("SMSDELIVERED", delivered.sid), ("SMSUNDELIVERED", lost.sid)]
    assert MOBILE not in str(events.read_all(redis_client))


@pytest.mark.parametrize("how", ["twilio refuses", "no credentials"])
def test_a_text_that_is_never_sent_is_a_failure_everywhere(app, caller, redis_client, twilio,
                                                          monkeypatch, how):
    if how == "twilio refuses":
        twilio.fail_status, twilio.fail_next = 400, 100
    else:
        monkeypatch.delenv("TWILIO_ACCOUNT_SID")
    ask_for_a_text(caller)
    run_sms_until_done(redis_client)
    assert twilio.messages == []
    [job_id] = FailedJobRegistry("messages", connection=redis_client).get_job_ids()
    r = sms_report(redis_client)
    assert (r.sms_requested, r.sms_links, r.sms_failed) == (1, 0, 1)  # not "1 sent"
    tries = [e for e in events.read_all(redis_client) if e["event"] == "SMSFAILED"]
    assert [t["data"]["final"] for t in tries] == [False] * messaging.RETRY.max + [True]
    assert all(t["call"] == caller.sid and t["dept"] == "council_tax" for t in tries)
    assert MOBILE not in str(tries)  # the error's class and code, never the message text
    assert failed_by_function(app) == {SEND: 1}
    assert "1 asked, 0 SMS links sent (accepted by Twilio), 0 delivered, 1 failed" in (
        render_text(r, {}))


def test_a_recording_deletion_that_fails_is_a_failure(app, redis_client, twilio, monkeypatch):
    monkeypatch.delenv("TWILIO_AUTH_TOKEN")
    sid = "RE" + "a" * 32
    queue = Queue("callbacks", connection=redis_client)
    batch = app.extensions["ivr"].batch("CA" + "a" * 32, "", time.time())
    recordings.schedule_deletion(batch, queue, sid, time.time() - 1,
                                 recordings.Kind.ADVISOR_CALL)
    batch.commit("test")
    start = time.time()
    for attempt in range(recordings.RETRY.max + 1):
        run_due_jobs(redis_client, "callbacks", start + 86400 * attempt)
    assert FailedJobRegistry("callbacks", connection=redis_client).get_job_ids() == [
        recordings.deletion_job_id(sid)]
    tries = [e for e in events.read_all(redis_client) if e["event"] == "JOBFAILED"]
    assert len(tries) == recordings.RETRY.max + 1 and tries[-1]["data"]["final"] is True
    assert tries[-1]["data"]["recording"] == sid
    assert tries[-1]["data"]["job"] == recordings.DELETE_RECORDING
    assert failed_by_function(app) == {recordings.DELETE_RECORDING: 1}


def test_an_offer_twilio_refuses_is_a_failed_job(app, redis_client, twilio):
    from test_offer import claim, idle_agent

    sam = idle_agent(redis_client, "Sam Patel", ["council_tax"], "CA" + "1" * 32)
    claim(redis_client, "council_tax", "CAcaller1")
    twilio.fail_next = 1
    queue = Queue("messages", connection=redis_client)
    job = queue.enqueue(OFFER_CALLER, sam.id, "CA" + "1" * 32, "CAcaller1",
                        "http://localhost/agent/take?offer=CAcaller1")
    Worker([queue], connection=redis_client).work(burst=True)
    job.refresh()
    assert job.get_status() == "failed"  # not a "finished" job whose result says failed
    [event] = [e for e in events.read_all(redis_client) if e["event"] == "JOBFAILED"]
    assert (event["call"], event["data"]["final"], event["data"]["agent"]) == (
        "CAcaller1", True, sam.id)
    assert failed_by_function(app) == {OFFER_CALLER: 1}
    assert redis_client.hget(f"{{ivr}}:agent:{sam.id}", "offer") in (None, b"")  # released


# -- start-up ------------------------------------------------------------------------------------


def test_production_refuses_to_start_without_the_credentials(make_app, config):
    with pytest.raises(preflight.Refused) as refused:
        make_app(PUBLIC_BASE_URL="https://ivr.colchester.gov.uk", TWILIO_ACCOUNT_SID="")
    assert str(refused.value).count("\n") == 0
    assert "TWILIO_ACCOUNT_SID is not set" in str(refused.value)
    assert "SMS links, recording deletion" in str(refused.value)


def test_loopback_warns_loudly_and_starts(make_app, caplog):
    with caplog.at_level(logging.ERROR):
        make_app(PUBLIC_BASE_URL="http://127.0.0.1:5000", TWILIO_ACCOUNT_SID="")
    assert "WARNING: TWILIO_ACCOUNT_SID is not set" in caplog.text
    assert "each will FAIL until then (loopback: starting anyway)" in caplog.text


def test_ivr_serve_refuses_in_one_line_before_starting_anything(monkeypatch, capsys):
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://ivr.colchester.gov.uk")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # never reached
    monkeypatch.delenv("TWILIO_ACCOUNT_SID", raising=False)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "x")
    assert main(["serve", "--bind", "127.0.0.1:0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: refusing to start: TWILIO_ACCOUNT_SID is not set")
    assert err.count("\n") == 1


@pytest.mark.parametrize(("url", "public"), [
    ("", False), ("http://127.0.0.1:5000", False), ("https://localhost", False),
    ("http://[::1]:8080", False), ("https://ivr.colchester.gov.uk", True),
    ("http://192.0.2.10", True),
])
def test_production_is_a_public_base_url(url, public):
    assert preflight.production(url) is public


# -- probes --------------------------------------------------------------------------------------


def test_livez_readyz_and_healthz(app, down_app, redis_client):
    client = app.test_client()
    assert client.get("/livez").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503  # no worker and no scheduler in a test
    assert ready.get_json()["missing"] == ["worker", "scheduler"]
    assert client.get("/healthz").status_code == 200

    with time_machine.travel(time.time(), tick=True):
        worker = Worker([Queue("callbacks", connection=redis_client)],
                        connection=redis_client)
        worker.register_birth()
        worker.heartbeat()
        from rq.scheduler import RQScheduler

        scheduler = RQScheduler(["callbacks", "messages"], connection=redis_client)
        scheduler.acquire_locks()
        scheduler.heartbeat()
        answer = client.get("/readyz")
        assert answer.status_code == 200 and answer.get_json()["ok"] is True
        figures = scrape(app)
        for queue in ("callbacks", "messages"):  # each scheduler's beat, as the worker's
            assert 0 <= figures[("ivr_scheduler_heartbeat_age_seconds",
                                 (("queue", queue),))] < 5
        assert 0 <= figures[("ivr_worker_heartbeat_age_seconds", ())] < 5
        assert figures[("ivr_spool_items", ())] == 0
        scheduler.release_locks()
        worker.register_death()

    down = down_app.test_client()
    assert down.get("/livez").status_code == 200
    gone = down.get("/readyz")
    assert gone.status_code == 503
    assert gone.get_json()["missing"] == ["redis", "rq_redis", "worker", "scheduler"]
    health = down.get("/healthz")
    assert health.status_code == 503 and health.get_json()["ok"] is False  # never 200 "ok"


def test_gunicorn_started_directly_stops_in_one_line(tmp_path):
    """A unit that runs gunicorn itself (not ``ivr serve``) stops too, not a restart loop."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
    env |= {"PUBLIC_BASE_URL": "https://ivr.colchester.gov.uk", "TWILIO_AUTH_TOKEN": "x",
            "REDIS_URL": "redis://127.0.0.1:1/0", "PYTHONPATH": str(root),
            "IVR_CONFIG": str(root / "config.yaml")}
    gunicorn = Path(sys.executable).parent / "gunicorn"
    done = subprocess.run([str(gunicorn), "--bind", "127.0.0.1:0", "--no-control-socket",
                           "ivr.wsgi:app"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 3
    assert "error: refusing to start: TWILIO_ACCOUNT_SID is not set" in done.stderr
    assert "Traceback" not in done.stderr
