"""The push: a caller joining a queue is offered at once to an idle advisor (``ivr.agents.offer``).

The claims are checked against Redis directly (two callers, one advisor; one caller, two
advisors; advisors who left or serve other departments), and the whole offer end to end in
virtual time: the caller's enqueue claims the advisor, the RQ job redirects the advisor's
agent-line call with the REST API (served by the stand-in), the advisor takes the caller.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
import time_machine
from jobs import Worker
from rq import Queue
from twilio.http.response import Response

from ivr import agents, events, store
from ivr.agents import State, offer
from ivr.agents import context as agent_context
from ivr.agents.jobs import OFFER_CALLER
from ivr.sim.scenario import Agent, Caller, steps
from ivr.sim.world import in_process

OPEN = datetime(2026, 12, 1, 10, 0, tzinfo=UTC).timestamp()  # Tuesday 10:00
AGENT_PHONE = "+447700900123"
PIN = "246813"  # Sam's agent line PIN (asked even on his own phone)


def idle_agent(redis_client, name: str, departments: list[str], line: str) -> agents.Agent:
    agent = agents.add(redis_client, name=name, departments=departments, phone="",
                       role=agents.Role.AGENT, now=OPEN)
    agent = agents.set_state(redis_client, agent, State.AVAILABLE, OPEN)
    pipe = redis_client.pipeline()
    offer.mark_idle(pipe, agent.id, line, OPEN)
    pipe.execute()
    return agent


def claim(redis_client, dept: str, caller: str):
    pipe = redis_client.pipeline()
    offer.claim(pipe, dept, caller)
    (result,) = pipe.execute()
    return [x.decode() for x in result] if result else None


def test_two_callers_and_one_idle_advisor_make_one_claim(redis_client):
    sam = idle_agent(redis_client, "Sam Patel", ["council_tax"], "CAline1")
    assert claim(redis_client, "council_tax", "CAcaller1") == [sam.id, "CAline1"]
    assert claim(redis_client, "council_tax", "CAcaller2") is None
    assert offer.idle_agents(redis_client) == []
    held = agents.get(redis_client, sam.id)
    redis_now = float("{}.{:06d}".format(*redis_client.time()))
    assert held.offer == "CAcaller1" and abs(held.offer_at - redis_now) < 5  # Redis's clock
    # while the offer stands, the menu does not make the advisor offerable again
    pipe = redis_client.pipeline()
    offer.mark_idle(pipe, sam.id, "CAline1", OPEN + 2)
    assert pipe.execute() == [0] and offer.idle_agents(redis_client) == []


def test_one_caller_claims_one_advisor_the_longest_idle(redis_client):
    first = idle_agent(redis_client, "Ann Lee", [], "CAline1")  # no departments: all of them
    idle_agent(redis_client, "Bo Chan", ["council_tax"], "CAline2")
    assert claim(redis_client, "council_tax", "CAcaller1")[0] == first.id
    assert claim(redis_client, "council_tax", "CAcaller1") is None  # once per caller
    assert len(offer.idle_agents(redis_client)) == 1


def test_advisors_who_left_the_line_or_serve_elsewhere_are_not_claimed(redis_client):
    gone = idle_agent(redis_client, "Ann Lee", ["council_tax"], "CAline1")
    agents.end_line(redis_client, "CAline1")  # hung up; the status callback is on its way
    out = idle_agent(redis_client, "Bo Chan", ["council_tax"], "CAline2")
    agents.set_state(redis_client, out, State.SIGNED_OUT, OPEN)
    benefits = idle_agent(redis_client, "Cy Day", ["benefits"], "CAline3")
    assert claim(redis_client, "council_tax", "CAcaller1") is None
    assert offer.idle_agents(redis_client) == [benefits.id]  # the stale entries are gone
    assert agents.get(redis_client, gone.id).offer == ""


def test_a_key_press_withdraws_an_offer_not_yet_sent_but_waits_for_one_sent(redis_client,
                                                                             monkeypatch):
    sam = idle_agent(redis_client, "Sam Patel", ["council_tax"], "CAline1")
    claim(redis_client, "council_tax", "CAcaller1")
    assert offer.leave_idle(redis_client, sam.id) is True  # withdrawn
    assert not offer.still_offered(redis_client, sam.id, "CAcaller1", "CAline1")
    pipe = redis_client.pipeline()
    offer.mark_idle(pipe, sam.id, "CAline1", OPEN + 3)
    pipe.execute()
    claim(redis_client, "council_tax", "CAcaller2")
    assert offer.still_offered(redis_client, sam.id, "CAcaller2", "CAline1")
    assert offer.leave_idle(redis_client, sam.id) is False  # the redirect comes
    monkeypatch.setattr(offer, "OFFER_TTL", 0.2)  # Redis's clock must really pass it
    time.sleep(0.3)
    assert offer.leave_idle(redis_client, sam.id) is True  # lost


def run_offer_job(redis_client, sam_id: str, caller: str, skew: float) -> str:
    """The offer job, run by a worker whose clock is ``skew`` seconds off the web's."""
    queue = Queue("messages", connection=redis_client)
    job = queue.enqueue(OFFER_CALLER, sam_id, "CAline1", caller,
                        f"http://localhost/agent/take?offer={caller}")
    with time_machine.travel(time.time() + skew, tick=True):
        Worker([queue], connection=redis_client).work(burst=True)
    return job.latest_result().return_value


def serve_line_updates(twilio, monkeypatch) -> None:
    """The stand-in, without a simulated world, knows no live call: answer the redirect of
    the advisor's line as Twilio would."""
    served = twilio.request

    def request(method, url, *args, **kwargs):
        answer = served(method, url, *args, **kwargs)
        if method == "POST" and url.endswith("/Calls/CAline1.json"):
            return Response(200, json.dumps({"sid": "CAline1", "status": "in-progress"}))
        return answer

    monkeypatch.setattr(twilio, "request", request)


@pytest.mark.parametrize("skew", [-60, 60])
def test_a_worker_with_a_skewed_clock_sends_a_fresh_offer(redis_client, twilio, monkeypatch,
                                                          skew):
    serve_line_updates(twilio, monkeypatch)
    sam = idle_agent(redis_client, "Sam Patel", ["council_tax"], "CAline1")
    claim(redis_client, "council_tax", "CAcaller1")  # stamped now, by Redis's clock
    assert run_offer_job(redis_client, sam.id, "CAcaller1", skew) == "offered"
    assert len(offers(twilio, "CAline1")) == 1
    assert agents.get(redis_client, sam.id).offer == "CAcaller1"  # sent: key presses wait


@pytest.mark.parametrize("skew", [-60, 60])
def test_a_worker_with_a_skewed_clock_drops_an_expired_offer(redis_client, twilio, monkeypatch,
                                                             skew):
    serve_line_updates(twilio, monkeypatch)
    monkeypatch.setattr(offer, "OFFER_TTL", 0.2)  # Redis's TIME does not travel: really wait
    sam = idle_agent(redis_client, "Sam Patel", ["council_tax"], "CAline1")
    claim(redis_client, "council_tax", "CAcaller1")
    time.sleep(0.3)
    assert run_offer_job(redis_client, sam.id, "CAcaller1", skew) == "released"
    assert offers(twilio, "CAline1") == []
    assert agents.get(redis_client, sam.id).offer == ""
    assert redis_client.hget("ivr:call:CAcaller1", "offered_to") is None  # may be offered again


@pytest.fixture
def sam(redis_client):
    agent = agents.add(redis_client, name="Sam Patel", departments=["council_tax"],
                       phone=AGENT_PHONE, role=agents.Role.AGENT, now=OPEN)
    agents.set_secret(redis_client, agent.id, "pin_hash", PIN)
    return agent


def connect_wait(redis_client, call_sid: str) -> int:
    (wait,) = [e["data"]["wait"] for e in events.read_all(redis_client)
               if e["event"] == "CONNECT" and e["call"] == call_sid]
    return wait


def offers(twilio, line_sid: str) -> list[tuple[str, str, dict]]:
    return [r for r in twilio.requests
            if r[0] == "POST" and r[1].endswith(f"/Calls/{line_sid}.json")]


def pressed_before_the_bridge(line) -> bool:
    """Did the advisor press a menu key before being bridged (their PIN aside)?"""
    bridged = next(n.at for n in line.notices if n.kind == "bridge")
    return any(n.kind == "press" and n.at < bridged and n.text != PIN + "#"
               for n in line.notices)


def test_a_caller_joining_while_an_advisor_is_idle_is_offered_at_once(make_app, twilio,
                                                                      redis_client, sam):
    world = in_process(make_app(staffed=False), start=OPEN, rest=twilio)
    line = world.agent(Agent(pin=PIN, calls=1), phone=AGENT_PHONE)  # idle: no one waits
    caller = world.call(Caller(steps("2 -"), talk_seconds=30), at=OPEN + 60)
    world.run()
    (update,) = offers(twilio, line.sid)  # the advisor's live call, redirected by the job
    assert update[2]["Url"] == f"http://localhost/agent/take?offer={caller.sid}"
    assert update[2]["Method"] == "POST"
    # No wait at all: claimed when the caller chose the department, Sam heard the whisper
    # and was at the queue while the caller heard what is online (not the ~26 s of a menu
    # cycle, nor the whisper's seconds after the caller's <Enqueue>).
    assert connect_wait(redis_client, caller.sid) == 0
    assert not pressed_before_the_bridge(line)  # pushed, not found from the menu
    assert "You're through to Sam in the Council Tax team." in caller.said
    # A free advisor: no "press 1 for a text, or hold" to keep the caller from them.
    assert not any("text message with the link" in said for said in caller.said)
    assert [e["data"]["sms_offered"] for e in events.read_all(redis_client)
            if e["event"] == "ONLINE"] == [False]


def test_a_failed_offer_is_released_and_the_caller_is_answered_from_the_menu(make_app, twilio,
                                                                             redis_client,
                                                                             sam):
    world = in_process(make_app(staffed=False), start=OPEN, rest=twilio)
    line = world.agent(Agent(pin=PIN, calls=1), phone=AGENT_PHONE)
    caller = world.call(Caller(steps("2 -"), talk_seconds=30), at=OPEN + 60)
    twilio.fail_next = 1  # the offer's calls.update gets a 503
    world.run()
    assert len(offers(twilio, line.sid)) == 1
    assert 3 < connect_wait(redis_client, caller.sid) <= 40  # found by the menu's refresh,
    assert not pressed_before_the_bridge(line)  # whose silence takes the caller: no key
    assert redis_client.hget(agents.AGENT.format(id=sam.id), "offer") is None
    assert "You're through to Sam in the Council Tax team." in caller.said


def test_an_advisor_who_left_the_line_is_not_offered_the_caller(make_app, twilio, redis_client,
                                                                sam):
    world = in_process(make_app(staffed=False), start=OPEN, rest=twilio)
    line = world.agent(Agent(pin=PIN, until=OPEN + 20), phone=AGENT_PHONE)  # out at 10:00:20
    caller = world.call(Caller(steps("2 -"), patience=30), at=OPEN + 60)
    world.run()
    assert not offers(twilio, line.sid)
    assert "NOAGENTS" in [e["event"] for e in events.read_all(redis_client)
                          if e["call"] == caller.sid]


@pytest.mark.parametrize(("state", "pending", "fronts", "take"), [
    (State.AVAILABLE, False, {"council_tax": OPEN, "benefits": None}, True),
    (State.AVAILABLE, False, {"council_tax": None, "benefits": None}, False),
    (State.AVAILABLE, False, {}, False),
    (State.AVAILABLE, True, {"council_tax": OPEN}, False),  # the offer's redirect is coming
    (State.ON_BREAK, False, {"council_tax": OPEN}, False),
    (State.WRAP_UP, False, {"council_tax": OPEN}, False),
    (State.ON_CALL, False, {"council_tax": OPEN}, False),
])
def test_an_advisor_at_the_menu_takes_at_once_only_when_available_and_callers_wait(
        state, pending, fronts, take):
    assert offer.take_at_menu(state, pending, fronts) is take


def test_a_caller_another_agent_is_being_connected_to_is_not_shown_as_waiting(redis_client):
    """While agent A hears the whisper and waits at the queue for the caller A was pushed,
    agent B's menu must not send B to that caller too (B would find the queue held and try
    again every 2 s until the caller is dequeued): B sees nobody, and stays idle for the push.
    A second caller behind them is shown, as before."""
    bo = idle_agent(redis_client, "Bo Chan", ["council_tax"], "CAlineB")
    redis_client.zadd(store.queue_key("council_tax"), {"CAcaller1": OPEN})
    pipe = redis_client.pipeline()
    agents.hold_taking(pipe, "council_tax", "CAlineA")  # A's take holds the queue's front
    pipe.execute()

    def seen(line: str):
        ctx = agent_context.load(redis_client, line, now=OPEN, agent_id=bo.id,
                                 departments=["council_tax"])
        return ctx.fronts["council_tax"], ctx.counts["council_tax"]

    assert seen("CAlineB") == (None, 0)
    front, count = seen("CAlineA")  # A's own (retried) take still sees its caller
    assert (front.sid, count) == ("CAcaller1", 1)
    redis_client.zadd(store.queue_key("council_tax"), {"CAcaller2": OPEN + 5})
    front, count = seen("CAlineB")
    assert (front.sid, count) == ("CAcaller1", 2)  # B waits for A's dequeue, then takes #2
    agents.release_taking(redis_client, "council_tax", "CAlineA")
    redis_client.zrem(store.queue_key("council_tax"), "CAcaller2")
    front, count = seen("CAlineB")
    assert (front.sid, count) == ("CAcaller1", 1)  # nobody connecting to them: B may take
