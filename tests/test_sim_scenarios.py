"""End-to-end scenarios: the real app, its real webhooks and Redis, driven by the stand-in.

Each test is a person (or several) calling in virtual time: the caller's journey, the agent
line, the RQ jobs due later, and Twilio's failure handling. Every TwiML document is validated
strictly in its context, so a scenario also fails on any TwiML Twilio would warn about.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from ivr import agents, events
from ivr.sim.engine import Fidelity
from ivr.sim.legs import Answer, Leg, Message
from ivr.sim.scenario import Agent, Caller, steps
from ivr.sim.world import World, in_process
from voicemail.tasks import WORKLIST, load_task

OPEN = datetime(2026, 12, 1, 10, 0, tzinfo=UTC).timestamp()  # Tuesday 10:00
CLOSED = datetime(2026, 12, 1, 19, 30, tzinfo=UTC).timestamp()
AGENT_PHONE = "+447700900123"
PIN = "246813"  # the advisors' agent line PIN
ENTER_PIN_KNOWN = ("Agent line. We recognise this phone, so please enter just your PIN, then "
                   "press hash. To use a different agent number, press star, then hash.")


def when(leg: Leg, kind: str, text: str = "") -> float:
    return next(n.at for n in leg.notices if n.kind == kind and text in n.text)


def sent(world: World, leg: Leg, path: str) -> list[dict[str, str]]:
    return [r.params for r in world.engine.requests
            if r.call_sid == leg.sid and r.url.split("?")[0].endswith(path)]


def kinds(redis_client, call_sid: str) -> list[str]:
    return [e["event"] for e in events.read_all(redis_client) if e["call"] == call_sid]


def task_for(world: World, redis_client) -> dict[str, str]:
    (rec,) = world.engine.recordings
    return load_task(redis_client, redis_client.get(f"{{ivr}}:cb:rec:{rec}").decode())


def test_council_tax_caller_times_out_to_voicemail_and_a_callback_task(app, twilio,
                                                                       redis_client):
    world = in_process(app, start=OPEN, rest=twilio, fidelity=Fidelity(recording_callbacks=2))
    leg = world.call(Caller(steps("2 -"), message=Message("It's about my bill, call me back.")))
    world.run()
    waited = round(when(leg, "dequeued") - when(leg, "enqueue"), 3)
    assert 120 <= waited <= 125
    (left,) = sent(world, leg, "/voice/queue/council_tax/left")
    assert (left["QueueResult"], left["QueueTime"]) == ("leave", "120")
    assert "Sorry, we haven't been able to answer your call within two minutes." in leg.said
    assert any(n.kind == "beep" for n in leg.notices)
    assert leg.said[-1].startswith("Thank you. We've got your message")
    assert len(sent(world, leg, "/voicemail/recording")) == 2  # delivered twice...
    task = task_for(world, redis_client)  # ...stored once
    assert (task["department"], task["number"], task["status"]) == (
        "council_tax", "+447911123456", "scheduled")
    assert task["voicemails"] == "1"
    assert {"ENTERQUEUE", "EXITWITHTIMEOUT", "VOICEMAIL", "CALLBACKCREATED", "CALLEND"} <= set(
        kinds(redis_client, leg.sid))
    world.run(until=float(task["release_at"]) + 5)  # the RQ release job, at 09:00 next day
    assert load_task(redis_client, task["id"])["status"] == "open"
    assert redis_client.zscore(WORKLIST, task["id"]) is not None


@pytest.mark.parametrize(("payment", "heard"), [
    ("busy", "Sorry, we couldn't connect you to the payment line."),
    ("no-answer", "Sorry, we couldn't connect you to the payment line."),
    ("answered", "Thank you for calling Colchester Borough Council. Goodbye."),
])
def test_payment_line_transfer_and_the_advisor_when_it_fails(app, twilio, redis_client,
                                                             payment, heard):
    world = in_process(app, start=OPEN, rest=twilio)
    world.line("payment", Answer(payment, ring=4, talk=90))
    leg = world.call(Caller(steps("1 -"), patience=30, talk_seconds=None))
    world.run()
    (result,) = sent(world, leg, "/voice/payments/result")
    assert result["DialCallStatus"] == ("completed" if payment == "answered" else payment)
    assert heard in leg.said
    if payment == "answered":
        assert result["DialCallDuration"] == "90" and not sent(world, leg, "/left")
        return
    assert "Putting you through to the Customer Service team." in leg.said
    (left,) = sent(world, leg, "/voice/queue/general/left")
    assert (left["QueueResult"], left["QueueTime"]) == ("hangup", "30")
    assert "ABANDON" in kinds(redis_client, leg.sid)


def test_the_online_link_by_text_is_sent_by_the_rq_job_in_virtual_time(app, twilio,
                                                                      redis_client):
    world = in_process(app, start=OPEN, rest=twilio)
    leg = world.call(Caller(steps("4 1"), patience=5))
    world.run()
    assert "Thank you. We'll send you a text message with the link." in leg.said
    (sms,) = twilio.messages  # sent by the job on the messages queue, as the worker would
    assert sms["to"] == "+447911123456" and "https://www.colchester.gov.uk/bins" in sms["body"]
    assert world.jobs.ran == 1


def test_out_of_hours_caller_leaves_a_message(make_app, twilio, redis_client):
    world = in_process(make_app(), start=CLOSED, rest=twilio)
    leg = world.call(Caller(steps("-")))
    world.run()
    assert leg.said[0] == "Thank you for calling Colchester Borough Council."
    assert any(s.startswith("Our telephone lines are closed") for s in leg.said)
    assert task_for(world, redis_client)["department"] == "general"


@pytest.fixture
def alice(redis_client):
    agent = agents.add(redis_client, name="Alice Smith", departments=["council_tax", "benefits"],
                       phone=AGENT_PHONE, role=agents.Role.AGENT, now=OPEN)
    agents.set_secret(redis_client, agent.id, "pin_hash", PIN)
    return agent


def test_agent_takes_the_longest_waiting_caller(make_app, twilio, redis_client, alice):
    world = in_process(make_app(staffed=False), start=OPEN, rest=twilio)
    agent = world.agent(Agent(pin=PIN, calls=1), phone=AGENT_PHONE)
    first = world.call(Caller(steps("2 -"), talk_seconds=45), from_="+447911000001",
                       at=OPEN + 10)
    second = world.call(Caller(steps("3 -"), patience=40), from_="+447911000002",
                        at=OPEN + 15)
    world.run()
    assert agent.said[:2] == [ENTER_PIN_KNOWN, "Hello Alice."]  # her phone: only the PIN
    assert sent(world, agent, "/agent/login/pin")[0]["Digits"] == PIN
    assert "You're through to Alice in the Council Tax team." in first.said
    assert any(s.startswith("Council Tax. Waited") for s in agent.said)  # the whisper
    (left,) = sent(world, first, "/voice/queue/council_tax/left")
    assert left["QueueResult"] == "bridged"
    bridged = when(first, "bridge")
    assert world.engine.requests[[r.params for r in world.engine.requests].index(left)].at \
        == pytest.approx(bridged + 45)  # requested only when the conversation ended
    (after,) = sent(world, agent, "/agent/after-call")
    assert (after["DialCallStatus"], after["DialCallSid"], after["DialCallDuration"]) == (
        "completed", first.sid, "45")
    assert sent(world, agent, "/agent/wrap-up")[0]["Digits"] == "1"
    wrap = [e for e in events.read_all(redis_client) if e["event"] == "WRAPUP"]
    assert wrap[0]["data"] == {"agent": alice.id, "caller": first.sid, "resolved": True}
    assert "CONNECT" in kinds(redis_client, first.sid)
    assert sent(world, second, "/voice/queue/benefits/left")[0]["QueueResult"] == "hangup"
    assert agents.get(redis_client, alice.id).state is agents.State.SIGNED_OUT


def test_agent_signs_in_with_number_and_pin(make_app, twilio, redis_client, alice):
    world = in_process(make_app(staffed=False), start=OPEN, rest=twilio)
    agent = world.agent(Agent(agent_id=alice.id, pin=PIN, calls=0), phone="+447700900999")
    world.run()
    assert agent.said[:3] == ["Agent line. Please enter your four digit agent number.",
                              "Please enter your PIN, then press hash.", "Hello Alice."]
    assert sent(world, agent, "/agent/login/pin")[0]["Digits"] == PIN
    assert agent.said[-1] == "You're signed out. Goodbye."


def test_caller_rates_the_call_when_the_agent_hangs_up_first(make_app, twilio, redis_client,
                                                             alice):
    world = in_process(make_app(staffed=False), start=OPEN, rest=twilio)
    world.agent(Agent(pin=PIN, handle=30), phone=AGENT_PHONE)
    # Alice is free, so no text offer: straight from the menu to her, then the rating.
    caller = world.call(Caller(steps("2 5"), talk_seconds=None), at=OPEN + 10)
    world.run()
    (left,) = sent(world, caller, "/voice/queue/council_tax/left")
    assert left["QueueResult"] == "bridged" and left["CallStatus"] == "in-progress"
    assert "Before you go, please tell us how we did" in " ".join(caller.said)
    scores = [e for e in events.read_all(redis_client) if e["event"] == "FEEDBACK"]
    assert scores[0]["data"] == {"agent": alice.id, "score": 5}


# -- Twilio's failure handling through the real app ------------------------------------------------
APOLOGY = "Sorry, something went wrong on our side."


@pytest.mark.parametrize("how", [{"status": 500}, {"delay": 20.0},
                                 {"body": b"<Response><Say>unclosed"}],
                         ids=["http-500", "slow-20s", "invalid-twiml"])
def test_a_failing_webhook_sends_the_caller_to_the_fallback(app, twilio, redis_client, how):
    world = in_process(app, start=OPEN, rest=twilio)
    world.faults.add(r"^/voice/menu/choice", **how)
    leg = world.call(Caller(steps("2"), patience=20))
    world.run()
    (fallback,) = sent(world, leg, "/voice/fallback")
    assert fallback["ErrorUrl"].startswith("http://localhost/voice/menu/choice")
    assert APOLOGY in leg.said and "Calls may be recorded" in leg.said[leg.said.index(APOLOGY) + 1]
    assert sent(world, leg, "/voice/queue/general/left")[0]["QueueResult"] == "hangup"
    assert "FAILSAFE" not in kinds(redis_client, leg.sid)  # Twilio, not the app, caught it


def test_the_app_itself_answering_500_for_one_url(app, twilio, redis_client):
    @app.before_request
    def broken():  # a fault outside the blueprints' own fail-safe handlers
        from flask import request

        if request.path == "/voice/dept/council_tax":
            return "broken", 500
        return None

    world = in_process(app, start=OPEN, rest=twilio)
    leg = world.call(Caller(steps("2"), patience=10))
    world.run()
    assert sent(world, leg, "/voice/fallback")[0]["ErrorCode"] == "11217"
    assert APOLOGY in leg.said


def test_the_agent_line_has_no_fallback_so_twilio_apologises(make_app, twilio, redis_client,
                                                             alice):
    world = in_process(make_app(staffed=False), start=OPEN, rest=twilio)
    world.faults.add(r"^/agent/incoming", status=500)
    agent = world.agent(Agent(pin=PIN), phone=AGENT_PHONE)
    world.run()
    assert [n.text for n in agent.notices if n.kind == "error"] == [
        "An application error has occurred."]
    assert agent.status == "completed"


# -- ivr call ------------------------------------------------------------------------------------
@pytest.fixture
def call_env(monkeypatch, tmp_path):
    """The environment ``ivr call`` in-process runs in: the test Redis and a spool of its own."""
    from conftest import ROOT, TEST_REDIS_URL

    for name, value in {"REDIS_URL": TEST_REDIS_URL, "IVR_CONFIG": str(ROOT / "config.yaml"),
                        "IVR_SPOOL_DIR": str(tmp_path / "spool"), "TWILIO_AUTH_TOKEN": "x",
                        "TWILIO_ACCOUNT_SID": "x"}.items():
        monkeypatch.setenv(name, value)


def test_ivr_call_scripted(capsys, redis_client, call_env):
    from ivr.cli import main

    code = main(["call", "--at", "2026-12-01 10:00", "--keys", "2", "--wait", "130",
                 "--say-message", "Please call me back about my bill", "--staffed"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Calling +441206282222 from +447911123456 on Tue 01 Dec 2026 10:00" in out
    assert "[00:00] Council: Thank you for calling Colchester Borough Council." in out
    assert "You press 2" in out and "-- you join the queue 'council-tax'" in out
    assert "queue: position 1 of 1" in out and "*BEEP* (recording)" in out
    assert 'You say: "Please call me back about my bill"' in out
    assert "-- callback task CB" in out and "(council_tax): call +447911123456 back by" in out
    assert not redis_client.smembers(agents.ON_DUTY.format(dept="council_tax"))


def test_ivr_call_interactive(monkeypatch, capsys, redis_client, call_env):
    from ivr.cli import main

    typed = iter(["council tax", "", "wait 45", "hangup"])  # words, silence, hold, hang up
    prompts: list[str] = []
    monkeypatch.setattr("builtins.input", lambda p="": prompts.append(p) or next(typed))
    assert main(["call", "--at", "2026-12-01 10:00", "--staffed"]) == 0
    out = capsys.readouterr().out
    assert 'You say: "council tax"' in out and "-- you join the queue 'council-tax'" in out
    assert "-- you leave the queue (hangup)" in out
    assert prompts[0].startswith("keys or words") and prompts[2].startswith("on hold")
    assert "waited 45 s" not in out and "-- call ended: completed" in out


def test_ivr_call_says_who_is_on_the_line_and_hangs_up_when_told(monkeypatch, capsys,
                                                                 redis_client, call_env):
    """Transferred to the payment line, the terminal says so (not "an advisor"), and
    ``hangup`` at the talk prompt ends the call there and then, not after 60 s."""
    from ivr.cli import main

    typed = iter(["1", "hangup"])
    prompts: list[str] = []
    monkeypatch.setattr("builtins.input", lambda p="": prompts.append(p) or next(typed))
    assert main(["call", "--at", "2026-12-01 10:00"]) == 0
    out = capsys.readouterr().out
    assert prompts[1].startswith("talking to the payment line: seconds before you hang up")
    assert "-- connected to the payment line" in out
    ended = re.search(r"-- call ended: completed, (\d+) s", out)
    assert ended and int(ended.group(1)) < 60, out


def test_ctrl_c_during_a_call_ends_in_one_line(monkeypatch, capsys, redis_client, call_env):
    from ivr.cli import main


    def interrupted(prompt: str = "") -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr("builtins.input", interrupted)
    assert main(["call", "--at", "2026-12-01 10:00", "--staffed"]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "interrupted" and "Traceback" not in err
    assert not redis_client.smembers(agents.ON_DUTY.format(dept="council_tax"))


def test_callers_are_answered_in_order_by_several_agents(make_app, twilio, redis_client):
    world = in_process(make_app(staffed=False), start=OPEN, rest=twilio)
    desk = []
    for i, name in enumerate(["Alice Smith", "Bob Jones"]):
        agent = agents.add(redis_client, name=name, departments=["council_tax"],
                           phone=f"+44770090010{i}", role=agents.Role.AGENT, now=OPEN)
        agents.set_secret(redis_client, agent.id, "pin_hash", PIN)
        desk.append(world.agent(Agent(pin=PIN, until=OPEN + 600), phone=agent.phone,
                                at=OPEN + i))
    callers = [world.call(Caller(steps("2 -"), talk_seconds=30), from_=f"+44791100010{i}",
                          at=OPEN + 30 + 8 * i) for i in range(6)]
    world.run()
    assert all(sent(world, leg, "/left")[0]["QueueResult"] == "bridged" for leg in callers)
    answered = sorted(callers, key=lambda leg: when(leg, "bridge"))
    assert answered == callers  # first come, first served, whichever advisor is free
    through = [next(s for s in leg.said if s.startswith("You're through to")) for leg in callers]
    assert {t.split()[3] for t in through} == {"Alice", "Bob"}
    assert sum(a.actor.taken for a in desk) == 6
    assert not redis_client.zcard("{ivr}:queue:council_tax")
    assert all(q.size == 0 for q in world.engine.queues.by_name.values())


def test_an_agent_who_hangs_up_mid_call_is_not_left_on_duty(make_app, twilio, redis_client,
                                                             alice):
    world = in_process(make_app(staffed=False), start=OPEN, rest=twilio)
    world.agent(Agent(pin=PIN, handle=30), phone=AGENT_PHONE)  # hangs up the line 30 s in
    world.call(Caller(steps("2 - 5"), talk_seconds=None), at=OPEN + 10)
    late = world.call(Caller(steps("2 -")), from_="+447911000077", at=OPEN + 400)
    world.run()
    assert agents.get(redis_client, alice.id).state is agents.State.SIGNED_OUT
    assert "Sorry, there's no one available in the Council Tax team at the moment." in late.said


def test_a_call_the_agent_ended_is_recorded_as_ended_by_the_agent(make_app, twilio,
                                                                  redis_client, alice):
    world = in_process(make_app(staffed=False), start=OPEN, rest=twilio)
    world.agent(Agent(pin=PIN, handle=30), phone=AGENT_PHONE)
    world.call(Caller(steps("2 - 5"), talk_seconds=None), at=OPEN + 10)
    world.run()
    ended = [e["event"] for e in events.read_all(redis_client)
             if e["event"] in ("COMPLETEAGENT", "COMPLETECALLER")]
    assert ended == ["COMPLETEAGENT"]


def test_console_click_to_call_returns_a_voicemail_through_the_rest_stand_in(
        app, twilio, redis_client, alice):
    import re

    import time_machine

    agents.set_secret(redis_client, alice.id, "password_hash", "correct horse battery")
    world = in_process(app, start=OPEN, rest=twilio)
    resident = world.call(Caller(steps("2 -"), answers=Answer(ring=6), talk_seconds=40))
    world.run()
    task = task_for(world, redis_client)
    world.run(until=float(task["release_at"]) + 5)  # released to the worklist at 09:00
    browser = app.test_client()
    token = re.compile(r'name="csrf_token" value="([^"]+)"')
    with time_machine.travel(world.now, tick=False):
        page = browser.get("/console/login").get_data(as_text=True)
        browser.post("/console/login", data={"agent": alice.id, "password":
                                             "correct horse battery",
                                             "csrf_token": token.search(page)[1]})
        page = browser.get("/console/").get_data(as_text=True)
        browser.post(f"/console/callbacks/{task['id']}/call",
                     data={"csrf_token": token.search(page)[1]})
    (call,) = twilio.calls
    assert call["to"] == AGENT_PHONE and call["from"] == world.main_number
    world.engine.lines[AGENT_PHONE] = Agent(calls=0)  # Alice answers her phone...
    world.run()
    advisor = world.engine.legs[call["sid"]]
    assert advisor.direction == "outbound-api" and advisor.said[0].startswith(
        "Callback for Council Tax.")
    (result,) = sent(world, advisor, "/agent/callback/result")
    assert (result["DialCallStatus"], result["DialCallDuration"]) == ("completed", "40")
    back = world.engine.legs[result["DialCallSid"]]  # ...and the resident hears who it is
    assert back.to == resident.from_ and back.said == [
        "This is Colchester Borough Council returning your call. Calls may be recorded for "
        "training and monitoring purposes."]
    assert load_task(redis_client, task["id"])["status"] == "done"
    assert "The callback is complete." in advisor.said
