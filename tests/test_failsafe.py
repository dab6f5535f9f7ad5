"""Fail safe: with Redis down or a handler broken, Twilio still gets valid TwiML that routes the
caller on (an advisor when open, a voicemail when closed); never an HTML 500 or silence.

The ``Caller`` checks every answer: status 200, ``text/xml``, and Twilio's TwiML definitions in
the context it is used (call, waitUrl, status callback).
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from caller import ACCOUNT_SID, BASE, Caller, sealed_number, sign, written_keys

from ivr import events
from voicemail.tasks import load_task

OPEN = "2026-12-01 10:00:00+00:00"  # Tuesday, 10:00 GMT
CLOSED = "2026-12-01 19:00:00+00:00"  # Tuesday, 19:00 GMT
MOBILE = "+447911123456"
MASKED = "+44 7911 123***"
APOLOGY = "Sorry, something went wrong on our side."
NOTICE = "Calls may be recorded for training and monitoring purposes."
INTRO = (
    "Please leave your name, number and a short message after the tone. "
    "We'll call you back by the end of {day}."
)
GOODBYE = "Thank you for calling Colchester Borough Council. Goodbye."


def boom(*args, **kwargs):
    raise RuntimeError("handler bug")


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def task_ids(redis_client) -> list[str]:
    keys = [k.decode() for k in redis_client.keys("{ivr}:cb:task:*")]
    return sorted(k.split(":")[3] for k in keys if k.count(":") == 3)


def assert_safe_queue(doc, dept: str = "general", queue: str = "general") -> None:
    """The rescue in hours: apology, the recording notice, the advisor queue."""
    assert doc.verbs == ["Say", "Say", "Enqueue"]
    assert doc.text == f"{APOLOGY} {NOTICE}"
    enqueue = doc.first("Enqueue")
    assert enqueue.text == queue
    assert enqueue.get("action") == f"/voice/queue/{dept}/left"
    assert enqueue.get("waitUrl") == f"/voice/queue/{dept}/wait"


def assert_safe_voicemail(doc, sid: str, day: str, number: str = MOBILE) -> None:
    """The rescue out of hours: apology, the promise, the tone."""
    assert doc.verbs == ["Say", "Say", "Record", "Say"]
    assert doc.text == f"{APOLOGY} {INTRO.format(day=day)} {GOODBYE}"
    record = doc.first("Record")
    assert record.get("maxLength") == "180" and record.get("finishOnKey") == "#"
    assert sealed_number(record.get("action"), sid) == number
    assert sealed_number(record.get("recordingStatusCallback"), sid) == number
    assert record.get("recordingStatusCallback").startswith(BASE + "/voicemail/recording?")


# -- Redis down: every step still answers, and the caller never notices --------------------------


@time_machine.travel(OPEN, tick=False)
def test_whole_journey_in_hours_with_redis_down(down_app, spool_dir):
    caller = Caller(down_app.test_client(), from_=MOBILE)
    doc = caller.ring()
    assert doc.text.startswith(f"Thank you for calling Colchester Borough Council. {NOTICE}")
    assert doc.first("Gather").get("action").startswith("/voice/menu/choice")
    assert caller.press("2").verbs == ["Redirect"]
    doc = caller.follow()
    assert "council tax" in doc.text and doc.has("Gather")
    doc = caller.press("1")  # the text can't be queued without Redis: straight to the queue
    assert doc.verbs == ["Say", "Enqueue"]
    assert doc.text == "Putting you through to the Council Tax team."
    assert caller.enqueue().text == "council-tax"

    hold = caller.hold(0)  # no answer times to hand: the configured default estimate
    assert hold.text.startswith(
        "You are number 1 in the queue. The estimated wait is about a minute."
    )
    assert hold.has("Play")
    busy = caller.hold(30, position=3, size=3)
    assert busy.text.startswith(  # 180 s estimated, 90 s left: told when voicemail comes
        "You are number 3 in the queue. If an advisor isn't free in the next 90 seconds, "
        "you'll be able to leave a message"
    )
    assert "We're very busy at the moment." in busy.text
    assert caller.hold(120).verbs == ["Leave"]

    doc = caller.leave_queue("leave", 120)
    assert doc.verbs == ["Say", "Redirect"]
    doc = caller.follow()
    assert doc.text == INTRO.format(day="tomorrow")
    doc, rec, status_url = caller.record()
    assert doc.verbs == ["Say", "Hangup"]
    assert doc.text.startswith("Thank you. We've got your message")
    assert caller.recording_ready(status_url, rec).verbs == []
    assert caller.recording_ready(status_url, rec).verbs == []
    assert caller.hang_up().verbs == []

    assert all(APOLOGY not in d.text for d in caller.history)  # handled, not rescued
    names = [p.name for p in spool_dir.iterdir()]
    assert sum("-voicemail-" in n for n in names) == 3  # nothing lost: all kept on disk
    assert any("-events-" in n for n in names)


@time_machine.travel(CLOSED, tick=False)
def test_whole_journey_out_of_hours_with_redis_down(down_app, spool_dir):
    caller = Caller(down_app.test_client(), from_="anonymous")
    doc = caller.ring()
    assert "Our telephone lines are closed at the moment." in doc.text
    caller.press("2")
    doc = caller.follow()
    assert doc.text.startswith("We can't see a number to call you back on.")
    doc = caller.press("01206282300")
    assert "0 1 2 0 6, 2 8 2 3 0 0" in doc.text
    doc = caller.press("1")
    assert sealed_number(doc.first("Record").get("action"), caller.sid) == "+441206282300"
    doc, rec, status_url = caller.record(digits="hangup")
    assert doc.verbs == []
    assert caller.recording_ready(status_url, rec).verbs == []
    assert caller.hang_up().verbs == []
    assert sum("-voicemail-" in p.name for p in spool_dir.iterdir()) == 2


@time_machine.travel(CLOSED, tick=False)
def test_a_keyed_number_outlives_an_outage_that_starts_after_it_was_keyed(
    app, down_app, spool_dir, redis_client
):
    """The number is keyed while Redis answers; the message, the <Record> action and the
    recording callback come during the outage (to another process with the same token): the
    sealed number in their URLs is what the spooled voicemail keeps, and the task gets."""
    caller = Caller(app.test_client(), from_="anonymous")
    caller.post("/voicemail/start?dept=housing")
    caller.press("01206500600")
    doc = caller.press("1")
    assert doc.has("Record") and task_ids(redis_client) == []
    caller.client = down_app.test_client()
    doc, rec, status_url = caller.record()
    assert doc.text.startswith("Thank you. We've got your message")
    assert caller.recording_ready(status_url, rec).verbs == []
    assert sum("-voicemail-" in p.name for p in spool_dir.iterdir()) == 2
    assert app.extensions["ivr"].spool.drain() == 2
    [task_id] = task_ids(redis_client)
    task = load_task(redis_client, task_id)
    assert (task["number"], task["needs_number"], task["department"]) == (
        "+441206500600", "0", "housing")


@time_machine.travel(OPEN, tick=False)
def test_menu_misses_reach_an_advisor_with_redis_down(down_app):
    caller = Caller(down_app.test_client(), from_="anonymous")
    caller.ring()
    for key in ("7", "8"):
        assert caller.press(key).text.startswith("Sorry, I didn't catch that.")
    doc = caller.press("6")
    assert doc.text == "Let me put you through to an advisor."
    doc = caller.follow()
    assert caller.enqueue().text == "general"
    assert caller.hold(0).text.startswith("You are number 1 in the queue.")
    assert caller.leave_queue("hangup", 20).verbs == []
    assert caller.hang_up().verbs == []


@time_machine.travel(OPEN, tick=False)
def test_payment_line_and_a_failed_transfer_with_redis_down(down_app):
    caller = Caller(down_app.test_client())
    caller.ring()
    caller.press("1")
    doc = caller.follow()
    assert doc.first("Dial").text.strip() == "+441206282725"
    doc = caller.dial_result("busy")
    assert doc.text.startswith("Sorry, we couldn't connect you to the payment line.")
    doc = caller.press("1")
    assert caller.enqueue().text == "general"
    assert APOLOGY not in doc.text


# -- a handler that raises ----------------------------------------------------------------------


@time_machine.travel(OPEN, tick=False)
def test_failing_menu_choice_in_hours_goes_to_the_general_queue(caller, monkeypatch, redis_client):
    caller.ring()
    monkeypatch.setattr("flows.menu.choose", boom)
    doc = caller.press("2")
    assert_safe_queue(doc)
    monkeypatch.undo()
    # The route is live: the wait and leave URLs work as for any queue.
    assert caller.hold(0).text.startswith("You are number 1 in the queue.")
    failures = [e for e in events.read_all(redis_client) if e["event"] == "FAILSAFE"]
    assert [(e["call"], e["data"]) for e in failures] == [
        (caller.sid, {"endpoint": "menu.choice", "error": "RuntimeError"})
    ]


def test_failing_menu_choice_after_closing_goes_to_voicemail(caller, monkeypatch, redis_client):
    with time_machine.travel("2026-11-27 16:59:50+00:00", tick=False):  # Friday, just open
        caller.ring()
    monkeypatch.setattr("flows.menu.choose", boom)
    with time_machine.travel("2026-11-27 17:00:10+00:00", tick=False):  # closed by the choice
        doc = caller.press("2")
        assert_safe_voicemail(doc, caller.sid, day="Monday 30 November")
        monkeypatch.undo()
        doc, rec, status_url = caller.record()
    assert doc.text.startswith("Thank you. We've got your message")
    [task_id] = task_ids(redis_client)
    assert load_task(redis_client, task_id)["callback_day"] == "2026-11-30"


@time_machine.travel(OPEN, tick=False)
def test_failing_first_request_still_gives_the_recording_notice(caller, monkeypatch):
    monkeypatch.setattr("flows.menu.add_menu", boom)
    assert_safe_queue(caller.ring())


@time_machine.travel(OPEN, tick=False)
def test_failing_enqueue_goes_to_the_general_queue(caller, monkeypatch):
    caller.ring()
    caller.press("2")
    caller.follow()  # council tax online, and the text offer
    monkeypatch.setattr("flows.queue.add_enqueue", boom)
    assert_safe_queue(caller.press("9"))


@pytest.mark.parametrize("at", [OPEN, CLOSED])
def test_failing_voicemail_step_records_a_message_anyway(make_caller, monkeypatch, at):
    caller = make_caller(from_="anonymous")
    with time_machine.travel(at, tick=False):
        caller.post("/voicemail/start?dept=general")
        monkeypatch.setattr("voicemail.flow.check_keyed_number", boom)
        doc = caller.press("01206282300")
    assert_safe_voicemail(doc, caller.sid, day="tomorrow", number="")


@pytest.mark.parametrize(
    ("queue_time", "pause"),
    [(0, 5), (60, 5), (117, 3), (119, 1)],  # never more than 5 s, never past the limit
)
@time_machine.travel(OPEN, tick=False)
def test_failing_wait_document_keeps_holding_until_the_limit(
    caller, monkeypatch, queue_time, pause
):
    caller.post("/voice/queue/housing/enter")
    monkeypatch.setattr("flows.queue.plan_hold", boom)
    doc = caller.hold(queue_time)  # validated as a waitUrl document
    assert doc.verbs == ["Pause"]
    assert doc.first("Pause").get("length") == str(pause)


@pytest.mark.parametrize("queue_time", [120, 121, 400])
@time_machine.travel(OPEN, tick=False)
def test_failing_wait_document_at_the_limit_leaves_the_queue(caller, monkeypatch, queue_time):
    caller.post("/voice/queue/housing/enter")
    monkeypatch.setattr("flows.queue.form_int", boom)  # fails before its own limit check
    assert caller.hold(queue_time).verbs == ["Leave"]


@pytest.mark.parametrize("queue_time", ["inf", "1e400", "nan", "-5", "999999999999999999999"])
@time_machine.travel(OPEN, tick=False)
def test_failing_wait_document_with_an_odd_queue_time_keeps_holding(caller, monkeypatch,
                                                                     queue_time):
    caller.post("/voice/queue/housing/enter")
    monkeypatch.setattr("flows.queue.plan_hold", boom)
    doc = caller.post(caller.enqueue().get("waitUrl"), context="wait", QueueTime=queue_time,
                      QueuePosition="1")
    assert doc.verbs == ["Pause"] and doc.first("Pause").get("length") == "5"


@pytest.mark.parametrize(
    ("queue_time", "expected"),
    [("0", ["Pause"]), ("119", ["Pause"]), ("120", ["Leave"]), ("inf", ["Pause"]),
     ("1e400", ["Pause"])],
)
@time_machine.travel(OPEN, tick=False)
def test_when_the_wait_rescue_fails_too_it_is_still_a_hold_document(
    caller, monkeypatch, caplog, queue_time, expected
):
    """Even the last resort answers a waitUrl with a hold document: never an <Enqueue> there."""
    caller.post("/voice/queue/housing/enter")
    monkeypatch.setattr("ivr.clock.now", boom)  # every Turn fails, the rescue's own included
    doc = caller.post(caller.enqueue().get("waitUrl"), context="wait", QueueTime=queue_time,
                      QueuePosition="1")
    assert doc.verbs == expected
    assert "fail-safe itself failed" in caplog.text


@pytest.mark.parametrize("result", ["hangup", "bridged", "redirected"])
@time_machine.travel(OPEN, tick=False)
def test_when_the_rescue_fails_a_caller_who_is_gone_is_not_queued_again(caller, monkeypatch,
                                                                        result):
    caller.post("/voice/queue/housing/enter")
    monkeypatch.setattr("ivr.clock.now", boom)
    assert caller.leave_queue(result, 30).verbs == []


@time_machine.travel(OPEN, tick=False)
def test_when_the_rescue_fails_on_the_agent_line_the_agent_is_not_queued(make_caller,
                                                                         monkeypatch):
    """The agent's own line: an apology and the end of the call, not a caller's queue."""
    agent = make_caller("+447911123401", to="+441206282299")
    monkeypatch.setattr("ivr.clock.now", boom)
    for path in ("/agent/incoming", "/agent/menu/choice"):
        doc = agent.post(path, Digits="1")
        assert doc.verbs == ["Say", "Hangup"]
        assert doc.text == APOLOGY


@time_machine.travel(OPEN, tick=False)
def test_failing_status_callback_returns_an_empty_response(caller, monkeypatch):
    caller.ring()
    monkeypatch.setattr("flows.status.form_int", boom)
    assert caller.hang_up().xml.endswith("<Response />")


@time_machine.travel(CLOSED, tick=False)
def test_failing_recording_callback_asks_twilio_to_retry(caller, monkeypatch, caplog):
    """Not known to be stored: 503, so Twilio may deliver it again (storing is idempotent)."""
    record = caller.post("/voicemail/start?dept=general").first("Record")
    monkeypatch.setattr("voicemail.flow.store_voicemail", boom)
    url = record.get("recordingStatusCallback")
    sid = "RE" + "3" * 32
    form = {"AccountSid": ACCOUNT_SID, "CallSid": caller.sid, "RecordingSid": sid,
            "RecordingUrl": f"https://api.twilio.com/x/Recordings/{sid}",
            "RecordingStatus": "completed", "RecordingDuration": "9"}
    parts = urlsplit(url)
    response = caller.client.post(parts.path + "?" + parts.query, data=form,
                                  headers={"X-Twilio-Signature": sign(url, form, caller.token)})
    assert response.status_code == 503
    assert "voicemail.recording_status failed" in caplog.text and caller.sid in caplog.text


@time_machine.travel(CLOSED, tick=False)
def test_voicemail_is_spooled_whatever_stops_it_being_stored(
    caller, app, monkeypatch, redis_client, spool_dir
):
    caller.post("/voicemail/start?dept=benefits")
    monkeypatch.setattr("voicemail.flow.save_voicemail", boom)  # not a Redis error
    doc, rec, status_url = caller.record()
    assert doc.text.startswith("Thank you. We've got your message")  # no apology, no re-record
    assert caller.recording_ready(status_url, rec).verbs == []
    assert task_ids(redis_client) == []
    assert sum("-voicemail-" in p.name for p in spool_dir.iterdir()) == 2
    monkeypatch.undo()
    assert app.extensions["ivr"].spool.drain() == 2
    [task_id] = task_ids(redis_client)
    assert load_task(redis_client, task_id)["department"] == "benefits"


@time_machine.travel(OPEN, tick=False)
def test_failing_handler_with_redis_down_too(down_app, monkeypatch, spool_dir):
    caller = Caller(down_app.test_client())
    caller.ring()
    monkeypatch.setattr("flows.menu.choose", boom)
    assert_safe_queue(caller.press("3"))
    assert any("-events-" in p.name for p in spool_dir.iterdir())  # the FAILSAFE event, kept


@time_machine.travel(OPEN, tick=False)
def test_when_the_rescue_fails_too_the_plainest_safe_document(caller, monkeypatch, caplog):
    monkeypatch.setattr("ivr.clock.now", boom)  # every Turn fails, the rescue's own included
    doc = caller.ring()
    assert doc.verbs == ["Say", "Say", "Enqueue"]
    assert doc.text == f"{APOLOGY} {NOTICE}"
    assert caller.enqueue().text == "general"
    assert "fail-safe itself failed" in caplog.text


# -- logging: once, with the call SID and a masked number --------------------------------------


@pytest.mark.parametrize(
    ("patch", "steps"),
    [
        ("flows.menu.choose", lambda c: (c.ring(), c.press("2"))),
        ("flows.queue.plan_hold", lambda c: (c.post("/voice/queue/benefits/enter"), c.hold(0))),
    ],
)
@time_machine.travel(OPEN, tick=False)
def test_failure_is_logged_once_with_the_call_and_a_masked_number(
    caller, monkeypatch, caplog, patch, steps
):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(patch, boom)
    steps(caller)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    message = errors[0].getMessage()
    assert caller.sid in message
    assert MASKED in message
    assert errors[0].exc_info and errors[0].exc_info[0] is RuntimeError
    assert "+447911123456" not in caplog.text
    assert "7911123456" not in caplog.text.replace(" ", "")


@time_machine.travel(CLOSED, tick=False)
def test_redis_outage_is_logged_with_a_masked_number(down_app, caplog):
    caplog.set_level(logging.DEBUG)
    caller = Caller(down_app.test_client())
    caller.post("/voicemail/start?dept=general")
    caller.record()
    spooled = [r for r in caplog.records if "spooled" in r.getMessage()]
    assert len(spooled) == 1
    assert caller.sid in spooled[0].getMessage() and MASKED in spooled[0].getMessage()
    assert "+447911123456" not in caplog.text


# -- the number's fallback URL -----------------------------------------------------------------


FALLBACK = {"ErrorCode": "11200", "ErrorUrl": BASE + "/voice/incoming"}


@time_machine.travel(OPEN, tick=False)
def test_fallback_url_in_hours_queues_for_an_advisor(caller, caplog):
    assert_safe_queue(caller.post("/voice/fallback", **FALLBACK))
    assert "11200" in caplog.text and caller.sid in caplog.text


@time_machine.travel(CLOSED, tick=False)
def test_fallback_url_out_of_hours_takes_a_message(caller):
    assert_safe_voicemail(caller.post("/voice/fallback", **FALLBACK), caller.sid, day="tomorrow")


@pytest.mark.parametrize("at", [OPEN, CLOSED])
def test_fallback_url_needs_no_redis(down_app, at):
    caller = Caller(down_app.test_client(), from_="restricted")
    with time_machine.travel(at, tick=False):
        doc = caller.post("/voice/fallback", **FALLBACK)
    assert doc.text.startswith(APOLOGY)
    assert doc.has("Enqueue") if at == OPEN else doc.has("Record")


@pytest.mark.parametrize("signature", [None, "bm90IGEgc2lnbmF0dXJl"])
def test_fallback_url_refuses_unsigned_requests(app, redis_client, signature):
    form = {"CallSid": "CA" + "4" * 32, "From": MOBILE, "To": "+441206282222", **FALLBACK}
    headers = {"X-Twilio-Signature": signature} if signature else {}
    response = app.test_client().post("/voice/fallback", data=form, headers=headers)
    assert response.status_code == 403
    assert written_keys(redis_client) == 0  # refused before anything was written


def test_signed_fallback_request_is_accepted_by_the_same_validator(app):
    form = {"CallSid": "CA" + "4" * 32, "From": MOBILE, "To": "+441206282222", **FALLBACK}
    url = BASE + "/voice/fallback"
    with time_machine.travel(OPEN, tick=False):
        response = app.test_client().post(
            "/voice/fallback", data=form, headers={"X-Twilio-Signature": sign(url, form)}
        )
    assert response.status_code == 200 and response.mimetype == "text/xml"
