"""Working callbacks by phone: hear the next due voicemail, call the resident, log the outcome.

The resident hears, when they answer, that the council is returning their call and that calls
may be recorded (the ``<Number url>`` document). A callback is done only when answered.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from flask import Blueprint, request, url_for
from rq import Retry
from twilio.twiml.voice_response import VoiceResponse

from flows.agent_calls import _wrap_up_prompt
from flows.agent_line import add_agent_menu, agent_departments, agent_step
from flows.common import Turn, external
from ivr import agents, twilio_rest
from ivr.agent_context import Context
from ivr.agents import Agent, State
from ivr.calendar import spoken_day, spoken_time
from ivr.events import Event
from ivr.messaging import SEND_SMS
from ivr.phone import is_uk_mobile, national_format, relay_dial_string
from ivr.store import Batch
from ivr.twiml import render
from voicemail import callbacks
from voicemail.tasks import load_task

log = logging.getLogger(__name__)
bp = Blueprint("agent_callbacks", __name__)


def spoken_when(turn: Turn, ts: float) -> str:
    local = datetime.fromtimestamp(ts, UTC).astimezone(turn.ivr.hours.tz)
    today = turn.now.astimezone(turn.ivr.hours.tz).date()
    return f"{spoken_day(local.date(), today)} at {spoken_time(local.time())}"


def dial_string(turn: Turn, task: dict[str, str]) -> str:
    """Relay UK callers are called back through the text relay prefix."""
    if task.get("relay") == "1":
        return relay_dial_string(task["number"], turn.config.relay.callback_prefix)
    return task["number"]


def add_callback_dial(turn: Turn, response: VoiceResponse, agent: Agent,
                      task: dict[str, str], batch: Batch) -> None:
    """Ring the resident from the council's number, recorded, announced on their answer."""
    agents.set_state(batch, agent, State.ON_CALL, turn.now.timestamp(), call_sid=turn.call.sid,
                     reason=f"callback {task['id']}")
    dial = response.dial(
        action=url_for("agent_callbacks.result", task=task["id"]), method="POST",
        caller_id=turn.config.council.main_number, record=turn.config.recording.advisor_leg,
        hangup_on_star=True,
        timeout=turn.config.lines.transfer_timeout,
    )
    dial.number(dial_string(turn, task), url=url_for("agent_callbacks.announce"), method="POST")


def add_task_summary(turn: Turn, target, task: dict[str, str]) -> None:
    m = turn.messages.agent
    number = national_format(task["number"]) if task.get("number") else ""
    turn.say(target, m.callback_intro.format(
        department=turn.config.department(task.get("department", "")).name,
        when=spoken_when(turn, float(task.get("created_at", 0))),
        number=number or turn.messages.agent.withheld_number))
    if not number:
        turn.say(target, m.callback_no_number)


@bp.post("/agent/callback/next")
@agent_step(fronts=False)
def next_callback(turn: Turn, ctx: Context):
    """The next due callback (overdue first) for the agent's departments."""
    agent = ctx.agent
    response = VoiceResponse()
    batch = turn.batch()
    depts = None if agent.supervisor and not agent.departments else agent_departments(turn, agent)
    r = turn.ivr.redis
    task_id = callbacks.next_due(r, depts, turn.now.timestamp(), agent.id, with_number=True)
    if task_id is None:
        turn.say(response, turn.messages.agent.no_callbacks)
        add_agent_menu(turn, response, agent, batch)
        batch.commit("no callback due")
        return render(response)
    task = load_task(r, task_id)
    add_task_summary(turn, response, task)
    turn.say(response, turn.messages.agent.callback_message)
    for rec in json.loads(task.get("recordings", "[]")):
        if rec.get("url"):
            response.play(rec["url"] + ".mp3")
    if task.get("number"):
        add_callback_choice(turn, response, task_id)
    else:  # nothing to dial: back to the menu (the task stays for the console)
        callbacks.release_claim(r, task_id, agent.id)
        add_agent_menu(turn, response, agent, batch)
    batch.commit("next callback")
    return render(response)


def add_callback_choice(turn: Turn, response: VoiceResponse, task_id: str) -> None:
    action = url_for("agent_callbacks.choice", task=task_id)
    turn.speaker.ask(response, action, turn.messages.agent.callback_choice)


@bp.post("/agent/callback/choice")
@agent_step
def choice(turn: Turn, ctx: Context):
    """Gather action: 1 calls the resident now; 2 skips; silence or another key asks again."""
    agent = ctx.agent
    r = turn.ivr.redis
    task = load_task(r, request.args.get("task", ""))
    digits = (request.values.get("Digits") or "").strip()
    response = VoiceResponse()
    workable = bool(task) and task.get("status") == "open" and bool(task.get("number"))
    call_now, skip = turn.config.keys.callback_call_now, turn.config.keys.callback_skip
    if workable and digits not in (call_now, skip):
        add_callback_choice(turn, response, task["id"])
        return render(response)
    # Calling needs this agent's claim still (it lapses after a while; another agent may have
    # the task by now): never two agents ringing the same resident.
    batch = turn.batch()
    if workable and digits == call_now and callbacks.hold_claim(r, task["id"], agent.id):
        add_callback_dial(turn, response, agent, task, batch)
    else:
        if task and digits == skip:
            callbacks.skip(r, task["id"], agent.id, turn.now.timestamp())
        elif task:
            callbacks.release_claim(r, task["id"], agent.id)
        add_agent_menu(turn, response, agent, batch, ctx)
    batch.commit("callback choice")
    return render(response)


@bp.post("/agent/callback/announce")
def announce():
    """<Number url> on the resident's leg, once they answer: who is calling, and recording."""
    turn = Turn.begin()
    response = VoiceResponse()
    turn.say(response, turn.messages.callback_announce)
    return render(response)


def unreachable_sms(turn: Turn, task: dict[str, str], attempts: int, batch: Batch) -> None:
    """Tell a mobile caller we tried, and how to reach us online (an RQ job in ``batch``)."""
    number = task.get("number", "")
    if not is_uk_mobile(number) or task.get("relay") == "1":
        return
    dept = turn.config.department(task.get("department", ""))
    body = turn.messages.callback_unreachable_sms.format(
        attempts=attempts, link=dept.link,
        number=national_format(turn.config.council.main_number))
    batch.enqueue(turn.ivr.messages, SEND_SMS, number, body, turn.config.council.sms_from,
                  retry=Retry(max=3, interval=[30, 120, 600]),
                  description=f"unreachable callback {task['id']}")


def log_attempt(turn: Turn, agent: Agent, task_id: str, outcome: callbacks.Outcome,
                call_sid: str = "", batch: Batch | None = None) -> callbacks.Attempt:
    """Log one attempt with its events (and the unreachable SMS), for the phone and the console.

    The events and the SMS job join ``batch`` (the request's, committed by the caller), or a
    batch of their own. A repeated report about a task that is no longer open changes nothing
    and writes nothing.
    """
    cfg = turn.config.callbacks_work
    r = turn.ivr.redis
    found = callbacks.log_attempt(
        r, task_id, agent_id=agent.id, outcome=outcome, now=turn.now.timestamp(),
        retry_gap=cfg.retry_gap, max_attempts=cfg.max_attempts,
        keep_closed=cfg.keep_closed_tasks, call_sid=call_sid)
    if not found.logged:
        log.warning("callback %s: attempt by agent %s (%s) ignored, the task is %s", task_id,
                    agent.id, outcome, found.status or "unknown")
        return found
    task = load_task(r, task_id)
    dept = task.get("department")
    own = batch is None
    batch = turn.batch() if batch is None else batch
    batch.event(Event.CALLBACK_ATTEMPT, dept, task=task_id, agent=agent.id,
                outcome=str(outcome), attempt=found.count)
    if found.status == "done":
        batch.event(Event.CALLBACK_DONE, dept, task=task_id, agent=agent.id,
                    attempts=found.count)
    elif found.status == "unreachable":
        batch.event(Event.CALLBACK_UNREACHABLE, dept, task=task_id, attempts=found.count)
        unreachable_sms(turn, task, found.count, batch)
    if own:
        batch.commit(f"callback attempt ({found.status})")
    return found


@bp.post("/agent/callback/result")
@agent_step
def result(turn: Turn, ctx: Context):
    """Dial action: log the attempt; answered closes the task, else retry later or close."""
    agent = ctx.agent
    task_id = request.args.get("task", "")
    outcome = callbacks.outcome_from_dial(request.values.get("DialCallStatus"))
    now = turn.now.timestamp()
    batch = turn.batch()
    found = log_attempt(turn, agent, task_id, outcome, request.values.get("DialCallSid", ""),
                        batch)
    response = VoiceResponse()
    if ctx.line_ended:
        batch.commit("callback attempt")
        return render(response)  # the agent hung up: the hang-up already set their state
    m = turn.messages.agent
    if found.logged and found.status == "done":
        agents.set_state(batch, agent, State.WRAP_UP, now, call_sid=turn.call.sid,
                         reason="callback ended")
        turn.say(response, m.callback_answered)
        _wrap_up_prompt(turn, response, request.values.get("DialCallSid", ""))
        batch.commit("callback answered")
        return render(response)
    if found.logged and found.status == "unreachable":
        turn.say(response, m.callback_unreachable)
    elif found.logged:
        turn.say(response, m.callback_not_answered.format(
            attempts=found.count, max_attempts=turn.config.callbacks_work.max_attempts))
    agent = agents.set_state(batch, agent, State.AVAILABLE, now, call_sid=turn.call.sid,
                             reason="callback not answered" if found.logged else "callback closed")
    add_agent_menu(turn, response, agent, batch, ctx)
    batch.commit("callback attempt")
    return render(response)


@bp.post("/agent/callback/bridge")
def bridge():
    """Click-to-call from the console: the agent's phone answered; now ring the resident."""
    turn = Turn.begin()
    r = turn.ivr.redis
    agent = agents.get(r, request.args.get("agent", ""))
    task = load_task(r, request.args.get("task", ""))
    response = VoiceResponse()
    if agent is None or not task or task.get("status") != "open" or not task.get("number"):
        turn.say(response, turn.messages.agent.no_callbacks)
        response.hangup()
        return render(response)
    batch = turn.batch()
    batch.op(lambda p: agents.link_call(p, turn.call.sid, agent.id))
    add_task_summary(turn, response, task)
    add_callback_dial(turn, response, agent, task, batch)
    batch.commit("click to call")
    return render(response)


def start_click_to_call(agent: Agent, task_id: str, caller_id: str) -> str:
    """REST: ring the agent's phone first; when they answer, the bridge document dials out.

    Called from a console request (needs its request context for the callback URLs).
    """
    call = twilio_rest.client().calls.create(
        to=agent.phone, from_=caller_id, method="POST",
        url=external("agent_callbacks.bridge", task=task_id, agent=agent.id),
        status_callback=external("agent_line.status"),
    )
    return call.sid
