"""The voicemail journey through signed webhooks: the promise, a callback number, the message.

Callers reach voicemail the way Twilio takes them there: out of hours by the closed menu, in
hours by timing out of a queue. Every document is validated by the ``Caller``.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from caller import sealed_number

from ivr import events
from voicemail.tasks import load_task

OPEN = "2026-12-01 10:00:00+00:00"  # Tuesday, 10:00 GMT
CLOSED = "2026-12-01 19:00:00+00:00"  # Tuesday, 19:00 GMT
MOBILE = "+447911123456"
INTRO = (
    "Please leave your name, number and a short message after the tone. "
    "We'll call you back by the end of {day}."
)
NUMBER_NEEDED = "We can't see a number to call you back on."
NUMBER_PROMPT = (
    "Please key in the phone number we should call you back on, starting with zero, "
    "then press the hash key."
)
NOT_CAUGHT = "Sorry, I didn't catch that."
GIVEN_UP = (
    "Sorry, we still don't have a number. Please say your phone number clearly in your message."
)


def to_voicemail(caller):
    """Ring and reach voicemail as a resident would: the closed menu, or a queue's time limit."""
    doc = caller.ring()
    if doc.first("Gather").get("action").startswith("/voice/closed/"):
        assert caller.press("2").verbs == ["Redirect"]
        return caller.follow()
    caller.press("0")  # anything else: the general queue
    doc = caller.follow()
    if doc.has("Gather"):  # a UK mobile is offered the link by text first
        doc = caller.press("9")
    assert doc.verbs[-1] == "Enqueue"
    assert caller.leave_queue("leave", 120).verbs == ["Say", "Redirect"]
    return caller.follow()


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def task_ids(redis_client) -> list[str]:
    keys = [k.decode() for k in redis_client.keys("{ivr}:cb:task:*")]
    return sorted(k.split(":")[3] for k in keys if k.count(":") == 3)


def only_task(redis_client) -> dict:
    ids = task_ids(redis_client)
    assert len(ids) == 1, ids
    task = load_task(redis_client, ids[0])
    task["recordings"] = json.loads(task["recordings"])
    return task


# -- the promise and the <Record> -----------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "day"),
    [
        ("2026-11-27 16:59:00+00:00", "Monday 30 November"),  # Friday, a minute before closing
        ("2026-11-27 17:01:00+00:00", "Monday 30 November"),  # Friday, a minute after
        (OPEN, "tomorrow"),  # Tuesday morning
        (CLOSED, "tomorrow"),  # Tuesday evening
        ("2026-11-28 11:00:00+00:00", "Monday 30 November"),  # Saturday
        ("2026-11-29 23:30:00+00:00", "tomorrow"),  # Sunday night
        ("2026-12-24 11:00:00+00:00", "Tuesday 29 December"),  # Christmas, Boxing Day (Mon)
        ("2026-04-02 16:30:00+00:00", "Tuesday 7 April"),  # Thursday 17:30 BST, then Easter
        ("2026-10-23 15:59:00+00:00", "Monday 26 October"),  # Friday 16:59 BST; clocks go back
        ("2026-06-30 23:30:00+00:00", "tomorrow"),  # already Wednesday 00:30 in London
    ],
)
def test_callable_caller_goes_straight_to_the_promise_and_the_tone(caller, at, day):
    with time_machine.travel(at, tick=False):
        doc = to_voicemail(caller)
    assert doc.verbs == ["Say", "Record", "Redirect"]
    assert doc.text == INTRO.format(day=day)
    record = doc.first("Record")
    assert record.get("maxLength") == "180"
    assert record.get("finishOnKey") == "#"
    assert record.get("playBeep") == "true"
    status_url = urlsplit(record.get("recordingStatusCallback"))
    assert (status_url.scheme, status_url.netloc, status_url.path) == (
        "http",
        "localhost",
        "/voicemail/recording",
    )
    assert "completed" in record.get("recordingStatusCallbackEvent").split()
    assert urlsplit(record.get("action")).path == "/voicemail/recorded"
    assert sealed_number(record.get("action"), caller.sid) == MOBILE
    assert sealed_number(record.get("recordingStatusCallback"), caller.sid) == MOBILE
    # Should Twilio skip the action (an empty recording), the caller is still not dropped.
    assert doc.first("Redirect").text == record.get("action")


@time_machine.travel(OPEN, tick=False)
def test_message_is_stored_and_the_caller_is_thanked(caller, redis_client):
    doc = to_voicemail(caller)
    dept = query(doc.first("Record").get("action"))["dept"]
    assert dept == ["general"]
    doc, rec, status_url = caller.record(duration=42)
    assert doc.verbs == ["Say", "Hangup"]
    assert doc.text == (
        "Thank you. We've got your message and we'll call you back by the end of tomorrow. Goodbye."
    )
    assert caller.recording_ready(status_url, rec, duration=42).verbs == []
    task = only_task(redis_client)
    assert task["number"] == MOBILE
    assert task["needs_number"] == "0"
    assert task["department"] == "general"
    assert task["call_sid"] == caller.sid
    assert task["callback_day"] == "2026-12-02"
    [recording] = task["recordings"]
    assert recording["id"] == rec
    assert recording["duration"] == "42"
    assert recording["url"].endswith(f"/Recordings/{rec}")
    assert recording["status"] == "completed"


# -- asking for a number ------------------------------------------------------------------


WITHHELD_OR_UNCALLABLE = [
    "anonymous",
    "restricted",
    "+266696687",  # Twilio's placeholder for a withheld number
    "",
    "client:alice",
    "+447700900123",  # Ofcom's drama range: not a real number
    "+4479111234",  # too short to be a UK number
    "+12126647665",  # a US number: we only call UK numbers
]


@pytest.mark.parametrize("from_", WITHHELD_OR_UNCALLABLE)
@pytest.mark.parametrize("at", [OPEN, CLOSED])
def test_withheld_or_uncallable_caller_is_asked_for_a_number(make_caller, from_, at):
    caller = make_caller(from_=from_)
    with time_machine.travel(at, tick=False):
        doc = to_voicemail(caller)
    assert doc.verbs == ["Say", "Gather", "Redirect"]
    assert doc.text == f"{NUMBER_NEEDED} {NUMBER_PROMPT}"
    assert not doc.has("Record")
    gather = doc.first("Gather")
    assert gather.get("finishOnKey") == "#"
    assert gather.get("numDigits") is None  # a whole phone number, ended by the hash key
    assert gather.get("actionOnEmptyResult") == "true"
    assert urlsplit(gather.get("action")).path == "/voicemail/number"


def ask_for_number(make_caller, from_: str = "anonymous"):
    caller = make_caller(from_=from_)
    doc = to_voicemail(caller)
    assert doc.text.startswith(NUMBER_NEEDED)
    return caller


@pytest.mark.parametrize(
    ("digits", "e164", "spoken"),
    [
        ("01206282300", "+441206282300", "0 1 2 0 6, 2 8 2 3 0 0"),  # Colchester landline
        ("07911123456", "+447911123456", "0 7 9 1 1, 1 2 3 4 5 6"),  # mobile
        ("00441206282300", "+441206282300", "0 1 2 0 6, 2 8 2 3 0 0"),  # international form
        ("441206282300", "+441206282300", "0 1 2 0 6, 2 8 2 3 0 0"),
        ("03001234567", "+443001234567", "0 3 0 0, 1 2 3, 4 5 6 7"),  # 03: charged as local
        ("0169773456", "+44169773456", "0 1 6 9 7 7, 3 4 5 6"),  # Brampton: 9 digits
    ],
)
@time_machine.travel(CLOSED, tick=False)
def test_keyed_number_is_read_back_and_confirmed(make_caller, redis_client, digits, e164, spoken):
    caller = ask_for_number(make_caller)
    doc = caller.press(digits)
    assert doc.verbs == ["Gather", "Redirect"]
    assert doc.text == (
        f"You entered {spoken}. If that's right, press 1. To enter it again, press 2."
    )
    assert doc.first("Gather").get("numDigits") == "1"
    doc = caller.press("1")
    assert doc.text == INTRO.format(day="tomorrow")
    record = doc.first("Record")
    assert sealed_number(record.get("action"), caller.sid) == e164
    assert sealed_number(record.get("recordingStatusCallback"), caller.sid) == e164
    doc, rec, status_url = caller.record()
    caller.recording_ready(status_url, rec)
    task = only_task(redis_client)
    assert (task["number"], task["needs_number"]) == (e164, "0")


@time_machine.travel(CLOSED, tick=False)
def test_press_2_enters_the_number_again(make_caller, redis_client):
    caller = ask_for_number(make_caller)
    caller.press("01206282300")
    doc = caller.press("2")
    assert doc.text == NUMBER_PROMPT
    assert urlsplit(doc.first("Gather").get("action")).path == "/voicemail/number"
    doc = caller.press("07911123456")
    assert "0 7 9 1 1, 1 2 3 4 5 6" in doc.text
    doc = caller.press("1")
    assert sealed_number(doc.first("Record").get("action"), caller.sid) == MOBILE
    caller.record()
    assert only_task(redis_client)["number"] == MOBILE


REJECTIONS = [
    ("09065123456", "premium"),
    ("07012345678", "personal"),  # 070 personal numbers
    ("08451234567", "shared_cost"),
    ("999", "short"),
    ("282300", "short"),  # no area code
    ("00000000000", "invalid"),
    ("0012126647665", "not_uk"),
    ("*", "invalid"),
    ("0120628230012345678", "invalid"),  # far too long
    ("02079460123", "drama"),  # Ofcom's drama ranges
    ("07700900123", "drama"),
    ("08081570000", "drama"),
    ("1800102079460123", "drama"),  # through Relay UK or not
]


@pytest.mark.parametrize(("digits", "reason"), REJECTIONS)
@time_machine.travel(CLOSED, tick=False)
def test_uncallable_keyed_number_is_refused_with_the_reason(make_caller, config, digits, reason):
    caller = ask_for_number(make_caller)
    doc = caller.press(digits)
    assert doc.verbs == ["Say", "Gather", "Redirect"]
    assert doc.text == f"{config.messages.number_rejected[reason]} {NUMBER_PROMPT}"
    assert not doc.has("Record")


def test_refusal_wording_comes_from_config(config):
    # A sample of the reasons as the council wrote them, so the table above checks real text.
    rejected = config.messages.number_rejected
    assert rejected["premium"] == "Sorry, we can't call premium rate numbers."
    assert rejected["personal"] == "Sorry, we can't call personal numbers beginning 0 7 0."
    assert rejected["short"] == "Sorry, that number is too short. Please include the area code."


@time_machine.travel(CLOSED, tick=False)
def test_silence_at_the_number_prompt_asks_again(make_caller):
    caller = ask_for_number(make_caller)
    doc = caller.silence()
    assert doc.text == f"{NOT_CAUGHT} {NUMBER_PROMPT}"


@pytest.mark.parametrize(
    ("attempts", "why"),
    [
        (["09065123456", "999", "07012345678"],
         "Sorry, we can't call personal numbers beginning 0 7 0."),
        (["", "", ""], ""),  # silence three times: nothing to explain
        (["*", "", "282300"], "Sorry, that number is too short. Please include the area code."),
    ],
)
@time_machine.travel(CLOSED, tick=False)
def test_after_three_attempts_the_caller_records_without_a_number(
    make_caller, redis_client, attempts, why
):
    """The last refusal says why, as the earlier ones did, before the caller records."""
    caller = ask_for_number(make_caller)
    for digits in attempts[:-1]:
        doc = caller.press(digits)
        assert doc.has("Gather") and not doc.has("Record")
    doc = caller.press(attempts[-1])
    assert doc.verbs == ["Say"] * (3 if why else 2) + ["Record", "Redirect"]
    assert doc.text == " ".join(filter(None, [why, GIVEN_UP, INTRO.format(day="tomorrow")]))
    assert sealed_number(doc.first("Record").get("action"), caller.sid) == ""
    doc, rec, status_url = caller.record()
    caller.recording_ready(status_url, rec)
    task = only_task(redis_client)
    assert (task["number"], task["needs_number"]) == ("", "1")
    assert [r["id"] for r in task["recordings"]] == [rec]
    created = [e for e in events.read_all(redis_client) if e["event"] == "CALLBACKCREATED"]
    assert [e["data"]["has_number"] for e in created] == [False]


@time_machine.travel(CLOSED, tick=False)
def test_re_entering_counts_towards_the_attempts(make_caller, redis_client):
    caller = ask_for_number(make_caller)
    for _ in range(2):
        caller.press("01206282300")
        assert caller.press("2").text == NUMBER_PROMPT
    caller.press("01206282300")
    doc = caller.press("2")
    assert doc.text.startswith(GIVEN_UP)
    assert sealed_number(doc.first("Record").get("action"), caller.sid) == ""


@time_machine.travel(CLOSED, tick=False)
def test_silence_at_the_confirm_prompt_asks_once_more_then_records(make_caller):
    caller = ask_for_number(make_caller)
    caller.press("01206282300")
    doc = caller.silence()
    assert doc.verbs == ["Gather", "Redirect"]
    assert doc.text == (
        f"{NOT_CAUGHT} You entered 0 1 2 0 6, 2 8 2 3 0 0. "
        "If that's right, press 1. To enter it again, press 2."
    )
    doc = caller.silence()
    # Heard twice: the number stands and the caller records.
    assert doc.verbs == ["Say", "Record", "Redirect"]
    assert sealed_number(doc.first("Record").get("action"), caller.sid) == "+441206282300"


@pytest.mark.parametrize(
    ("keys", "records"),
    [
        (["7", "1"], True),  # an odd key, then 1
        (["*", "1"], True),
        (["7", "7"], True),  # heard twice: recorded with the number read back
        (["7", "2"], False),  # an odd key, then 2: enter it again
    ],
)
@time_machine.travel(CLOSED, tick=False)
def test_odd_keys_at_the_confirm_prompt(make_caller, keys, records):
    caller = ask_for_number(make_caller)
    caller.press("01206282300")
    doc = caller.press(keys[0])
    assert doc.text.startswith(NOT_CAUGHT) and not doc.has("Record")
    doc = caller.press(keys[1])
    if records:
        assert sealed_number(doc.first("Record").get("action"), caller.sid) == "+441206282300"
    else:
        assert doc.text == NUMBER_PROMPT and not doc.has("Record")


@time_machine.travel(CLOSED, tick=False)
def test_number_prompt_via_the_fall_through_redirect(make_caller):
    """If Twilio ever falls through the Gather, the Redirect still reaches the number check."""
    caller = ask_for_number(make_caller)
    doc = caller.follow()
    assert doc.text == f"{NOT_CAUGHT} {NUMBER_PROMPT}"


# -- after the tone -----------------------------------------------------------------------


@time_machine.travel(CLOSED, tick=False)
def test_hanging_up_ends_the_recording_and_the_voicemail_is_still_stored(caller, redis_client):
    to_voicemail(caller)
    doc, rec, status_url = caller.record(duration=25, digits="hangup")
    assert doc.verbs == []  # the caller has gone: nothing to say
    task = only_task(redis_client)
    assert [r["id"] for r in task["recordings"]] == [rec]
    assert task["recordings"][0]["duration"] == "25"
    caller.recording_ready(status_url, rec, duration=25)
    assert only_task(redis_client)["voicemails"] == "1"


@time_machine.travel(CLOSED, tick=False)
def test_no_recording_still_creates_a_callback_task(caller, redis_client):
    to_voicemail(caller)
    doc = caller.follow()  # Twilio skipped the action: the Redirect after <Record>
    assert doc.verbs == ["Say", "Say", "Hangup"]
    assert doc.text.startswith("Sorry, we didn't hear a message. Thank you.")
    task = only_task(redis_client)
    assert task["number"] == MOBILE
    [recording] = task["recordings"]
    assert (recording["url"], recording["status"]) == ("", "none")
    assert recording["id"] == f"{caller.sid}-no-recording"


@pytest.mark.parametrize("from_", [MOBILE, "anonymous"])
@time_machine.travel(CLOSED, tick=False)
def test_absent_recording_callback_is_the_same_missing_message(make_caller, redis_client, from_):
    """No message left: the fall-through and Twilio's "absent" callback make one task entry."""
    caller = make_caller(from_=from_)
    doc = to_voicemail(caller)
    if not doc.has("Record"):
        for _ in range(3):
            doc = caller.silence()
    status_url = doc.first("Record").get("recordingStatusCallback")
    caller.follow()
    caller.recording_ready(status_url, "RE" + "0" * 32, duration=0, status="absent")
    task = only_task(redis_client)
    assert task["voicemails"] == "1"
    assert [r["id"] for r in task["recordings"]] == [f"{caller.sid}-no-recording"]
    assert task["recordings"][0]["status"] == "absent"


@time_machine.travel(CLOSED, tick=False)
def test_recording_action_without_a_recording_url(caller, redis_client):
    to_voicemail(caller)
    record = caller.doc.first("Record")
    doc = caller.post(record.get("action"), RecordingDuration="0", Digits="#")
    assert doc.text.startswith("Sorry, we didn't hear a message.")
    assert only_task(redis_client)["recordings"][0]["status"] == "none"


# -- the callback in our own URLs: sealed, never written as it is ------------------------------


RELAY = "+448000223388"  # listed under relay.caller_ids


@pytest.mark.parametrize("prefix", ["18001", "18002"])
@time_machine.travel(CLOSED, tick=False)
def test_a_number_keyed_after_a_relay_prefix_is_a_relay_callback(make_caller, redis_client,
                                                                 prefix):
    """The prefix is kept as its meaning (call back through Relay UK), never dropped."""
    caller = ask_for_number(make_caller)
    doc = caller.press(prefix + "01206500600")
    assert doc.text == ("You entered 0 1 2 0 6, 5 0 0 6 0 0, to be called back through "
                        "Relay UK. If that's right, press 1. To enter it again, press 2.")
    assert "relay" not in doc.first("Gather").get("action")
    doc = caller.silence()  # asked once more, still as a relay callback
    assert "through Relay UK" in doc.text
    doc = caller.press("1")
    record = doc.first("Record")
    assert sealed_number(record.get("action"), caller.sid) == "+441206500600"
    caller.recording_ready(record.get("recordingStatusCallback"), "RE" + "5" * 32)
    task = only_task(redis_client)
    assert (task["number"], task["relay"]) == ("+441206500600", "1")


@time_machine.travel(CLOSED, tick=False)
def test_a_relay_callers_urls_do_not_say_they_came_through_relay(make_caller, redis_client):
    """Relay UK use says something about the caller's hearing or speech: sealed with the
    number, and still known to the recording callback, which carries no ``From``."""
    caller = make_caller(from_=RELAY)
    doc = to_voicemail(caller)
    doc = caller.press("01206500600")
    assert "relay" not in doc.first("Gather").get("action")
    doc = caller.press("1")
    record = doc.first("Record")
    for url in (record.get("action"), record.get("recordingStatusCallback")):
        assert sealed_number(url, caller.sid) == "+441206500600"
        assert "relay" not in url
    rec = "RE" + "4" * 32
    caller.recording_ready(record.get("recordingStatusCallback"), rec)  # before the action
    task = only_task(redis_client)
    assert (task["number"], task["relay"]) == ("+441206500600", "1")


@pytest.mark.parametrize(("from_", "number", "needs"), [(MOBILE, MOBILE, "0"),
                                                         ("anonymous", "", "1")])
@time_machine.travel(CLOSED, tick=False)
def test_a_seal_that_does_not_open_falls_back_to_the_caller_id(
    make_caller, redis_client, caplog, from_, number, needs
):
    """Sealed with another key (the auth token was changed during the call) or for another
    call: the caller ID when it can be called back, else no number; never a wrong number."""
    caller = make_caller(from_=from_)
    other = make_caller(from_=from_)
    other.post("/voicemail/start?dept=benefits")
    if not other.doc.has("Record"):
        other.press("01206500600")
        other.press("1")
    foreign = other.doc.first("Record").get("action")  # another call's sealed callback
    doc = caller.post(foreign, RecordingUrl="https://api.twilio.com/x/Recordings/RE" + "5" * 32,
                      RecordingDuration="9", Digits="#")
    assert doc.text.startswith("Thank you. We've got your message")
    task = only_task(redis_client)
    assert (task["number"], task["needs_number"], task["department"]) == (
        number, needs, "benefits")
    assert f"voicemail callback details for call {caller.sid} could not be opened" in caplog.text
    assert "01206500600" not in caplog.text and "+441206500600" not in caplog.text


@time_machine.travel(CLOSED, tick=False)
def test_a_url_from_before_sealing_is_still_understood(make_caller, redis_client):
    """A call in progress across the upgrade comes back to URLs the release before wrote."""
    caller = make_caller(from_="anonymous")
    caller.post("/voicemail/start?dept=housing")
    doc = caller.post("/voicemail/recorded?dept=housing&number=%2B441206500600&relay=1",
                      RecordingUrl="https://api.twilio.com/x/Recordings/RE" + "6" * 32,
                      RecordingDuration="9", Digits="#")
    assert doc.text.startswith("Thank you. We've got your message")
    task = only_task(redis_client)
    assert (task["number"], task["relay"], task["department"]) == ("+441206500600", "1",
                                                                    "housing")
