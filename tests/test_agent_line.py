"""The agent line: advisors sign in by phone (always with their PIN), take the caller who
waited longest, wrap up, and work the voicemail callbacks, all through signed webhooks in
virtual time on a real Redis.

Nobody is on duty here until an agent signs in (``make_app(staffed=False)``), so a queue only
takes callers while an advisor for its department is signed in.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
import time_machine
from caller import COUNCIL_NUMBER, Caller
from jobs import Worker, run_due_jobs
from rq import Queue

from flows import agent_callbacks, agent_calls, agent_line
from ivr import agents, audit, messaging, store
from ivr.agents import Role, State
from ivr.agents.jobs import END_WRAP_UP, END_WRAP_UP_RETRY
from ivr.events import read_all
from voicemail import callbacks
from voicemail.tasks import OPEN_BY_NUMBER, WORKLIST, load_task

OPEN = "2026-12-01 10:00:00+00:00"  # Tuesday 10:00 GMT
T0 = datetime.fromisoformat(OPEN).timestamp()
LINE = "+441206282299"  # config agents.line_numbers[0]
PRIYA_PHONE = "+447911123401"  # Priya Shah: council_tax and benefits; known phone
HANA_PHONE = "+447911123403"  # Hana Novak: housing only
STRANGER = "+447911123499"  # a phone that is no agent's (Sam Lee keys number and PIN)
PRIYA_PIN, SAM_PIN, HANA_PIN = "482913", "735162", "135792"
PINS = {PRIYA_PHONE: PRIYA_PIN, HANA_PHONE: HANA_PIN}  # what each known phone's advisor keys
MOBILE = "+447911123456"
MOBILE_2 = "+447911123457"
LANDLINE = "+441206500600"
RELAY = "+448000223388"  # listed under relay.caller_ids
DEPT_KEYS = {"council_tax": "2", "benefits": "3", "street_care": "4", "housing": "5",
             "general": "0"}

HELLO = "Hello {}."
MENU = ("To take the next caller, press 1. For the next callback, press 2. To take a break, or "
        "to come back from one, press 3. To sign out, press 9. During a call, press star to "
        "end it and stay on the line.")
NONE_WAITING = "No callers are waiting in your queues."
NO_ONE = "There's no one waiting in your queues."
ENTER_NUMBER = "Agent line. Please enter your four digit agent number."
ENTER_PIN = "Please enter your PIN, then press hash."
ENTER_PIN_KNOWN = ("Agent line. We recognise this phone, so please enter just your PIN, then "
                   "press hash. To use a different agent number, press star, then hash.")
WRONG = "Sorry, that wasn't recognised."
LOCKED = "Too many attempts. Please try again later. Goodbye."
WRAP_UP = ("Call ended. If the query was resolved on this call, press 1. If it needs follow-up, "
           "press 2.")
APOLOGY = "Sorry, something went wrong on our side."
ANNOUNCE = ("This is Colchester Borough Council returning your call. Calls may be recorded for "
            "training and monitoring purposes.")
CHOICE = "To call them now, press 1. To skip this callback, press 2."
NO_CALLBACKS = "There are no callbacks due for your departments."


@pytest.fixture
def app(make_app):
    return make_app(staffed=False)


@pytest.fixture(autouse=True)
def traveller():
    with time_machine.travel(OPEN, tick=False) as t:
        yield t


@pytest.fixture
def staff(redis_client):
    def add(name, depts, phone, pin, role=Role.AGENT):
        agent = agents.add(redis_client, name=name, departments=depts, phone=phone, role=role,
                           now=T0 - 86400)
        agents.set_secret(redis_client, agent.id, "pin_hash", pin)
        return agent.id

    return SimpleNamespace(
        priya=add("Priya Shah", ("council_tax", "benefits"), PRIYA_PHONE, PRIYA_PIN),
        sam=add("Sam Lee", ("council_tax",), "", SAM_PIN),
        hana=add("Hana Novak", ("housing",), HANA_PHONE, HANA_PIN),
    )


# -- helpers -----------------------------------------------------------------------------------


def at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def events(redis_client, kind: str) -> list[dict]:
    return [e for e in read_all(redis_client) if e["event"] == kind]


def agent(redis_client, agent_id: str) -> agents.Agent:
    found = agents.get(redis_client, agent_id)
    assert found is not None
    return found


def state(redis_client, agent_id: str) -> State:
    return agent(redis_client, agent_id).state


def on_duty(redis_client, dept: str) -> set[str]:
    return {x.decode() for x in redis_client.smembers(agents.ON_DUTY.format(dept=dept))}


def waiting(redis_client, dept: str) -> list[str]:
    return [x.decode() for x in redis_client.zrange(store.queue_key(dept), 0, -1)]


def call_hash(redis_client, sid: str) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in redis_client.hgetall(store.call_key(sid)).items()}


def line(make_caller, phone: str = PRIYA_PHONE) -> Caller:
    """A call to the agent line from ``phone`` (not yet answered by the app)."""
    return make_caller(phone, to=LINE)


def sign_in(make_caller, phone: str = PRIYA_PHONE, first_name: str = "Priya") -> Caller:
    """An agent whose phone is known rings the agent line, is asked only their PIN, keys it
    and is signed in."""
    call = line(make_caller, phone)
    assert call.post("/agent/incoming").text == ENTER_PIN_KNOWN
    doc = call.press(PINS[phone])
    assert doc.text.startswith(HELLO.format(first_name)), doc.xml
    return call


def sign_in_with_pin(make_caller, agent_id: str, pin: str, phone: str = STRANGER) -> Caller:
    call = line(make_caller, phone)
    assert call.post("/agent/incoming").text == ENTER_NUMBER
    assert call.press(agent_id).text == ENTER_PIN
    call.press(pin)
    return call


def assert_menu(doc, *, status: str | None = None) -> None:
    """The agent menu: a one-key Gather back to the menu choice (with the queue status)."""
    gather = doc.first("Gather")
    assert gather.get("action") == "/agent/menu/choice"
    assert gather.get("numDigits") == "1"
    assert gather.get("actionOnEmptyResult") == "true"
    said = [s.text for s in gather.iter("Say")]
    assert said[-1] == MENU
    if status is not None:
        assert said[0] == status
    assert doc.root[-1].tag == "Redirect" and doc.root[-1].text == "/agent/menu/choice"


def queue_up(make_caller, from_: str, dept: str) -> Caller:
    """A resident who rings, chooses ``dept`` (declining the text offer) and now waits."""
    caller = make_caller(from_)
    caller.ring()
    caller.press(DEPT_KEYS[dept])
    doc = caller.follow()
    if doc.has("Gather"):  # a mobile hears the text offer first: no answer, then the queue
        doc = caller.silence()
    assert doc.verbs[-1] == "Enqueue", doc.xml
    return caller


def run_jobs(redis_client, queue_name: str, when: float) -> int:
    """What the service's RQ worker with its scheduler does at ``when``: returns jobs run."""
    return run_due_jobs(redis_client, queue_name, when)


def scheduled(redis_client, queue_name: str = "callbacks") -> dict[str, float]:
    registry = Queue(queue_name, connection=redis_client).scheduled_job_registry
    return {job_id: registry.get_scheduled_time(job_id).timestamp()
            for job_id in registry.get_job_ids()}


def pin_action_names(call, agent_id: str, action: str) -> bool:
    """The PIN step's URL names ``agent_id`` only sealed (``a=``), bound to this call."""
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(action)
    query = parse_qs(parts.query)
    sealer = call.client.application.extensions["ivr"].sealer
    return (parts.path == "/agent/login/pin" and query.get("tries") == ["0"]
            and "agent" not in query and agent_id not in action
            and sealer.open(query["a"][0], call.sid) == agent_id)


# -- signing in --------------------------------------------------------------------------------


def test_a_known_phone_is_asked_only_the_pin_then_greeted_and_signed_in(make_caller,
                                                                         redis_client, staff):
    call = line(make_caller)
    doc = call.post("/agent/incoming")
    assert doc.verbs == ["Gather", "Redirect"]
    assert doc.text == ENTER_PIN_KNOWN  # told why only the PIN is asked; nobody named
    gather = doc.first("Gather")
    assert pin_action_names(call, "1001", gather.get("action"))
    assert (gather.get("finishOnKey"), gather.get("numDigits")) == ("#", None)
    assert state(redis_client, staff.priya) is State.SIGNED_OUT  # nothing until the PIN
    assert agents.for_call(redis_client, call.sid) is None
    doc = call.press(PRIYA_PIN)
    assert doc.verbs == ["Say", "Gather", "Redirect"]
    assert doc.text == f"Hello Priya. {NONE_WAITING} {MENU}"
    assert_menu(doc, status=NONE_WAITING)
    assert state(redis_client, staff.priya) is State.AVAILABLE
    assert on_duty(redis_client, "council_tax") == on_duty(redis_client, "benefits") == {"1001"}
    assert on_duty(redis_client, "housing") == set()
    assert agents.for_call(redis_client, call.sid).id == staff.priya
    [ev] = events(redis_client, "AGENTSTATE")
    assert ev["data"] | {"seconds_in_previous": 0} == {
        "agent": "1001", "state": "available", "previous": "signed_out", "reason": "agent line",
        "seconds_in_previous": 0}
    assert events(redis_client, "AGENTLOGINFAILED") == []
    [signed] = audit.read(redis_client, action="line_signin")
    assert (signed.actor, signed.target) == ("1001", "1001")
    assert signed.detail == {"caller": "+44 7911 123***", "call": call.sid, "by": "phone"}


def test_a_known_phone_may_key_another_agent_number_with_star(make_caller, redis_client,
                                                               staff):
    call = line(make_caller)  # Sam borrows Priya's phone
    call.post("/agent/incoming")
    doc = call.press("*")
    assert doc.text == ENTER_NUMBER
    assert doc.first("Gather").get("action") == "/agent/login/number?tries=0"
    assert call.press(staff.sam).text == ENTER_PIN
    assert call.press(SAM_PIN).text.startswith("Hello Sam.")
    assert agents.for_call(redis_client, call.sid).id == staff.sam
    assert state(redis_client, staff.priya) is State.SIGNED_OUT
    assert audit.read(redis_client, action="line_signin")[0].detail["by"] == "agent number"


def test_a_known_phone_with_a_wrong_pin_is_not_signed_in(make_caller, redis_client, staff):
    call = line(make_caller)
    call.post("/agent/incoming")
    doc = call.press("000000")
    assert doc.text == f"{WRONG} {ENTER_NUMBER}"  # then as anyone else: number and PIN
    assert state(redis_client, staff.priya) is State.SIGNED_OUT
    assert agents.for_call(redis_client, call.sid) is None
    [failed] = audit.read(redis_client, action="line_signin_failed")
    assert (failed.actor, failed.target) == ("anonymous", "1001")
    assert failed.detail == {"caller": "+44 7911 123***", "call": call.sid,
                             "reason": "wrong pin"}


def test_the_agent_line_number_on_the_main_webhook_hands_over(make_caller, redis_client, staff):
    call = line(make_caller)
    doc = call.ring()  # POST /voice/incoming with To = the agent line number
    assert doc.verbs == ["Redirect"]
    assert doc.first("Redirect").text == "/agent/incoming"
    assert doc.first("Redirect").get("method") == "POST"
    assert call.follow().text == ENTER_PIN_KNOWN
    assert call.press(PRIYA_PIN).text.startswith("Hello Priya.")
    assert state(redis_client, staff.priya) is State.AVAILABLE
    # not a resident's call: no welcome, no caller record, no call events
    assert call_hash(redis_client, call.sid) == {}
    assert events(redis_client, "INCOMING") == []


def test_the_menu_says_how_many_wait_and_the_longest_wait(make_caller, redis_client, staff,
                                                          traveller):
    priya = sign_in(make_caller)
    queue_up(make_caller, LANDLINE, "benefits")
    traveller.shift(35)
    queue_up(make_caller, MOBILE, "council_tax")
    queue_up(make_caller, MOBILE_2, "council_tax")
    hana = sign_in(make_caller, HANA_PHONE, "Hana")  # housing: nobody waits there
    assert hana.doc.text == f"Hello Hana. {NONE_WAITING} {MENU}"
    traveller.shift(90)
    doc = priya.silence()  # an idle agent: the menu comes round again with fresh figures
    assert doc.verbs == ["Pause", "Gather", "Redirect"]
    assert doc.first("Pause").get("length") == "5"
    status = ("There are 3 callers waiting in your queues. The longest has waited 2 minutes "
              "5 seconds.")
    assert_menu(doc, status=status)
    assert doc.text == f"{status} {MENU}"


def test_an_unknown_phone_keys_agent_number_and_pin(make_caller, redis_client, staff):
    call = line(make_caller, STRANGER)
    doc = call.post("/agent/incoming")
    assert doc.text == ENTER_NUMBER
    gather = doc.first("Gather")
    assert (gather.get("action"), gather.get("numDigits")) == ("/agent/login/number?tries=0", "4")
    assert state(redis_client, staff.sam) is State.SIGNED_OUT
    doc = call.press(staff.sam)
    assert doc.text == ENTER_PIN
    gather = doc.first("Gather")
    assert gather.get("finishOnKey") == "#"
    assert gather.get("numDigits") is None
    assert pin_action_names(call, "1002", gather.get("action"))
    doc = call.press(SAM_PIN)
    assert doc.text == f"Hello Sam. {NONE_WAITING} {MENU}"
    assert state(redis_client, staff.sam) is State.AVAILABLE
    assert on_duty(redis_client, "council_tax") == {"1002"}
    assert agents.for_call(redis_client, call.sid).id == staff.sam
    assert events(redis_client, "AGENTLOGINFAILED") == []


def test_three_wrong_tries_then_goodbye(make_caller, redis_client, staff, caplog):
    caplog.set_level(logging.WARNING)
    call = line(make_caller, STRANGER)
    call.post("/agent/incoming")
    for tries in (1, 2):
        call.press(staff.sam)
        doc = call.press("0000")
        assert doc.text == f"{WRONG} {ENTER_NUMBER}"
        assert doc.first("Gather").get("action") == f"/agent/login/number?tries={tries}"
    call.press(staff.sam)
    doc = call.press("0000")
    assert doc.verbs == ["Say", "Hangup"]
    assert doc.text == LOCKED
    assert state(redis_client, staff.sam) is State.SIGNED_OUT
    assert agents.for_call(redis_client, call.sid) is None
    failed = events(redis_client, "AGENTLOGINFAILED")
    assert len(failed) == 3
    assert {e["call"] for e in failed} == {call.sid}
    assert {e["data"]["caller"] for e in failed} == {"+44 7911 123***"}  # masked
    assert caplog.text.count("agent line: failed sign-in from +44 7911 123***") == 3
    assert STRANGER not in caplog.text and "0000" not in caplog.text


def test_a_wrong_number_and_a_wrong_pin_sound_the_same(make_caller, redis_client, staff):
    """No hint which part was wrong: any four digits are taken, and the refusal is the same."""
    docs = []
    for agent_id, pin in ((staff.sam, "0000"), ("1999", SAM_PIN), ("1999", "0000")):
        call = line(make_caller, STRANGER)
        call.post("/agent/incoming")
        assert call.press(agent_id).text == ENTER_PIN
        docs.append(call.press(pin))
    assert len({d.xml for d in docs}) == 1
    assert docs[0].text == f"{WRONG} {ENTER_NUMBER}"


def test_a_non_numeric_or_missing_agent_number_is_a_wrong_try(make_caller, redis_client, staff):
    call = line(make_caller, STRANGER)
    call.post("/agent/incoming")
    doc = call.silence()  # no digits: counted, and asked again
    assert doc.text == f"{WRONG} {ENTER_NUMBER}"
    assert len(events(redis_client, "AGENTLOGINFAILED")) == 1


def test_failures_lock_the_caller_id_out_even_with_the_right_pin(make_caller, redis_client,
                                                                 staff, config):
    assert config.agents.lockout_failures == 5 and config.agents.pin_attempts == 3
    waiting_at_pin = line(make_caller, STRANGER)  # a call already at the PIN prompt
    waiting_at_pin.post("/agent/incoming")
    waiting_at_pin.press(staff.sam)

    # Failures at numbers that are no agent's, so only the caller ID's count locks anything.
    first = line(make_caller, STRANGER)  # three failures: hung up
    first.post("/agent/incoming")
    for number in ("1901", "1902", "1903"):
        first.press(number)
        doc = first.press("111111")
    assert doc.text == LOCKED
    second = line(make_caller, STRANGER)  # two more: the fifth locks the caller ID out
    assert second.post("/agent/incoming").text == ENTER_NUMBER
    second.press("1904")
    assert second.press("111111").text == f"{WRONG} {ENTER_NUMBER}"
    second.press("1905")
    doc = second.press("111111")
    assert doc.text == LOCKED and doc.verbs == ["Say", "Hangup"]

    doc = waiting_at_pin.press(SAM_PIN)  # the right PIN no longer opens the line
    assert doc.text == LOCKED and doc.verbs == ["Say", "Hangup"]
    assert state(redis_client, staff.sam) is State.SIGNED_OUT
    doc = line(make_caller, STRANGER).post("/agent/incoming")  # a new call: not even asked
    assert doc.text == LOCKED and doc.verbs == ["Say", "Hangup"]
    assert len(events(redis_client, "AGENTLOGINFAILED")) == 6
    [locked] = audit.read(redis_client, action="locked")
    assert (locked.target, locked.detail["scope"]) == ("+44 7911 123***", "caller id")
    # another caller ID is not affected, and a known phone is recognised as before
    assert sign_in_with_pin(make_caller, staff.sam, SAM_PIN, MOBILE_2).doc.text.startswith(
        "Hello Sam.")
    sign_in(make_caller)

    # the window passes (Redis expires the count in real time: check the TTL, then expire it)
    key = agent_line.FAILS.format(caller=STRANGER)
    assert 0 < redis_client.ttl(key) <= config.agents.lockout_window == 900
    redis_client.delete(key)
    call = sign_in_with_pin(make_caller, staff.hana, HANA_PIN)
    assert call.doc.text.startswith("Hello Hana.")
    assert not redis_client.exists(agent_line.FAILS.format(caller=STRANGER))


def test_a_sign_in_clears_earlier_failures(make_caller, redis_client, staff):
    call = line(make_caller, STRANGER)
    call.post("/agent/incoming")
    for _ in range(2):
        call.press(staff.sam)
        call.press("9999")
    call.press(staff.sam)
    assert call.press(SAM_PIN).text.startswith("Hello Sam.")
    assert not redis_client.exists(agent_line.FAILS.format(caller=STRANGER))


# -- the menu ----------------------------------------------------------------------------------


def test_3_takes_a_break_and_3_again_comes_back(make_caller, redis_client, staff):
    priya = sign_in(make_caller)
    doc = priya.press("3")
    assert state(redis_client, staff.priya) is State.ON_BREAK
    assert doc.text == f"You're on a break. {MENU}"
    assert_menu(doc)
    assert on_duty(redis_client, "council_tax") == {"1001"}  # still signed in
    doc = priya.press("3")
    assert state(redis_client, staff.priya) is State.AVAILABLE
    assert doc.text == f"Welcome back. You're available. {NONE_WAITING} {MENU}"
    assert_menu(doc, status=NONE_WAITING)
    moves = [(e["data"]["previous"], e["data"]["state"], e["call"])
             for e in events(redis_client, "AGENTSTATE")]
    assert moves == [("signed_out", "available", ""), ("available", "on_break", priya.sid),
                     ("on_break", "available", priya.sid)]


def test_9_signs_out_and_empties_the_duty(make_caller, redis_client, staff):
    priya = sign_in(make_caller)
    doc = priya.press("9")
    assert doc.verbs == ["Say", "Hangup"]
    assert doc.text == "You're signed out. Goodbye."
    assert state(redis_client, staff.priya) is State.SIGNED_OUT
    assert on_duty(redis_client, "council_tax") == on_duty(redis_client, "benefits") == set()
    assert not agents.anyone_on_duty(redis_client, "council_tax")
    assert events(redis_client, "AGENTSTATE")[-1]["data"]["state"] == "signed_out"


def test_an_odd_key_repeats_the_menu_at_once(make_caller, redis_client, staff):
    priya = sign_in(make_caller)
    doc = priya.press("7")
    assert doc.verbs == ["Gather", "Redirect"]
    assert_menu(doc, status=NONE_WAITING)
    assert state(redis_client, staff.priya) is State.AVAILABLE


@pytest.mark.parametrize("path", ["/agent/menu", "/agent/menu/choice", "/agent/take",
                                  "/agent/callback/next", "/agent/after-call", "/agent/wrap-up"])
def test_a_call_not_signed_in_is_sent_to_sign_in(make_caller, staff, path):
    doc = line(make_caller, STRANGER).post(path, Digits="1")
    assert doc.verbs == ["Redirect"]
    assert doc.first("Redirect").text == "/agent/incoming"


# -- no agents ---------------------------------------------------------------------------------


def test_no_agent_signed_in_means_voicemail_at_once(make_caller, redis_client, staff, config):
    caller = make_caller(LANDLINE)
    caller.ring()
    caller.press("2")
    doc = caller.follow()
    assert not doc.has("Enqueue")
    no_one = "Sorry, there's no one available in the Council Tax team at the moment."
    assert doc.text == f"{config.departments['council_tax'].online} {no_one}"
    assert doc.root[-1].tag == "Redirect"
    assert doc.root[-1].text == "/voicemail/start?dept=council_tax&reason=no_agents"
    [ev] = events(redis_client, "NOAGENTS")
    assert (ev["dept"], ev["call"]) == ("council_tax", caller.sid)
    assert events(redis_client, "ENTERQUEUE") == []
    assert waiting(redis_client, "council_tax") == []
    assert caller.follow().has("Record")  # the promise and the tone

    hana = sign_in(make_caller, HANA_PHONE, "Hana")  # housing only: still no one for tax
    again = make_caller(LANDLINE)
    again.ring()
    again.press("2")
    assert not again.follow().has("Enqueue")
    hana.press("9")

    sign_in_with_pin(make_caller, staff.sam, SAM_PIN)  # council tax: now the caller queues
    again = make_caller(LANDLINE)
    again.ring()
    again.press("2")
    doc = again.follow()
    assert doc.verbs[-1] == "Enqueue"
    assert "Putting you through to the Council Tax team." in doc.text
    assert waiting(redis_client, "council_tax") == [again.sid]
    assert len(events(redis_client, "NOAGENTS")) == 2


def test_an_agent_on_a_break_still_counts_as_signed_in(make_caller, redis_client, staff):
    sign_in_with_pin(make_caller, staff.sam, SAM_PIN).press("3")
    assert state(redis_client, staff.sam) is State.ON_BREAK
    queue_up(make_caller, LANDLINE, "council_tax")
    assert events(redis_client, "NOAGENTS") == []


# -- taking the next caller --------------------------------------------------------------------


def early_calls(make_caller, traveller, number: str, days_ago: list[float]) -> None:
    """Earlier calls from ``number`` (each rang and hung up at the menu)."""
    for days in days_ago:
        traveller.move_to(T0 - days * 86400)
        make_caller(number).ring()
    traveller.move_to(T0)


def test_take_next_gets_the_longest_wait_across_departments(make_caller, redis_client, staff,
                                                            traveller, config):
    priya = sign_in(make_caller)
    early_calls(make_caller, traveller, MOBILE, [8, 3, 2])  # the 8-day-old call doesn't count
    tax = queue_up(make_caller, MOBILE, "council_tax")  # waits longest
    traveller.shift(30)
    benefits = queue_up(make_caller, LANDLINE, "benefits")
    traveller.shift(60)

    assert priya.press("1").verbs == ["Redirect"]
    doc = priya.follow()
    assert doc.url.endswith("/agent/take")
    assert doc.verbs == ["Say", "Dial"]
    assert doc.text == ("Council Tax. Waited 1 minute 30 seconds. Caller 07911 123456. "
                        "This number called 2 times in the last 7 days.")
    dial = doc.first("Dial")
    assert dial.get("record") == "record-from-answer-dual" == config.recording.advisor_leg
    assert dial.get("action") == "/agent/after-call?dept=council_tax"
    assert dial.get("method") == "POST"
    [queue] = list(dial)
    assert queue.tag == "Queue"
    assert queue.text == "council-tax"
    assert queue.get("url") == "/agent/introduce?agent=1001&dept=council_tax"
    assert queue.get("method") == "POST"
    assert state(redis_client, staff.priya) is State.ON_CALL
    assert agent(redis_client, staff.priya).call_sid == priya.sid

    # Twilio runs the <Queue url> on the caller's leg, then bridges
    intro = tax.queue_url(queue.get("url"), queue_time=90, dequeuing_sid=priya.sid)
    assert intro.verbs == ["Say"]
    assert intro.text == "You're through to Priya in the Council Tax team."
    [connect] = events(redis_client, "CONNECT")
    assert connect["call"] == tax.sid
    assert connect["dept"] == "council_tax"
    assert connect["data"] == {"agent": "1001", "reason": "answered", "wait": 90}
    assert waiting(redis_client, "council_tax") == []
    assert waiting(redis_client, "benefits") == [benefits.sid]
    facts = call_hash(redis_client, tax.sid)
    assert float(facts["answered_at"]) == T0 + 90
    assert facts["answered_by"] == "1001"
    assert facts["left_reason"] == "answered"
    assert redis_client.lrange(store.answers_key("council_tax"), 0, -1) == [b"%.3f" % (T0 + 90)]

    # the caller's Enqueue action after the conversation: no second answer or CONNECT
    traveller.shift(300)
    tax.leave_queue("bridged", queue_time=90)
    assert len(events(redis_client, "CONNECT")) == 1
    assert redis_client.llen(store.answers_key("council_tax")) == 1

    # after the call and its wrap-up, with a caller waiting, straight to the benefits caller
    assert priya.dial_queue_result("completed", duration=300, queue_time=90).text == WRAP_UP
    assert_taking(priya.press("1"))  # resolved: told the front caller is being taken
    assert_sent_to_take(priya.silence())
    doc = priya.follow()
    assert doc.text.startswith("Benefits. Waited 6 minutes. Caller 01206 500600. ")
    assert doc.first("Queue").text == "benefits"


TAKING = "Taking the longest waiting caller now. To do something else, press its key."


def assert_taking(doc, status: str | None = None) -> None:
    """The menu while callers wait: the front caller is taken unless a key comes in 2 s."""
    gather = doc.first("Gather")
    assert gather.get("action") == "/agent/menu/choice" and gather.get("timeout") == "2"
    said = [s.text for s in gather.iter("Say")]
    assert said[-1] == TAKING and said[0].startswith("There are ")
    if status is not None:
        assert said[0] == status
    assert doc.root[-1].tag == "Redirect" and doc.root[-1].text == "/agent/menu/choice"


def assert_sent_to_take(doc) -> None:
    """Straight to the take step: no menu."""
    assert not doc.has("Gather"), doc.xml
    assert doc.verbs == ["Redirect"] and doc.root[-1].text == "/agent/take"


def test_an_advisor_becoming_available_while_callers_wait_takes_the_front_caller_unasked(
        make_caller, redis_client, staff, traveller):
    sam = sign_in_with_pin(make_caller, staff.sam, SAM_PIN)
    sam.press("3")  # on a break: on duty, so callers queue, but not offered them
    tax = queue_up(make_caller, MOBILE, "council_tax")  # waits longest
    traveller.shift(30)
    queue_up(make_caller, LANDLINE, "council_tax")
    traveller.shift(30)

    priya = line(make_caller)  # signing in
    assert priya.post("/agent/incoming").text == ENTER_PIN_KNOWN
    doc = priya.press(PRIYA_PIN)
    assert doc.text.startswith(HELLO.format("Priya"))
    assert_taking(doc, "There are 2 callers waiting in your queues. The longest has waited 1 "
                       "minute.")
    assert_sent_to_take(priya.silence())  # no key in the window: no need to press 1
    doc = priya.follow()
    assert doc.text.startswith("Council Tax. Waited 1 minute. Caller 07911 123456. ")
    assert doc.first("Queue").text == "council-tax"
    assert state(redis_client, staff.priya) is State.ON_CALL
    assert tax.queue_url(doc.first("Queue").get("url"), queue_time=60,
                         dequeuing_sid=priya.sid).text.startswith("You're through to Priya")

    doc = sam.press("3")  # back from the break, the other caller still waiting
    assert doc.text.startswith("Welcome back. You're available.")
    assert_taking(doc)
    assert_sent_to_take(sam.silence())
    assert sam.follow().text.startswith("Council Tax. Waited 30 seconds. Caller 01206 500600.")
    assert state(redis_client, staff.sam) is State.ON_CALL


def test_an_advisor_can_still_take_a_break_or_sign_out_while_callers_wait(
        make_caller, redis_client, staff):
    sign_in_with_pin(make_caller, staff.sam, SAM_PIN).press("3")
    queue_up(make_caller, LANDLINE, "council_tax")
    priya = sign_in(make_caller)
    assert_taking(priya.doc)
    doc = priya.press("3")  # within the window: a break instead
    assert state(redis_client, staff.priya) is State.ON_BREAK
    assert doc.first("Gather").get("timeout") != "2"
    assert priya.press("9").verbs[-1] == "Hangup"
    assert state(redis_client, staff.priya) is State.SIGNED_OUT


def test_an_advisor_offered_a_caller_waits_in_the_menu_for_the_offer(make_caller, redis_client,
                                                                     staff):
    priya = sign_in(make_caller)  # idle: the caller joining claims her (the job not yet run)
    queue_up(make_caller, LANDLINE, "council_tax")
    assert agent(redis_client, staff.priya).offer
    doc = priya.silence()  # the offer's redirect would land on a take: the menu waits for it
    assert_menu(doc, status="There are 1 callers waiting in your queues. The longest has "
                            "waited 0 seconds.")
    assert doc.verbs[0] == "Pause" and not doc.has("Dial")


def test_with_nobody_waiting_an_available_advisor_hears_the_menu(make_caller, redis_client,
                                                                 staff):
    priya = sign_in(make_caller)
    assert_menu(priya.doc, status=NONE_WAITING)
    assert_menu(priya.silence(), status=NONE_WAITING)


def test_an_agent_takes_only_their_own_departments(make_caller, redis_client, staff):
    hana = sign_in(make_caller, HANA_PHONE, "Hana")
    sign_in_with_pin(make_caller, staff.sam, SAM_PIN)
    queue_up(make_caller, LANDLINE, "council_tax")
    hana.press("1")
    doc = hana.follow()
    assert doc.text == f"{NO_ONE} {MENU}"
    assert not doc.has("Dial")
    assert_menu(doc)
    assert state(redis_client, staff.hana) is State.AVAILABLE
    assert waiting(redis_client, "council_tax") != []


def test_no_one_waiting(make_caller, redis_client, staff):
    priya = sign_in(make_caller)
    priya.press("1")
    doc = priya.follow()
    assert doc.verbs == ["Say", "Gather", "Redirect"]
    assert doc.text == f"{NO_ONE} {MENU}"
    assert state(redis_client, staff.priya) is State.AVAILABLE
    assert [e["data"]["state"] for e in events(redis_client, "AGENTSTATE")] == ["available"]


def open_callback_for(make_caller, number: str) -> None:
    """A voicemail left earlier from ``number``: its callback task is still open."""
    caller = make_caller(number)
    caller.post("/voicemail/start?dept=housing")
    _, rec, status_url = caller.record()
    caller.recording_ready(status_url, rec)
    assert redis_client_open(caller, number)


def redis_client_open(caller: Caller, number: str) -> bool:
    r = caller.client.application.extensions["ivr"].redis
    return bool(r.exists(OPEN_BY_NUMBER.format(number=number)))


@pytest.mark.parametrize(
    ("number", "history", "said"),
    [
        (MOBILE, "open", "Caller 07911 123456. This number has an open callback."),
        (MOBILE, [1, 6.9], "Caller 07911 123456. This number called 2 times in the last 7 days."),
        (MOBILE, [], "Caller 07911 123456. No other calls from this number recently."),
        (MOBILE, [7.1], "Caller 07911 123456. No other calls from this number recently."),
        (LANDLINE, [0.5],
         "Caller 01206 500600. This number called once before in the last 7 days."),
        ("anonymous", [], "Caller number withheld. No other calls from this number recently."),
    ],
)
def test_the_whisper_says_the_number_and_its_history(make_caller, redis_client, staff,
                                                     traveller, number, history, said):
    priya = sign_in(make_caller)
    if history == "open":
        early_calls(make_caller, traveller, number, [1])  # an open callback says more
        open_callback_for(make_caller, number)
    else:
        early_calls(make_caller, traveller, number, history)
    queue_up(make_caller, number, "benefits")
    traveller.shift(45)
    priya.press("1")
    doc = priya.follow()
    assert doc.text == f"Benefits. Waited 45 seconds. {said}"


def test_two_advisors_taking_at_once_each_hear_their_own_caller(make_caller, redis_client,
                                                               staff, traveller):
    """<Dial><Queue> bridges whoever is at the front when the Dial reaches Twilio: a second
    advisor taking from the same queue waits until the first one's caller is dequeued, so the
    whisper never gives one caller's number and history to the advisor talking to another."""
    priya = sign_in(make_caller)
    sam = sign_in_with_pin(make_caller, staff.sam, SAM_PIN)
    first = queue_up(make_caller, LANDLINE, "council_tax")
    traveller.shift(5)
    second = queue_up(make_caller, MOBILE_2, "council_tax")
    traveller.shift(20)
    priya.press("1")
    sam.press("1")
    to_priya, to_sam = priya.follow(), sam.follow()
    assert to_priya.verbs == ["Say", "Dial"]
    assert "01206 500600" in to_priya.text  # the first caller, the one her Dial will bridge
    assert to_sam.verbs == ["Pause", "Redirect"]  # nothing said about anyone yet
    assert to_sam.first("Redirect").text == "/agent/take"
    assert state(redis_client, staff.sam) is State.ON_CALL

    again = sam.follow()  # Priya's Dial has not dequeued anyone yet: still waiting
    assert again.verbs == ["Pause", "Redirect"]

    queue = to_priya.first("Queue")
    first.queue_url(queue.get("url"), queue_time=25, dequeuing_sid=priya.sid)
    doc = sam.follow()  # Priya's caller is dequeued: the second caller is at the front
    assert doc.verbs == ["Say", "Dial"]
    assert "07911 123457" in doc.text and "01206 500600" not in doc.text
    second.queue_url(doc.first("Queue").get("url"), queue_time=30, dequeuing_sid=sam.sid)
    assert [e["data"]["agent"] for e in events(redis_client, "CONNECT")] == ["1001", "1002"]
    assert [e["data"]["previous"] for e in events(redis_client, "AGENTSTATE")
            if e["data"]["agent"] == staff.sam and e["data"]["state"] == "on_call"] == [
        "available"]  # one move to on_call, however many tries


def test_a_take_that_finds_nobody_after_waiting_is_available_again(make_caller, redis_client,
                                                                   staff, traveller):
    priya = sign_in(make_caller)
    sam = sign_in_with_pin(make_caller, staff.sam, SAM_PIN)
    caller = queue_up(make_caller, LANDLINE, "council_tax")
    traveller.shift(10)
    priya.press("1")
    sam.press("1")
    to_priya = priya.follow()
    # Priya is being connected to the only caller: nobody else waits, so Sam is not kept
    # retrying every 2 s until the caller is dequeued; he is back at the menu, available.
    doc = sam.follow()
    assert doc.text.startswith(NO_ONE)
    assert state(redis_client, staff.sam) is State.AVAILABLE
    caller.queue_url(to_priya.first("Queue").get("url"), queue_time=10, dequeuing_sid=priya.sid)
    assert [e["data"]["agent"] for e in events(redis_client, "CONNECT")] == ["1001"]


def test_introduction_names_the_agent_and_their_department(make_caller, redis_client, staff,
                                                           traveller):
    sam = sign_in_with_pin(make_caller, staff.sam, SAM_PIN)
    caller = queue_up(make_caller, LANDLINE, "council_tax")
    traveller.shift(12)
    sam.press("1")
    queue = sam.follow().first("Queue")
    assert queue.get("url") == "/agent/introduce?agent=1002&dept=council_tax"
    doc = caller.queue_url(queue.get("url"), queue_time=12, dequeuing_sid=sam.sid)
    assert doc.text == "You're through to Sam in the Council Tax team."
    assert events(redis_client, "CONNECT")[0]["data"]["agent"] == "1002"


# -- after the call ----------------------------------------------------------------------------


def bridged(make_caller, redis_client, traveller, staff, dept: str = "council_tax"):
    """Priya signed in, takes a waiting caller, who hears the introduction: on a call."""
    priya = sign_in(make_caller)
    caller = queue_up(make_caller, LANDLINE, dept)
    traveller.shift(20)
    priya.press("1")
    queue = priya.follow().first("Queue")
    caller.queue_url(queue.get("url"), queue_time=20, dequeuing_sid=priya.sid)
    assert state(redis_client, staff.priya) is State.ON_CALL
    traveller.shift(240)
    return priya, caller


@pytest.mark.parametrize(("key", "resolved"), [("1", True), ("2", False)])
def test_wrap_up_after_the_call(make_caller, redis_client, staff, traveller, key, resolved):
    priya, caller = bridged(make_caller, redis_client, traveller, staff)
    doc = priya.dial_queue_result("completed", duration=240, queue_time=20)
    assert doc.text == WRAP_UP
    gather = doc.first("Gather")
    assert gather.get("action") == f"/agent/wrap-up?caller={caller.sid}"
    assert gather.get("numDigits") == "1"
    assert state(redis_client, staff.priya) is State.WRAP_UP
    [done] = events(redis_client, "COMPLETECALLER")
    assert done["data"] == {"agent": "1001", "caller": caller.sid, "duration": 240}

    doc = priya.press("5")  # not an answer: asked again
    assert doc.text == WRAP_UP
    doc = priya.silence()
    assert doc.text == WRAP_UP
    assert events(redis_client, "WRAPUP") == []
    assert state(redis_client, staff.priya) is State.WRAP_UP

    traveller.shift(15)
    doc = priya.press(key)
    [wrap] = events(redis_client, "WRAPUP")
    assert wrap["data"] == {"agent": "1001", "caller": caller.sid, "resolved": resolved}
    assert wrap["call"] == priya.sid
    assert state(redis_client, staff.priya) is State.AVAILABLE
    assert doc.text == f"Thank you. {NONE_WAITING} {MENU}"
    assert_menu(doc, status=NONE_WAITING)
    last = events(redis_client, "AGENTSTATE")[-1]["data"]
    assert (last["previous"], last["state"], last["seconds_in_previous"]) == (
        "wrap_up", "available", 15.0)


@pytest.mark.parametrize("status", ["no-answer", "failed", "canceled"])
def test_nobody_bridged_means_available_again(make_caller, redis_client, staff, traveller,
                                              status):
    priya = sign_in(make_caller)
    caller = queue_up(make_caller, LANDLINE, "council_tax")
    traveller.shift(10)
    priya.press("1")
    priya.follow()
    caller.hang_up(duration=40)  # the caller gave up before the bridge: the queue is empty
    traveller.shift(20)
    doc = priya.dial_queue_result(status)
    assert state(redis_client, staff.priya) is State.AVAILABLE
    assert doc.text == f"{NO_ONE} {MENU}"
    assert_menu(doc)
    assert events(redis_client, "COMPLETECALLER") == []
    assert events(redis_client, "WRAPUP") == []


def test_hanging_up_mid_call_is_wrap_up_then_signed_out(make_caller, redis_client, staff,
                                                        traveller, config):
    """Wrap-up time first; then, being off the line, the agent must not count as on duty."""
    priya, _ = bridged(make_caller, redis_client, traveller, staff)
    hung_up = T0 + 260
    doc = priya.status_callback("/agent/status")
    assert doc.verbs == []
    assert state(redis_client, staff.priya) is State.WRAP_UP
    [ev] = events(redis_client, "COMPLETEAGENT")
    assert ev["data"] == {"agent": "1001"}
    jobs = scheduled(redis_client)
    assert len(jobs) == 1
    [(job_id, when)] = jobs.items()
    assert when == hung_up + config.agents.wrap_up_seconds == hung_up + 60
    job = Queue("callbacks", connection=redis_client).fetch_job(job_id)
    assert (job.func_name, job.args) == (END_WRAP_UP, ("1001", hung_up))
    assert (job.retries_left, job.retry_intervals) == (END_WRAP_UP_RETRY.max,
                                                       END_WRAP_UP_RETRY.intervals)

    # the call's Dial action arrives after the hang-up: it changes nothing
    assert priya.dial_queue_result("completed", duration=240).verbs == []
    assert state(redis_client, staff.priya) is State.WRAP_UP
    assert events(redis_client, "COMPLETECALLER") == []

    assert run_jobs(redis_client, "callbacks", hung_up + 59) == 0
    assert state(redis_client, staff.priya) is State.WRAP_UP
    assert run_jobs(redis_client, "callbacks", hung_up + 60) == 1
    assert state(redis_client, staff.priya) is State.SIGNED_OUT
    last = events(redis_client, "AGENTSTATE")[-1]
    assert last["data"]["reason"] == "wrap-up time over; off the agent line"
    assert last["data"]["previous"] == "wrap_up"
    assert on_duty(redis_client, "council_tax") == set()


def test_hanging_up_at_the_wrap_up_prompt_still_ends_wrap_up(make_caller, redis_client, staff,
                                                             traveller):
    """The Dial action comes first (the caller hung up), then the agent hangs up too."""
    priya, _ = bridged(make_caller, redis_client, traveller, staff)
    assert priya.dial_queue_result("completed", duration=240).text == WRAP_UP
    assert agent(redis_client, staff.priya).state_since == T0 + 260
    traveller.shift(5)
    priya.status_callback("/agent/status")
    assert events(redis_client, "COMPLETEAGENT") == []  # the caller ended this call
    assert list(scheduled(redis_client).values()) == [T0 + 265 + 60]
    run_jobs(redis_client, "callbacks", T0 + 265 + 60)
    assert state(redis_client, staff.priya) is State.SIGNED_OUT  # off the line by then


@pytest.mark.parametrize("next_step", ["break", "take"])
def test_wrap_up_job_leaves_an_agent_who_moved_on(make_caller, redis_client, staff, traveller,
                                                  next_step):
    priya, _ = bridged(make_caller, redis_client, traveller, staff)
    priya.status_callback("/agent/status")
    traveller.shift(20)
    again = sign_in(make_caller)  # rings back in at once
    if next_step == "break":
        again.press("3")
        expected = State.ON_BREAK
    else:
        queue_up(make_caller, MOBILE, "benefits")
        again.press("1")
        again.follow()
        expected = State.ON_CALL
    before = len(events(redis_client, "AGENTSTATE"))
    assert run_jobs(redis_client, "callbacks", T0 + 260 + 60) == 1
    assert state(redis_client, staff.priya) is expected
    assert len(events(redis_client, "AGENTSTATE")) == before


@pytest.mark.parametrize("status", ["available", "break"])
def test_leaving_the_line_between_calls_signs_the_agent_out(make_caller, redis_client, staff,
                                                            status):
    """Off the line an agent can't take queued calls, so they must not count as on duty."""
    priya = sign_in(make_caller)
    if status == "break":
        priya.press("3")
    assert priya.status_callback("/agent/status").verbs == []
    assert state(redis_client, staff.priya) is State.SIGNED_OUT
    assert scheduled(redis_client) == {}
    assert not redis_client.scard("{ivr}:dept:council_tax:signed_in")


def test_ringing_status_is_not_a_hang_up(make_caller, redis_client, staff, traveller):
    priya, _ = bridged(make_caller, redis_client, traveller, staff)
    priya.status_callback("/agent/status", status="in-progress")
    assert state(redis_client, staff.priya) is State.ON_CALL
    assert scheduled(redis_client) == {}


# -- callbacks by phone ------------------------------------------------------------------------

MONDAY = "2026-11-30 10:00:00+00:00"
TUESDAY = "2026-12-01 11:00:00+00:00"
WEDNESDAY = "2026-12-02 10:00:00+00:00"


def leave_voicemail(make_caller, traveller, when: str, number: str, dept: str,
                    keyed: str = "") -> str:
    """A resident leaves a voicemail at ``when``; returns the callback task's id.

    ``keyed``: the number a caller keys when asked (Relay UK callers are always asked)."""
    traveller.move_to(when)
    caller = make_caller(number)
    doc = caller.post(f"/voicemail/start?dept={dept}")
    if keyed:
        caller.press(keyed)
        doc = caller.press("1")
        national = keyed.removeprefix("18001").removeprefix("18002")  # Relay UK prefixes
        number = "+44" + national[1:]
    assert doc.has("Record"), doc.xml
    _, rec, status_url = caller.record()
    caller.recording_ready(status_url, rec)
    r = caller.client.application.extensions["ivr"].redis
    return r.get(OPEN_BY_NUMBER.format(number=number)).decode()


def release(redis_client, when: str) -> None:
    """The callbacks worker releases due tasks to the worklist at the opening time."""
    run_jobs(redis_client, "callbacks", at(when))


@pytest.fixture
def two_tasks(make_caller, redis_client, traveller):
    """An overdue callback (left Monday, due Tuesday) and one due today (left Tuesday)."""
    overdue = leave_voicemail(make_caller, traveller, MONDAY, MOBILE, "council_tax")
    today = leave_voicemail(make_caller, traveller, TUESDAY, LANDLINE, "benefits")
    release(redis_client, "2026-12-02 09:00:00+00:00")
    traveller.move_to(WEDNESDAY)
    assert [x.decode() for x in redis_client.zrange(WORKLIST, 0, -1)] == [overdue, today]
    return SimpleNamespace(overdue=overdue, today=today)


def next_callback(agent_call: Caller):
    agent_call.press("2")
    return agent_call.follow()


SKIP_NOT_SAVED = ("Sorry, your skip could not be saved. This callback stays reserved for you "
                  "for up to 10 minutes, then goes back on the list.")


def test_a_skip_redis_did_not_take_is_told_to_the_agent(make_caller, redis_client, staff,
                                                       two_tasks, monkeypatch):
    priya = sign_in(make_caller)
    next_callback(priya)
    execute = redis.client.Pipeline.execute
    sent: list[int] = []

    def fail_the_batch(pipe, *args, **kwargs):  # round trip 1 answers, the batch (2) fails
        sent.append(1)
        if len(sent) == 2:
            pipe.reset()
            raise redis.ConnectionError("gone")
        return execute(pipe, *args, **kwargs)

    monkeypatch.setattr(redis.client.Pipeline, "execute", fail_the_batch)
    doc = priya.press("2")
    monkeypatch.undo()
    assert doc.verbs == ["Say", "Redirect"] and doc.text == SKIP_NOT_SAVED
    assert doc.first("Redirect").text == "/agent/menu"
    # nothing changed: the claim still holds it for her (it lapses in 10 minutes), not skipped
    assert redis_client.get(callbacks.CLAIM.format(id=two_tasks.overdue)) == staff.priya.encode()
    assert not redis_client.exists(callbacks.SKIPPED.format(agent=staff.priya))
    assert_menu(priya.follow(), status="No callers are waiting in your queues.")


def test_a_skip_while_redis_is_down_is_told_then_the_line_ends_safely(make_caller, down_app,
                                                                      staff, two_tasks):
    priya = sign_in(make_caller)
    next_callback(priya)
    task_url = priya.doc.first("Gather").get("action")
    down = Caller(down_app.test_client(), from_=PRIYA_PHONE, to=LINE, call_sid=priya.sid)
    doc = down.post(task_url, Digits="2")
    assert doc.verbs == ["Say", "Redirect"] and doc.text == SKIP_NOT_SAVED
    doc = down.follow()  # the menu needs Redis too: its rescue apologises and ends the call
    assert doc.verbs == ["Say", "Hangup"] and doc.text == APOLOGY
    doc = down.post(task_url, Digits="1")  # any other key: the agent line's usual rescue
    assert doc.text == APOLOGY and doc.first("Redirect").text == "/agent/menu"


def test_callbacks_oldest_due_first_with_who_when_where_and_the_message(
        make_caller, redis_client, staff, two_tasks):
    priya = sign_in(make_caller)
    doc = next_callback(priya)
    task = load_task(redis_client, two_tasks.overdue)
    [rec] = json.loads(task["recordings"])
    assert doc.verbs == ["Say", "Say", "Play", "Gather", "Redirect"]
    assert doc.text == ("Callback for Council Tax. Message left Monday 30 November at 10am, to "
                        f"call back on 07911 123456. Here is the message. {CHOICE}")
    assert doc.first("Play").text == rec["url"] + ".mp3"
    assert rec["url"].startswith("https://api.twilio.com/2010-04-01/Accounts/")
    gather = doc.first("Gather")
    assert gather.get("action") == f"/agent/callback/choice?task={two_tasks.overdue}"
    assert redis_client.get(callbacks.CLAIM.format(id=two_tasks.overdue)) == b"1001"

    doc = priya.press("2")  # skip: back to the menu, the task free for others
    assert_menu(doc)
    assert not redis_client.exists(callbacks.CLAIM.format(id=two_tasks.overdue))
    assert load_task(redis_client, two_tasks.overdue)["status"] == "open"
    assert callbacks.attempts(redis_client, two_tasks.overdue) == []

    doc = next_callback(priya)  # the next one, not the skipped one again
    assert doc.text.startswith("Callback for Benefits. Message left Tuesday 1 December at 11am, to "
                               "call back on 01206 500600.")


def test_callbacks_only_for_the_agents_departments(make_caller, redis_client, staff,
                                                   two_tasks):
    hana = sign_in(make_caller, HANA_PHONE, "Hana")
    doc = next_callback(hana)
    assert doc.text == f"{NO_CALLBACKS} {MENU}"
    assert_menu(doc)
    sam = sign_in_with_pin(make_caller, staff.sam, SAM_PIN)
    assert next_callback(sam).text.startswith("Callback for Council Tax.")
    assert next_callback(sign_in(make_caller)).text.startswith("Callback for Benefits.")


def test_scheduled_callbacks_are_not_offered_before_their_day(make_caller, redis_client, staff,
                                                              traveller):
    leave_voicemail(make_caller, traveller, OPEN, MOBILE, "council_tax")  # due tomorrow
    traveller.move_to(T0 + 60)
    priya = sign_in(make_caller)
    assert next_callback(priya).text == f"{NO_CALLBACKS} {MENU}"


def test_two_agents_never_get_the_same_callback(make_caller, redis_client, staff, traveller):
    task_id = leave_voicemail(make_caller, traveller, MONDAY, MOBILE, "council_tax")
    release(redis_client, "2026-12-01 09:00:00+00:00")
    traveller.move_to(OPEN)
    priya = sign_in(make_caller)
    sam = sign_in_with_pin(make_caller, staff.sam, SAM_PIN)
    assert next_callback(priya).first("Gather").get("action").endswith(task_id)
    assert next_callback(sam).text == f"{NO_CALLBACKS} {MENU}"
    priya.press("2")  # Priya skips: now Sam may have it
    assert next_callback(sam).first("Gather").get("action").endswith(task_id)
    assert redis_client.get(callbacks.CLAIM.format(id=task_id)) == b"1002"


def test_a_lapsed_claim_taken_by_another_agent_is_not_dialled(make_caller, redis_client, staff,
                                                              traveller):
    task_id = leave_voicemail(make_caller, traveller, MONDAY, MOBILE, "council_tax")
    release(redis_client, "2026-12-01 09:00:00+00:00")
    traveller.move_to(OPEN)
    priya = sign_in(make_caller)
    next_callback(priya)
    traveller.shift(callbacks.CLAIM_SECONDS + 1)
    redis_client.delete(callbacks.CLAIM.format(id=task_id))  # Redis expiry, in real time
    sam = sign_in_with_pin(make_caller, staff.sam, SAM_PIN)
    assert next_callback(sam).first("Gather").get("action").endswith(task_id)
    doc = priya.press("1")  # too late: Sam has it now
    assert not doc.has("Dial")
    assert_menu(doc)
    assert redis_client.get(callbacks.CLAIM.format(id=task_id)) == b"1002"
    assert state(redis_client, staff.priya) is State.AVAILABLE


def test_an_odd_key_or_silence_asks_again_and_keeps_the_claim(make_caller, redis_client,
                                                              staff, two_tasks):
    priya = sign_in(make_caller)
    next_callback(priya)
    for doc in (priya.press("7"), priya.silence()):
        assert doc.verbs == ["Gather", "Redirect"]
        assert doc.text == CHOICE
        assert doc.first("Gather").get("action").endswith(two_tasks.overdue)
    assert redis_client.get(callbacks.CLAIM.format(id=two_tasks.overdue)) == b"1001"


def call_back(make_caller, redis_client, staff):
    """Priya hears the next callback and presses 1: the resident's phone rings."""
    priya = sign_in(make_caller)
    next_callback(priya)
    doc = priya.press("1")
    assert state(redis_client, staff.priya) is State.ON_CALL
    return priya, doc


def test_calling_back_dials_from_the_council_number_announced_and_recorded(
        make_caller, redis_client, staff, two_tasks, config):
    priya, doc = call_back(make_caller, redis_client, staff)
    assert doc.verbs == ["Dial"]
    dial = doc.first("Dial")
    assert dial.get("callerId") == COUNCIL_NUMBER == config.council.main_number
    assert dial.get("record") == "record-from-answer-dual"
    assert dial.get("recordingStatusCallback") == "http://localhost/voice/recording/advisor"
    assert dial.get("recordingStatusCallbackEvent") == "completed"  # its deletion is scheduled
    assert dial.get("action") == f"/agent/callback/result?task={two_tasks.overdue}"
    assert dial.get("timeout") == str(config.lines.transfer_timeout)
    [number] = list(dial)
    assert number.tag == "Number"
    assert number.text == MOBILE
    assert number.get("url") == f"/agent/callback/announce?task={two_tasks.overdue}"
    answered = priya.number_url(number.get("url"), to=MOBILE, caller_id=COUNCIL_NUMBER)
    assert answered.verbs == ["Say"]
    assert answered.text == ANNOUNCE
    # The console's card can say the resident answered: noted against the advisor's call.
    assert redis_client.get(callbacks.DIAL_ANSWERED.format(id=two_tasks.overdue)).decode() == (
        priya.sid)


def test_an_answered_callback_is_done(make_caller, redis_client, staff, two_tasks, traveller):
    priya, _ = call_back(make_caller, redis_client, staff)
    traveller.shift(300)
    now = at(WEDNESDAY) + 300
    doc = priya.dial_result("completed", duration=280)
    task = load_task(redis_client, two_tasks.overdue)
    assert task["status"] == "done"
    assert float(task["closed_at"]) == now
    [attempt] = callbacks.attempts(redis_client, two_tasks.overdue)
    assert (attempt["agent"], attempt["at"], attempt["outcome"]) == ("1001", now, "answered")
    assert attempt["call"].startswith("CA")
    assert not redis_client.exists(OPEN_BY_NUMBER.format(number=MOBILE))
    assert redis_client.zscore(WORKLIST, two_tasks.overdue) is None
    assert redis_client.zscore(callbacks.CLOSED, two_tasks.overdue) == now
    assert not redis_client.exists(callbacks.CLAIM.format(id=two_tasks.overdue))
    [tried] = events(redis_client, "CALLBACKATTEMPT")
    assert tried["data"] == {"agent": "1001", "attempt": 1, "outcome": "answered",
                             "task": two_tasks.overdue}
    assert tried["dept"] == "council_tax"
    [done] = events(redis_client, "CALLBACKDONE")
    assert done["data"] == {"agent": "1001", "attempts": 1, "task": two_tasks.overdue}
    assert doc.text == f"The callback is complete. {WRAP_UP}"
    assert doc.first("Gather").get("action").startswith("/agent/wrap-up?caller=CA")
    assert state(redis_client, staff.priya) is State.WRAP_UP
    priya.press("1")
    assert events(redis_client, "WRAPUP")[0]["data"]["resolved"] is True
    assert state(redis_client, staff.priya) is State.AVAILABLE

    # a repeated report of the same result changes nothing
    priya.post(f"/agent/callback/result?task={two_tasks.overdue}", DialCallStatus="completed")
    assert len(callbacks.attempts(redis_client, two_tasks.overdue)) == 1
    assert len(events(redis_client, "CALLBACKDONE")) == 1
    assert len(events(redis_client, "CALLBACKATTEMPT")) == 1


def test_a_relay_callers_callback_is_dialled_through_the_relay(make_caller, redis_client, staff,
                                                               traveller, config):
    task_id = leave_voicemail(make_caller, traveller, MONDAY, RELAY, "council_tax",
                              keyed="01206765432")
    task = load_task(redis_client, task_id)
    assert (task["relay"], task["number"]) == ("1", "+441206765432")  # their own number
    release(redis_client, "2026-12-01 09:00:00+00:00")
    traveller.move_to(OPEN)
    _, doc = call_back(make_caller, redis_client, staff)
    assert config.relay.callback_prefix == "18002"
    assert doc.first("Number").text == "18002" + "01206765432"  # prefix + national number


@pytest.mark.parametrize("keyed", ["1800101206765432", "1800201206765432"])
def test_a_number_keyed_after_a_relay_prefix_is_called_back_through_the_relay(
        make_caller, redis_client, staff, traveller, config, keyed):
    """A withheld caller who keys 18001/18002 first is a text relay user: the prefix is
    neither dropped nor refused; the task is a relay callback, dialled with the prefix."""
    task_id = leave_voicemail(make_caller, traveller, MONDAY, "anonymous", "council_tax",
                              keyed=keyed)
    task = load_task(redis_client, task_id)
    assert (task["relay"], task["number"]) == ("1", "+441206765432")
    release(redis_client, "2026-12-01 09:00:00+00:00")
    traveller.move_to(OPEN)
    _, doc = call_back(make_caller, redis_client, staff)
    assert doc.first("Number").text == config.relay.callback_prefix + "01206765432"


@pytest.mark.parametrize("status", ["busy", "no-answer", "failed"])
def test_an_unanswered_callback_stays_open_for_later(make_caller, redis_client, staff,
                                                     two_tasks, traveller, status):
    priya, _ = call_back(make_caller, redis_client, staff)
    traveller.shift(40)
    now = at(WEDNESDAY) + 40
    doc = priya.dial_result(status)
    task = load_task(redis_client, two_tasks.overdue)
    assert task["status"] == "open"
    assert float(task["next_attempt_at"]) == now + 3600
    [attempt] = callbacks.attempts(redis_client, two_tasks.overdue)
    assert (attempt["agent"], attempt["at"], attempt["outcome"]) == ("1001", now, status)
    assert redis_client.exists(OPEN_BY_NUMBER.format(number=MOBILE))
    assert events(redis_client, "CALLBACKATTEMPT")[0]["data"]["outcome"] == status
    assert events(redis_client, "CALLBACKDONE") == []
    assert doc.text == (f"The call wasn't answered. Attempt 1 of 3; it stays on the list. "
                        f"{NONE_WAITING} {MENU}")
    assert state(redis_client, staff.priya) is State.AVAILABLE
    assert not redis_client.exists(callbacks.CLAIM.format(id=two_tasks.overdue))

    # not offered again before the gap: the other task comes first meanwhile
    assert next_callback(priya).text.startswith("Callback for Benefits.")
    priya.press("2")
    sam = sign_in_with_pin(make_caller, staff.sam, SAM_PIN)
    traveller.move_to(now + 3599)
    assert next_callback(sam).text == f"{NO_CALLBACKS} {MENU}"
    traveller.move_to(now + 3600)
    assert next_callback(sam).text.startswith("Callback for Council Tax.")


def test_after_three_attempts_a_mobile_is_unreachable_and_texted(
        make_caller, redis_client, staff, two_tasks, traveller, twilio, config):
    sms = Queue(config.callbacks.sms_rq_queue, connection=redis_client)
    priya = sign_in(make_caller)
    for attempt in (1, 2, 3):
        next_callback(priya)
        priya.press("1")
        doc = priya.dial_result("no-answer")
        if attempt < 3:
            assert f"Attempt {attempt} of 3" in doc.text
            assert sms.count == 0
            traveller.shift(3600)
    task = load_task(redis_client, two_tasks.overdue)
    assert task["status"] == "unreachable"
    assert [a["outcome"] for a in callbacks.attempts(redis_client, two_tasks.overdue)] == [
        "no-answer"] * 3
    assert doc.text.startswith("That was the last attempt. The callback is closed as "
                               "unreachable.")
    assert_menu(doc)
    [gone] = events(redis_client, "CALLBACKUNREACHABLE")
    assert gone["data"] == {"attempts": 3, "task": two_tasks.overdue}
    assert events(redis_client, "CALLBACKDONE") == []
    assert not redis_client.exists(OPEN_BY_NUMBER.format(number=MOBILE))
    assert redis_client.zscore(WORKLIST, two_tasks.overdue) is None

    assert sms.name == "messages" and sms.count == 1
    assert twilio.messages == []  # sent by the worker, never inside the webhook
    assert sms.jobs[0].func_name == "ivr.messaging.send_sms"
    assert sms.jobs[0].retries_left == messaging.RETRY.max
    with time_machine.travel(at(WEDNESDAY) + 7300, tick=True):
        Worker([sms], connection=redis_client).work(burst=True)
    [text] = twilio.messages
    assert text["to"] == MOBILE
    assert text["from"] == config.council.sms_from
    assert text["body"] == (
        "Colchester Borough Council tried to return your call 3 times but couldn't reach you. "
        "Most of our services are online 24 hours a day at "
        "https://www.colchester.gov.uk/counciltax, or call us on 01206 282222.")

    # the closed task is never offered again; the benefits one is next
    assert next_callback(priya).text.startswith("Callback for Benefits.")


def test_an_unreachable_landline_gets_no_text(make_caller, redis_client, staff, traveller,
                                              twilio, config):
    task_id = leave_voicemail(make_caller, traveller, MONDAY, LANDLINE, "benefits")
    release(redis_client, "2026-12-01 09:00:00+00:00")
    traveller.move_to(OPEN)
    priya = sign_in(make_caller)
    for _ in range(3):
        next_callback(priya)
        priya.press("1")
        priya.dial_result("busy")
        traveller.shift(3600)
    assert load_task(redis_client, task_id)["status"] == "unreachable"
    assert len(events(redis_client, "CALLBACKUNREACHABLE")) == 1
    assert Queue(config.callbacks.sms_rq_queue, connection=redis_client).count == 0


def test_agent_hanging_up_during_a_callback(make_caller, redis_client, staff, two_tasks,
                                            traveller):
    """The status callback overtakes the Dial action: the attempt is still logged."""
    priya, _ = call_back(make_caller, redis_client, staff)
    traveller.shift(120)
    priya.status_callback("/agent/status")
    assert state(redis_client, staff.priya) is State.WRAP_UP
    doc = priya.dial_result("completed", duration=100)
    assert doc.verbs == []
    assert load_task(redis_client, two_tasks.overdue)["status"] == "done"
    assert len(events(redis_client, "CALLBACKDONE")) == 1
    assert state(redis_client, staff.priya) is State.WRAP_UP
    run_jobs(redis_client, "callbacks", at(WEDNESDAY) + 180)
    assert state(redis_client, staff.priya) is State.SIGNED_OUT  # off the line after wrap-up


# -- fail-safe ---------------------------------------------------------------------------------


def boom(*args, **kwargs):
    raise RuntimeError("handler bug")


def test_a_failing_agent_step_apologises_and_returns_to_the_menu(make_caller, redis_client,
                                                                 staff, monkeypatch):
    priya = sign_in(make_caller)
    queue_up(make_caller, LANDLINE, "council_tax")
    monkeypatch.setattr(agent_calls, "whisper", boom)
    priya.press("1")
    doc = priya.follow()
    assert doc.verbs == ["Say", "Redirect"]
    assert doc.text == APOLOGY
    assert doc.first("Redirect").text == "/agent/menu"
    [ev] = events(redis_client, "FAILSAFE")
    assert ev["data"] == {"endpoint": "agent_calls.take_next", "error": "RuntimeError"}
    monkeypatch.undo()
    doc = priya.follow()  # the menu works again
    assert_menu(doc)
    assert doc.text.startswith("There are 1 callers waiting in your queues.")


def test_a_failing_agent_line_answer_hangs_up_rather_than_loop(make_caller, staff,
                                                                monkeypatch):
    monkeypatch.setattr(agent_line, "add_pin_prompt", boom)
    doc = line(make_caller).post("/agent/incoming")
    assert doc.verbs == ["Say", "Hangup"]
    assert doc.text == APOLOGY


def test_a_failing_sign_in_starts_again_at_the_pin(make_caller, redis_client, staff,
                                                   monkeypatch):
    """An apology, then the menu finds nobody signed in and starts again: a prompt waiting
    for the advisor, not a loop."""
    monkeypatch.setattr(agent_line, "sign_in", boom)
    call = line(make_caller)
    call.post("/agent/incoming")
    doc = call.press(PRIYA_PIN)
    assert doc.verbs == ["Say", "Redirect"] and doc.text == APOLOGY
    assert call.follow().first("Redirect").text == "/agent/incoming"
    assert call.follow().text == ENTER_PIN_KNOWN
    assert state(redis_client, staff.priya) is State.SIGNED_OUT


def test_a_failing_introduction_still_lets_the_bridge_happen(make_caller, redis_client, staff,
                                                             traveller, monkeypatch):
    priya = sign_in(make_caller)
    caller = queue_up(make_caller, LANDLINE, "council_tax")
    priya.press("1")
    url = priya.follow().first("Queue").get("url")
    monkeypatch.setattr(agent_calls.store, "note_answer", boom)
    doc = caller.queue_url(url, queue_time=5, dequeuing_sid=priya.sid)
    assert doc.verbs == []  # an empty document: Twilio bridges at once


def test_a_failing_announcement_still_lets_the_bridge_happen(make_caller, redis_client, staff,
                                                             two_tasks, monkeypatch):
    priya, doc = call_back(make_caller, redis_client, staff)
    url = doc.first("Number").get("url")

    class Broken:
        begin = staticmethod(boom)

    monkeypatch.setattr(agent_callbacks, "Turn", Broken)
    assert priya.number_url(url, to=MOBILE, caller_id=COUNCIL_NUMBER).verbs == []


def test_a_failing_agent_status_callback_answers_empty(make_caller, staff, monkeypatch):
    priya = sign_in(make_caller)
    monkeypatch.setattr(agent_calls, "agent_hung_up", boom)
    assert priya.status_callback("/agent/status").verbs == []


def test_time_is_told_in_the_councils_zone(make_caller, redis_client, staff, traveller):
    """A summer voicemail: the local (BST) hour, not UTC."""
    task_id = leave_voicemail(make_caller, traveller, "2026-06-01 08:30:00+00:00", MOBILE,
                              "council_tax")
    release(redis_client, "2026-06-02 08:00:00+00:00")
    traveller.move_to(datetime(2026, 6, 2, 9, 0, tzinfo=UTC))
    doc = next_callback(sign_in(make_caller))
    assert doc.first("Gather").get("action").endswith(task_id)
    assert doc.text.startswith("Callback for Council Tax. Message left Monday 1 June at 9:30am,")


def test_a_repeated_take_on_the_same_line_goes_ahead(make_caller, redis_client, staff,
                                                     traveller):
    """Twilio re-requesting the take (or the same line taking again) is not a second advisor."""
    priya = sign_in(make_caller)
    queue_up(make_caller, LANDLINE, "council_tax")
    traveller.shift(10)
    priya.press("1")
    assert priya.follow().verbs == ["Say", "Dial"]
    assert priya.post("/agent/take").verbs == ["Say", "Dial"]
