"""The caller's journey through the signed webhooks: notice, hours, menu, online first."""

from __future__ import annotations

from datetime import date

import pytest
import time_machine
from jobs import Worker
from rq import Queue

from ivr import messaging
from ivr.events import read_all

OPEN = "2026-12-01 10:00:00+00:00"  # Tuesday 10:00 GMT
CLOSED = {
    "weekday evening": "2026-12-01 18:30:00+00:00",
    "early morning": "2026-12-02 08:59:00+00:00",
    "five o'clock": "2026-12-01 17:00:00+00:00",
    "saturday": "2026-12-05 11:00:00+00:00",
    "sunday": "2026-12-06 11:00:00+00:00",
    "bank holiday (Boxing Day substitute)": "2026-12-28 10:00:00+00:00",
    "configured closure": "2026-12-29 10:00:00+00:00",
    "Good Friday, BST": "2026-04-03 09:30:00+01:00",
}
MOBILE = "+447911123456"
LANDLINE = "+441206282300"  # 01206 282300
RELAY = "+448000223388"  # listed under relay.caller_ids
NOT_CAUGHT = "Sorry, I didn't catch that."
TO_ADVISOR = "Let me put you through to an advisor."
PAYMENT_LINE = "+441206282725"
TEXT_PHONE = "+441206282300"

DEPT_KEYS = {"2": "council_tax", "3": "benefits", "4": "street_care", "5": "housing",
             "0": "general"}


@pytest.fixture
def config(config):
    """config.yaml with three closure days listed, as the council would add its own."""
    listed = [date(2026, 12, 29), date(2026, 12, 30), date(2026, 12, 31)]
    return config.model_copy(update={"hours": config.hours.model_copy(
        update={"closures": listed})})


@pytest.fixture(autouse=True)
def _frozen_in_hours():
    """Calls in this module happen on a Tuesday morning unless a test travels elsewhere."""
    with time_machine.travel(OPEN, tick=False):
        yield


def top(doc) -> list:
    return list(doc.root)


def gathers(caller) -> list:
    return [g for doc in caller.history for g in doc.all("Gather")]


def assert_never_ends(doc):
    """A call document always leads somewhere: a Redirect, a queue, a transfer or a recording."""
    assert {"Redirect", "Enqueue", "Dial", "Record"} & set(doc.verbs), doc.xml
    assert "Hangup" not in doc.verbs, doc.xml


def assert_menu(doc, config, misses: int):
    gather = doc.first("Gather")
    said = " ".join(s.text for s in gather.iter("Say"))
    assert config.messages.menu_intro in said
    for option in config.menu.options:
        assert option.prompt in said
    assert gather.get("action") == f"/voice/menu/choice?miss={misses}"
    assert doc.verbs[-1] == "Redirect"
    assert doc.root.find("Redirect").text == gather.get("action")


def assert_enqueued(doc, config, dept: str):
    enqueue = doc.first("Enqueue")
    assert enqueue.text == config.departments[dept].queue
    assert enqueue.get("action") == f"/voice/queue/{dept}/left"


def choose(caller, key: str):
    """Press a menu key and follow the choice to where it leads."""
    doc = caller.press(key)
    assert doc.verbs == ["Redirect"]
    return caller.follow()


# -- recording notice, opening hours ----------------------------------------------------------


@pytest.mark.parametrize("when", [OPEN, *CLOSED.values()], ids=["open", *CLOSED])
def test_recording_notice_is_the_second_thing_said(make_caller, config, when):
    with time_machine.travel(when, tick=False):
        doc = make_caller().ring()
    says = doc.all("Say")
    assert says[0].text == config.messages.welcome
    assert says[1].text == config.messages.recording_notice == (
        "Calls may be recorded for training and monitoring purposes."
    )
    tags = [el.tag for el in top(doc)]
    assert tags[:2] == ["Say", "Say"]
    assert tags.index("Gather") > 1  # no prompt before the notice


def test_in_hours_the_menu_follows_the_notice(caller, config):
    doc = caller.ring()
    assert_menu(doc, config, 0)
    assert config.messages.closed.split("{")[0] not in doc.text


@pytest.mark.parametrize("when", list(CLOSED.values()), ids=list(CLOSED))
def test_out_of_hours_says_hours_online_and_offers_voicemail(make_caller, config, when):
    with time_machine.travel(when, tick=False):
        doc = make_caller().ring()
    assert "Monday to Friday, 9am to 5pm" in doc.text
    assert "Our telephone lines are closed at the moment." in doc.text
    assert config.messages.closed_online in doc.text
    assert "online 24 hours a day" in doc.text
    gather = doc.first("Gather")
    assert gather.get("action") == "/voice/closed/choice?miss=0"
    assert "leave a message" in " ".join(s.text for s in gather.iter("Say"))
    assert config.messages.menu_intro not in doc.text
    assert doc.verbs[-1] == "Redirect"


def test_out_of_hours_callback_day_is_spoken(make_caller):
    with time_machine.travel(CLOSED["weekday evening"], tick=False):
        doc = make_caller().ring()
    assert "call you back tomorrow" in doc.text
    with time_machine.travel(CLOSED["configured closure"], tick=False):
        doc = make_caller().ring()
    assert "call you back Monday 4 January" in doc.text  # closures to 31st, 1 Jan bank holiday


@pytest.mark.parametrize("when", list(CLOSED.values()), ids=list(CLOSED))
def test_out_of_hours_silence_goes_to_voicemail(make_caller, redis_client, when):
    with time_machine.travel(when, tick=False):
        caller = make_caller()
        caller.ring()
        doc = caller.silence()
        assert doc.verbs == ["Redirect"]
        assert doc.root.find("Redirect").text == "/voicemail/start?dept=general"
        doc = caller.follow()
    assert doc.has("Record")
    assert "Please leave your name, number and a short message after the tone." in doc.text
    events = [e["event"] for e in read_all(redis_client)]
    assert "OUTOFHOURS" in events and "RECORDINGNOTICE" in events


def test_out_of_hours_2_goes_to_voicemail(make_caller):
    with time_machine.travel(CLOSED["saturday"], tick=False):
        caller = make_caller()
        caller.ring()
        caller.press("2")
        assert caller.follow().has("Record")


def test_out_of_hours_1_goes_to_the_payment_line(make_caller):
    with time_machine.travel(CLOSED["bank holiday (Boxing Day substitute)"], tick=False):
        caller = make_caller()
        caller.ring()
        doc = caller.press("1")
        assert doc.root.find("Redirect").text == "/voice/payments"
        doc = caller.follow()
    dial = doc.first("Dial")
    assert dial.text == PAYMENT_LINE
    assert dial.get("record") == "do-not-record"


def test_out_of_hours_odd_digit_is_asked_again(make_caller, config):
    with time_machine.travel(CLOSED["weekday evening"], tick=False):
        caller = make_caller()
        caller.ring()
        doc = caller.press("7")
        says = doc.all("Say")
        assert says[0].text == NOT_CAUGHT
        assert doc.first("Gather").get("action") == "/voice/closed/choice?miss=1"
        # Hours and online services are not read out again.
        assert config.messages.closed_online not in doc.text
        assert_never_ends(doc)
        doc = caller.press("8")
        assert doc.first("Gather").get("action") == "/voice/closed/choice?miss=2"
        # The third miss: a voicemail rather than another loop.
        doc = caller.press("9")
        assert doc.root.find("Redirect").text == "/voicemail/start?dept=general"


# -- the main menu -----------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "dept"), sorted(DEPT_KEYS.items()))
def test_department_options_by_key(make_caller, config, key, dept):
    caller = make_caller(LANDLINE)
    caller.ring()
    doc = caller.press(key)
    assert doc.root.find("Redirect").text == f"/voice/dept/{dept}"
    doc = caller.follow()
    department = config.departments[dept]
    assert doc.all("Say")[0].text == department.online  # online first
    assert f"Putting you through to the {department.name} team." in doc.text
    assert_enqueued(doc, config, dept)


def test_option_1_by_key_is_the_payment_line(caller, config):
    caller.ring()
    doc = choose(caller, "1")
    assert config.messages.payment_line in doc.text
    assert "automated payment line" in doc.text
    assert doc.first("Dial").text == PAYMENT_LINE


def test_option_9_by_key_is_the_text_phone(caller, config):
    caller.ring()
    doc = choose(caller, "9")
    assert config.messages.text_phone in doc.text
    assert doc.first("Dial").text == TEXT_PHONE


@pytest.mark.parametrize(
    ("words", "target"),
    [
        ("payments", "/voice/payments"),
        ("I want to pay a bill", "/voice/payments"),
        ("council tax", "/voice/dept/council_tax"),
        ("benefits", "/voice/dept/benefits"),
        ("bins", "/voice/dept/street_care"),
        ("recycling", "/voice/dept/street_care"),
        ("housing", "/voice/dept/housing"),
        ("text phone", "/voice/textphone"),
        ("something else", "/voice/dept/general"),
        ("option two", "/voice/dept/council_tax"),
    ],
)
def test_every_option_by_speech(caller, redis_client, words, target):
    doc = caller.ring()
    gather = doc.first("Gather")
    assert gather.get("input") == "dtmf speech"
    assert gather.get("language") == "en-GB"
    assert "council tax" in gather.get("hints")
    doc = caller.say(words)
    assert doc.verbs == ["Redirect"]
    assert doc.root.find("Redirect").text == target
    menu = [e for e in read_all(redis_client) if e["event"] == "MENU"]
    assert menu[-1]["data"]["via"] == "speech"
    caller.follow()  # the next step answers too


def test_star_repeats_the_menu_without_a_miss(caller, config):
    caller.ring()
    doc = caller.press("*")
    assert NOT_CAUGHT not in doc.text
    assert_menu(doc, config, 0)
    doc = caller.say("can you repeat that")
    assert_menu(doc, config, 0)


@pytest.mark.parametrize(
    "miss",
    [
        lambda c: c.silence(),
        lambda c: c.press("7"),
        lambda c: c.press("#"),
        lambda c: c.say("erm"),
        lambda c: c.say("can I speak to the mayor"),
    ],
    ids=["silence", "unknown key", "hash", "erm", "unknown words"],
)
def test_a_miss_apologises_and_repeats_the_menu(caller, config, miss):
    caller.ring()
    doc = miss(caller)
    assert doc.all("Say")[0].text == NOT_CAUGHT
    assert_menu(doc, config, 1)
    assert_never_ends(doc)


def test_third_miss_goes_to_a_general_advisor(caller, config, redis_client):
    caller.ring()
    caller.silence()
    doc = caller.press("7")
    assert_menu(doc, config, 2)
    doc = caller.say("erm")
    assert NOT_CAUGHT not in doc.text
    assert doc.all("Say")[0].text == TO_ADVISOR
    assert doc.root.find("Redirect").text == "/voice/queue/general/enter"
    doc = caller.follow()
    assert_enqueued(doc, config, "general")
    assert caller.enqueue().text == "general"
    misses = [e for e in read_all(redis_client)
              if e["event"] == "MENU" and e["data"].get("action") == "missed"]
    assert [e["data"]["misses"] for e in misses] == [1, 2, 3]


def test_repeats_do_not_count_as_misses(caller, config):
    caller.ring()
    caller.press("7")
    caller.press("*")
    doc = caller.press("8")
    assert_menu(doc, config, 2)  # two misses, not three
    doc = caller.press("6")
    assert doc.all("Say")[0].text == TO_ADVISOR


def test_a_choice_after_misses_still_works(caller):
    caller.ring()
    caller.press("7")
    caller.silence()
    doc = caller.press("4")
    assert doc.root.find("Redirect").text == "/voice/dept/street_care"


def test_menu_mentions_the_text_phone_number(caller):
    doc = caller.ring()
    assert "text phone" in doc.text
    assert "1 8 0 0 1, 0 1 2 0 6, 2 8 2 3 0 0" in doc.text  # 18001 01206 282300


# -- online first and the text message ----------------------------------------------------------


@pytest.mark.parametrize(("key", "dept"), sorted(DEPT_KEYS.items()))
def test_a_mobile_caller_is_offered_the_link_by_text(caller, config, key, dept):
    caller.ring()
    doc = choose(caller, key)
    department = config.departments[dept]
    assert doc.all("Say")[0].text == department.online
    assert "online, 24 hours a day" in department.online or "24 hours a day" in department.online
    gather = doc.first("Gather")
    assert gather.get("action") == f"/voice/dept/{dept}/sms"
    assert config.messages.online_sms_offer in " ".join(s.text for s in gather.iter("Say"))
    assert not doc.has("Enqueue")  # the caller decides first
    assert_never_ends(doc)


@pytest.mark.parametrize(("key", "dept"), sorted(DEPT_KEYS.items()))
def test_pressing_1_sends_the_link_from_a_job(caller, config, redis_client, twilio, key, dept):
    caller.ring()
    choose(caller, key)
    doc = caller.press("1")
    assert config.messages.online_sms_sent in doc.text
    assert_enqueued(doc, config, dept)
    messages = Queue(config.callbacks.sms_rq_queue, connection=redis_client)
    assert messages.name == "messages"
    assert messages.count == 1
    assert twilio.messages == []  # nothing is sent inside the webhook
    job = messages.jobs[0]
    assert job.func_name == "ivr.messaging.send_sms"
    assert (job.retries_left, job.retry_intervals) == (messaging.RETRY.max,
                                                       messaging.RETRY.intervals)

    with time_machine.travel("2026-12-01 10:00:05+00:00", tick=True):
        Worker([messages], connection=redis_client).work(burst=True)

    assert len(twilio.messages) == 1
    sms = twilio.messages[0]
    department = config.departments[dept]
    assert sms["to"] == MOBILE
    assert sms["from"] == config.council.sms_from
    assert department.link in sms["body"]
    assert department.name in sms["body"]
    assert messages.count == 0
    assert [e["dept"] for e in read_all(redis_client) if e["event"] == "SMSLINK"] == [dept]


def test_with_redis_down_the_caller_is_not_promised_a_text(down_app, config, spool_dir):
    """The SMS job travels in the request's one MULTI/EXEC: if that fails, no text is coming,
    so the caller is not told one is, and no SMSLINK event is spooled for the reports."""
    import json

    from caller import Caller

    caller = Caller(down_app.test_client())
    caller.ring()
    choose(caller, "2")
    doc = caller.press("1")
    assert config.messages.online_sms_sent not in doc.text
    assert_enqueued(doc, config, "council_tax")  # Twilio's queue still works without Redis
    spooled = [json.loads(p.read_text()) for p in sorted(spool_dir.glob("*-events-*.json"))]
    kinds = [ev["event"] for item in spooled for ev in item["payload"]]
    assert "ENTERQUEUE" in kinds and "SMSLINK" not in kinds


@pytest.mark.parametrize("answer", [lambda c: c.silence(), lambda c: c.press("2")],
                         ids=["silence", "other key"])
def test_declining_the_text_goes_straight_to_the_queue(caller, config, redis_client, answer):
    caller.ring()
    choose(caller, "2")
    doc = answer(caller)
    assert config.messages.online_sms_sent not in doc.text
    assert_enqueued(doc, config, "council_tax")
    assert Queue("messages", connection=redis_client).count == 0


@pytest.mark.parametrize("from_", [LANDLINE, RELAY, "anonymous", "+266696687"],
                         ids=["landline", "relay", "withheld", "withheld placeholder"])
def test_no_text_offer_without_a_uk_mobile(make_caller, config, redis_client, from_):
    caller = make_caller(from_)
    caller.ring()
    doc = choose(caller, "3")
    assert doc.all("Say")[0].text == config.departments["benefits"].online
    assert config.messages.online_sms_offer not in doc.text
    assert not doc.has("Gather")
    assert_enqueued(doc, config, "benefits")
    offered = [e for e in read_all(redis_client) if e["event"] == "ONLINE"]
    assert offered[0]["data"]["sms_offered"] is False


def test_a_forged_sms_request_from_a_landline_sends_nothing(make_caller, config, redis_client):
    caller = make_caller(LANDLINE)
    caller.ring()
    caller.press("2")
    caller.follow()
    doc = caller.post("/voice/dept/council_tax/sms", Digits="1")
    assert_enqueued(doc, config, "council_tax")
    assert Queue("messages", connection=redis_client).count == 0


# -- payment line --------------------------------------------------------------------------------


def test_payment_line_transfer_is_unrecorded(caller, redis_client):
    caller.ring()
    doc = choose(caller, "1")
    dial = doc.first("Dial")
    assert dial.text == PAYMENT_LINE
    assert dial.get("record") == "do-not-record"
    assert dial.get("action") == "/voice/payments/result"
    assert dial.get("timeout") == "30"
    assert doc.verbs == ["Say", "Dial"]
    transfers = [e for e in read_all(redis_client) if e["event"] == "TRANSFER"]
    assert transfers[0]["data"] == {"line": "payment"}


def test_payment_completed_says_goodbye(caller, config):
    caller.ring()
    choose(caller, "1")
    doc = caller.dial_result("completed", duration=95)
    assert doc.verbs == ["Say", "Hangup"]
    assert doc.text == config.messages.call_ended


@pytest.mark.parametrize("status", ["busy", "no-answer", "failed", "canceled"])
def test_payment_failure_apologises_and_offers_an_advisor(caller, config, status):
    caller.ring()
    choose(caller, "1")
    doc = caller.dial_result(status)
    assert doc.all("Say")[0].text == config.messages.payment_failed
    gather = doc.first("Gather")
    assert gather.get("action") == "/voice/payments/failed"
    assert "press 1" in " ".join(s.text for s in gather.iter("Say"))
    assert_never_ends(doc)


@pytest.mark.parametrize("answer", [lambda c: c.press("1"), lambda c: c.silence(),
                                    lambda c: c.press("5")], ids=["1", "silence", "other key"])
def test_after_a_failed_payment_transfer_an_advisor(caller, config, answer):
    caller.ring()
    choose(caller, "1")
    caller.dial_result("busy")
    doc = answer(caller)
    assert_enqueued(doc, config, "general")


def test_after_a_failed_payment_transfer_2_is_the_menu(caller, config):
    caller.ring()
    choose(caller, "1")
    caller.dial_result("no-answer")
    doc = caller.press("2")
    assert_menu(doc, config, 0)
    doc = choose(caller, "4")  # and the menu works as before
    assert config.departments["street_care"].online in doc.text


@pytest.mark.parametrize("status", ["busy", "no-answer", "failed"])
def test_payment_failure_out_of_hours_offers_no_advisor(make_caller, config, status):
    """Closed: no advisor or menu to offer; the payment line again, or a message."""
    with time_machine.travel(CLOSED["saturday"], tick=False):
        caller = make_caller()
        caller.ring()
        caller.press("1")
        caller.follow()
        doc = caller.dial_result(status)
        assert doc.all("Say")[0].text == config.messages.payment_failed
        assert "advisor" not in doc.text
        assert doc.first("Gather").get("action") == "/voice/closed/choice?miss=1"
        assert_never_ends(doc)
        doc = caller.silence()
        assert doc.root.find("Redirect").text == "/voicemail/start?dept=general"
        assert caller.follow().has("Record")


def test_payment_failure_out_of_hours_can_try_the_line_again(make_caller):
    with time_machine.travel(CLOSED["weekday evening"], tick=False):
        caller = make_caller()
        caller.ring()
        caller.press("1")
        caller.follow()
        caller.dial_result("busy")
        caller.press("1")
        assert caller.follow().first("Dial").text == PAYMENT_LINE


# -- text phone ----------------------------------------------------------------------------------


def test_text_phone_transfer_is_unrecorded(caller):
    caller.ring()
    doc = choose(caller, "9")
    dial = doc.first("Dial")
    assert dial.text == TEXT_PHONE
    assert dial.get("record") == "do-not-record"
    assert dial.get("action") == "/voice/textphone/result"


def test_text_phone_completed_says_goodbye(caller, config):
    caller.ring()
    choose(caller, "9")
    doc = caller.dial_result("completed", duration=300)
    assert doc.verbs == ["Say", "Hangup"]


@pytest.mark.parametrize("status", ["busy", "no-answer", "failed", "canceled"])
def test_text_phone_failure_goes_to_the_general_queue(caller, config, status):
    caller.ring()
    choose(caller, "9")
    doc = caller.dial_result(status)
    assert doc.all("Say")[0].text == config.messages.text_phone_failed
    assert_enqueued(doc, config, "general")


# -- Relay UK: long keypad timeouts everywhere ----------------------------------------------------


@pytest.mark.parametrize("relay", ["+448000223388", "+441519099988"])
def test_relay_caller_gets_long_timeouts_through_the_journey(make_caller, config, relay):
    assert relay in config.relay.caller_ids
    assert config.speech.relay_keypad_timeout == 15
    caller = make_caller(relay)
    caller.ring()
    caller.press("7")  # a miss
    caller.press("*")  # a repeat
    choose(caller, "1")  # payment line
    caller.dial_result("busy")  # the choice after a failed transfer
    caller.press("2")  # back to the menu
    with time_machine.travel(CLOSED["saturday"], tick=False):
        caller.ring()  # out of hours too
        caller.press("7")
    found = gathers(caller)
    assert len(found) == 7
    assert {g.get("timeout") for g in found} == {"15"}


def test_the_served_greeting_follows_each_callers_keypad_timeout(make_caller, config):
    """The opening-hours greeting is built once per app and kind of caller: a relay caller
    after a mobile caller (and the reverse) still gets their own timeout and the same words."""
    order = [MOBILE, RELAY, MOBILE, RELAY]
    docs = []
    for number in order:
        caller = make_caller(number)
        docs.append(caller.ring())
    timeouts = [doc.first("Gather").get("timeout") for doc in docs]
    assert timeouts == [str(config.speech.keypad_timeout), "15"] * 2
    assert [d.all("Say")[0].text for d in docs] == [config.messages.welcome] * 4


def test_relay_caller_is_recorded_as_relay(make_caller, redis_client):
    caller = make_caller(RELAY)
    caller.ring()
    assert redis_client.hget(f"{{ivr}}:call:{caller.sid}", "relay") == b"1"
    caller2 = make_caller(MOBILE)
    caller2.ring()
    assert redis_client.hget(f"{{ivr}}:call:{caller2.sid}", "relay") == b"0"


@pytest.mark.parametrize("from_", [MOBILE, LANDLINE, "anonymous"])
def test_other_callers_get_the_normal_timeout(make_caller, from_):
    caller = make_caller(from_)
    caller.ring()
    caller.press("7")
    choose(caller, "1")
    caller.dial_result("failed")
    with time_machine.travel(CLOSED["weekday evening"], tick=False):
        caller.ring()
    found = gathers(caller)
    assert len(found) == 4
    assert {g.get("timeout") for g in found} == {"5"}
