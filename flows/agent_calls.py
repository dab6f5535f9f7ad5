"""Taking the next caller: choose the longest wait, whisper to the agent, introduce the agent.

The caller hears "You're through to <first name> in the <department> team." from the
``<Queue url>`` document before the bridge, so every answered call keeps the promise to give
the name and department of the person they are speaking to.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from flask import Blueprint, request, url_for
from twilio.twiml.voice_response import VoiceResponse

from flows.agent_line import (
    add_agent_menu,
    agent_departments,
    agent_step,
    queue_fronts,
    spoken_duration,
)
from flows.common import Turn, form_int
from flows.queue import LEAVE_EVENTS
from ivr import agents, offer, store
from ivr.agent_jobs import END_WRAP_UP
from ivr.agents import Agent, State
from ivr.events import Event
from ivr.hold import LeaveReason
from ivr.phone import check_caller_id, national_format
from ivr.twiml import render
from voicemail.tasks import OPEN_BY_NUMBER

bp = Blueprint("agent_calls", __name__)



def whisper(turn: Turn, dept: str, caller_sid: str, entered: float) -> str:
    """What the agent hears before the bridge: department, wait, number, and history."""
    m = turn.messages.agent
    r = turn.ivr.redis
    raw = r.hget(store.call_key(caller_sid), "caller")
    check = check_caller_id(raw.decode() if raw else "", turn.config.withheld_caller_ids)
    number = national_format(check.e164) if check.e164 else m.withheld_number
    history = m.history_none
    if check.e164:
        days = turn.config.agents.recent_days
        now = turn.now.timestamp()
        pipe = r.pipeline(transaction=False)
        pipe.exists(OPEN_BY_NUMBER.format(number=check.e164))
        pipe.zcount(store.caller_key(check.e164), now - days * 86400, "+inf")
        has_open, recent = pipe.execute()
        earlier = max(0, int(recent) - 1)  # this call is one of them
        if has_open:
            history = m.history_open_callback
        elif earlier:
            template = m.history_recent_one if earlier == 1 else m.history_recent
            history = template.format(count=earlier, days=days)
    return m.whisper.format(department=turn.config.department(dept).name,
                            waited=spoken_duration(turn.now.timestamp() - entered),
                            number=number, history=history)


@bp.post("/agent/take")
@agent_step
def take_next(turn: Turn, agent: Agent):
    """Bridge the agent to the caller who has waited longest in any of their departments."""
    fronts, _ = queue_fronts(turn, agent_departments(turn, agent))
    dept = agents.pick_queue({d: f[1] if f else None for d, f in fronts.items()})
    response = VoiceResponse()
    r = turn.ivr.redis
    if dept is None:
        if agent.offer:  # offered a caller someone else took (or who hung up): idle again
            offer.release(r, agent.id, agent.offer)
            agent = replace(agent, offer="", offer_at=0.0)
        turn.say(response, turn.messages.agent.no_callers)
        add_agent_menu(turn, response, agent, status=False)
        return render(response)
    caller_sid, entered = fronts[dept]
    if turn.config.agents.whisper:
        turn.say(response, whisper(turn, dept, caller_sid, entered))
    agents.set_state(r, agent, State.ON_CALL, turn.now.timestamp(), call_sid=turn.call.sid,
                     reason=f"taking a {dept} caller")
    dial = response.dial(
        action=url_for("agent_calls.after_call", dept=dept), method="POST",
        record=turn.config.recording.advisor_leg, timeout=20,
        hangup_on_star=True,  # * ends the call and keeps the agent on the line
    )
    dial.queue(turn.config.department(dept).queue,
               url=url_for("agent_calls.introduce", agent=agent.id, dept=dept), method="POST")
    return render(response)


@bp.post("/agent/introduce")
def introduce():
    """<Queue url> on the caller's leg: name and department of the advisor, then the bridge."""
    turn = Turn.begin()
    dept = turn.config.department_id(request.args.get("dept"))
    r = turn.ivr.redis
    agent = agents.for_call(r, request.values.get("DequeingCallSid", "")) or agents.get(
        r, request.args.get("agent", ""))
    response = VoiceResponse()
    name = agent.first_name if agent else ""
    if name:
        turn.say(response, turn.messages.caller_intro.format(
            first_name=name, department=turn.config.department(dept).name))
    waited = form_int("QueueTime", 0)
    now = turn.now.timestamp()
    batch = turn.batch()
    batch.call(answered_by=agent.id if agent else "", answered_at=f"{now:.3f}")
    store.leave_queue(batch, dept, LeaveReason.ANSWERED, waited, LEAVE_EVENTS[LeaveReason.ANSWERED],
                      agent=agent.id if agent else "")
    store.note_answer(batch, dept, now)
    if agent:
        batch.op(lambda p: p.hset(agents.AGENT.format(id=agent.id), "last_caller", turn.call.sid))
    batch.commit("caller connected")
    return render(response)


def _wrap_up_prompt(turn: Turn, response: VoiceResponse, caller_sid: str) -> None:
    action = url_for("agent_calls.wrap_up", caller=caller_sid)
    turn.speaker.ask(response, action, turn.messages.agent.wrap_up)


@bp.post("/agent/after-call")
@agent_step
def after_call(turn: Turn, agent: Agent):
    """Dial action on the agent's leg: the caller hung up (or nobody came); wrap-up or menu."""
    r = turn.ivr.redis
    now = turn.now.timestamp()
    response = VoiceResponse()
    if agents.line_ended(r, turn.call.sid):
        return render(response)  # the agent hung up: the hang-up already set their state
    if request.values.get("CallStatus") == "completed":
        # The agent's own leg is over: they hung up on the caller (the status callback may
        # come later; whichever is first does it, once).
        agent_hung_up(turn, agent)
        return render(response)
    if request.values.get("DialCallStatus") != "completed":
        agent = agents.set_state(r, agent, State.AVAILABLE, now, call_sid=turn.call.sid,
                                 reason="no caller bridged")
        turn.say(response, turn.messages.agent.no_callers)
        add_agent_menu(turn, response, agent, status=False)
        return render(response)
    caller = (r.hget(agents.AGENT.format(id=agent.id), "last_caller") or b"").decode()
    agents.set_state(r, agent, State.WRAP_UP, now, call_sid=turn.call.sid, reason="call ended")
    turn.batch().event(Event.COMPLETE_CALLER, agent=agent.id,
                       duration=form_int("DialCallDuration", 0), caller=caller).commit("completed")
    _wrap_up_prompt(turn, response, caller)
    return render(response)


@bp.post("/agent/wrap-up")
@agent_step
def wrap_up(turn: Turn, agent: Agent):
    """Gather action: 1 resolved at first contact, 2 needs follow-up; then the agent menu."""
    digits = (request.values.get("Digits") or "").strip()
    response = VoiceResponse()
    keys = turn.config.keys
    if digits not in (keys.wrap_up_resolved, keys.wrap_up_follow_up):
        _wrap_up_prompt(turn, response, request.args.get("caller", ""))
        return render(response)
    r = turn.ivr.redis
    turn.batch().event(Event.WRAP_UP, agent=agent.id, caller=request.args.get("caller", ""),
                       resolved=digits == keys.wrap_up_resolved).commit("wrap-up")
    agent = agents.set_state(r, agent, State.AVAILABLE, turn.now.timestamp(),
                             call_sid=turn.call.sid, reason="wrap-up done")
    turn.say(response, turn.messages.agent.wrap_up_thanks)
    add_agent_menu(turn, response, agent)
    return render(response)


def agent_hung_up(turn: Turn, agent: Agent) -> None:
    """The agent's line ended: mid-call (or in the wrap-up after one) means wrap-up for the
    configured time, after which the agent, being off the line, is signed out (see
    ``ivr.agent_jobs.end_wrap_up``). Whichever of the status callback and the call's last Dial
    action reports it first does this, once."""
    r = turn.ivr.redis
    now = turn.now.timestamp()
    if agents.line_ended(r, turn.call.sid):
        return
    agents.end_line(r, turn.call.sid)
    if agent.call_sid not in ("", turn.call.sid):
        return  # the agent is busy on another call now: that one decides
    if agent.state is State.ON_CALL:
        agents.set_state(r, agent, State.WRAP_UP, now, call_sid=turn.call.sid,
                         reason="agent hung up")
        turn.batch().event(Event.COMPLETE_AGENT, agent=agent.id).commit("agent hung up")
        since = now
    elif agent.state is State.WRAP_UP:
        since = agent.state_since  # the call ended first; the agent hung up at the prompt
    elif agent.state in (State.AVAILABLE, State.ON_BREAK):
        # Off the line an agent cannot take queued calls: counting them on duty would keep
        # callers waiting two minutes for nobody.
        agents.set_state(r, agent, State.SIGNED_OUT, now, reason="left the agent line")
        return
    else:
        return
    turn.ivr.callbacks.enqueue_in(
        timedelta(seconds=turn.config.agents.wrap_up_seconds), END_WRAP_UP, agent.id, since,
        description=f"end wrap-up for agent {agent.id}")
