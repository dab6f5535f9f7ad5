"""Taking the next caller: choose the longest wait, whisper to the agent, introduce the agent.

The caller hears "You're through to <first name> in the <department> team." from the
``<Queue url>`` document before the bridge, so every answered call keeps the promise to give
the name and department of the person they are speaking to.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any, NamedTuple

from flask import Blueprint, request, url_for
from twilio.twiml.voice_response import VoiceResponse

from flows.agent_line import add_agent_menu, agent_step, context, spoken_duration
from flows.common import Turn, form_int
from flows.queue import LEAVE_EVENTS
from flows.recordings import advisor_recording
from ivr import agents, store
from ivr.agents import Agent, State, offer
from ivr.agents.context import Context, Front
from ivr.agents.jobs import END_WRAP_UP, END_WRAP_UP_RETRY
from ivr.events import Event
from ivr.hold import LeaveReason
from ivr.phone import check_caller_id, national_format
from ivr.store import Batch
from ivr.twiml import empty, render
from voicemail.tasks import OPEN_BY_NUMBER

bp = Blueprint("agent_calls", __name__)


class History(NamedTuple):
    """What the whisper says about a number: read in the take step's batch."""

    open_callback: bool = False
    recent: int = 0  # calls from the number in the last ``agents.recent_days``, this one too


def caller_number(turn: Turn, front: Front) -> str | None:
    """The front caller's number in E.164, or None when withheld or invalid."""
    return check_caller_id(front.caller, turn.config.withheld_caller_ids).e164


def read_history(turn: Turn, batch: Batch, number: str, found: list[History]) -> None:
    """Queue the whisper's reads about ``number`` on ``batch``; ``found`` gets the answer once
    it has committed (the reads share the round trip of the take's writes)."""
    since = turn.now.timestamp() - turn.config.agents.recent_days * 86400
    seen: dict[str, Any] = {}

    def done(recent: Any) -> None:
        found.append(History(bool(seen["open"]), int(recent)))

    batch.op(lambda p: p.exists(OPEN_BY_NUMBER.format(number=number)),
             then=lambda x: seen.update(open=x))
    batch.op(lambda p: p.zcount(store.caller_key(number), since, "+inf"), then=done)


def whisper(turn: Turn, dept: str, front: Front, history: History) -> str:
    """What the agent hears before the bridge: department, wait, number, and history."""
    m = turn.messages.agent
    number = caller_number(turn, front)
    told = m.history_none
    earlier = max(0, history.recent - 1)  # this call is one of them
    if number and history.open_callback:
        told = m.history_open_callback
    elif number and earlier:
        template = m.history_recent_one if earlier == 1 else m.history_recent
        told = template.format(count=earlier, days=turn.config.agents.recent_days)
    return m.whisper.format(department=turn.config.department(dept).name,
                            waited=spoken_duration(turn.now.timestamp() - front.entered),
                            number=national_format(number) if number else m.withheld_number,
                            history=told)


@bp.post("/agent/take")
@agent_step
def take_next(turn: Turn, ctx: Context):
    """Bridge the agent to the caller who has waited longest in any of their departments."""
    agent = ctx.agent
    dept = agents.pick_queue({d: f.entered if f else None for d, f in ctx.fronts.items()})
    response = VoiceResponse()
    batch = turn.batch()
    if dept is None:
        if agent.offer:  # offered a caller someone else took (or who hung up): idle again
            offered = agent.offer
            batch.op(lambda p: offer.queue_release(p, agent.id, offered))
            agent = replace(agent, offer="", offer_at=0.0)
        if agent.state is State.ON_CALL:  # a retried take (below) found nobody left
            agent = agents.set_state(batch, agent, State.AVAILABLE, turn.now.timestamp(),
                                     call_sid=turn.call.sid, reason="nobody left to take")
        turn.say(response, turn.messages.agent.no_callers)
        add_agent_menu(turn, response, agent, batch)
        batch.commit("take: nobody waiting")
        return render(response)
    front = ctx.fronts[dept]
    whispered = turn.config.agents.whisper
    found: list[History] = []
    number = caller_number(turn, front) if whispered else None
    if number:
        read_history(turn, batch, number, found)
    held: list[bool] = []
    if whispered:  # the whisper must describe the caller this Dial will really bridge
        batch.op(lambda p: agents.hold_taking(p, dept, turn.call.sid),
                 then=lambda ok: held.append(bool(ok)))
    if agent.state is not State.ON_CALL:  # a retried take is already on its way to a call
        agents.set_state(batch, agent, State.ON_CALL, turn.now.timestamp(),
                         call_sid=turn.call.sid, reason=f"taking a {dept} caller")
    committed = batch.commit("take") is not None
    if whispered and committed and not held[0]:
        # Another advisor is being connected to this queue's front caller: once dequeued,
        # the next caller is at the front, and this take describes and bridges them.
        response.pause(length=agents.TAKE_RETRY_SECONDS)
        response.redirect(url_for("agent_calls.take_next"), method="POST")
        return render(response)
    if whispered:
        turn.say(response, whisper(turn, dept, front, found[0] if found else History()))
    dial = response.dial(
        action=url_for("agent_calls.after_call", dept=dept), method="POST",
        timeout=20, **advisor_recording(turn),
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
    line = request.values.get("DequeingCallSid", "")
    batch.op(lambda p: agents.release_taking(p, dept, line))  # the next take may go ahead
    batch.commit("caller connected")
    return render(response)


def _wrap_up_prompt(turn: Turn, response: VoiceResponse, caller_sid: str) -> None:
    action = url_for("agent_calls.wrap_up", caller=caller_sid)
    turn.speaker.ask(response, action, turn.messages.agent.wrap_up)


@bp.post("/agent/after-call")
@agent_step(ends_line=True)
def after_call(turn: Turn, ctx: Context):
    """Dial action on the agent's leg: the caller hung up (or nobody came); wrap-up or menu."""
    agent = ctx.agent
    now = turn.now.timestamp()
    response = VoiceResponse()
    if ctx.line_ended:  # (a take it was holding expires: agents.TAKING_MS)
        return render(response)  # the agent hung up: the hang-up already set their state
    batch = turn.batch()
    dept = turn.config.department_id(request.args.get("dept"))
    batch.op(lambda p: agents.release_taking(p, dept, turn.call.sid))  # if nobody was bridged
    if request.values.get("CallStatus") == "completed":
        # The agent's own leg is over: they hung up on the caller (the status callback may
        # come later; whichever is first marked the line ended, and does this, once).
        agent_hung_up(turn, agent, batch)
    elif request.values.get("DialCallStatus") != "completed":
        agent = agents.set_state(batch, agent, State.AVAILABLE, now, call_sid=turn.call.sid,
                                 reason="no caller bridged")
        turn.say(response, turn.messages.agent.no_callers)
        add_agent_menu(turn, response, agent, batch)
    else:
        agents.set_state(batch, agent, State.WRAP_UP, now, call_sid=turn.call.sid,
                         reason="call ended")
        batch.event(Event.COMPLETE_CALLER, agent=agent.id,
                    duration=form_int("DialCallDuration", 0), caller=agent.last_caller)
        _wrap_up_prompt(turn, response, agent.last_caller)
    batch.commit("after call")
    return render(response)


@bp.post("/agent/wrap-up")
@agent_step
def wrap_up(turn: Turn, ctx: Context):
    """Gather action: 1 resolved at first contact, 2 needs follow-up; then the agent menu."""
    digits = (request.values.get("Digits") or "").strip()
    response = VoiceResponse()
    keys = turn.config.keys
    if digits not in (keys.wrap_up_resolved, keys.wrap_up_follow_up):
        _wrap_up_prompt(turn, response, request.args.get("caller", ""))
        return render(response)
    batch = turn.batch().event(Event.WRAP_UP, agent=ctx.agent.id,
                               caller=request.args.get("caller", ""),
                               resolved=digits == keys.wrap_up_resolved)
    agent = agents.set_state(batch, ctx.agent, State.AVAILABLE, turn.now.timestamp(),
                             call_sid=turn.call.sid, reason="wrap-up done")
    turn.say(response, turn.messages.agent.wrap_up_thanks)
    add_agent_menu(turn, response, agent, batch, ctx)
    batch.commit("wrap-up")
    return render(response)


def agent_hung_up(turn: Turn, agent: Agent, batch: Batch) -> None:
    """The agent's line ended (the caller marked it so, once: ``agent_context.load``): what it
    means for them is ``agents.after_line_end`` (the live reconcile follows it too); a wrap-up
    is ended by a job, which, the agent being off the line, signs them out
    (``ivr.agents.jobs.end_wrap_up``). The writes and the job join ``batch``."""
    now = turn.now.timestamp()
    end = agents.after_line_end(agent, turn.call.sid, now)
    if end.state is not None:
        agents.set_state(batch, agent, end.state, now,
                         call_sid="" if end.state is State.SIGNED_OUT else turn.call.sid,
                         reason=end.reason)
    if end.completes_call:
        batch.event(Event.COMPLETE_AGENT, agent=agent.id)
    if end.wrap_up_since is not None:
        batch.enqueue_at(turn.ivr.callbacks,
                         turn.now + timedelta(seconds=turn.config.agents.wrap_up_seconds),
                         END_WRAP_UP, agent.id, end.wrap_up_since, retry=END_WRAP_UP_RETRY,
                         description=f"end wrap-up for agent {agent.id}")


@bp.post("/agent/status")
def status():
    """Status callback of the agent line: an agent who hangs up mid-call goes to wrap-up.

    Twilio may repeat it: the line is marked ended in round trip 1, and only the report that
    marked it acts (round trip 2)."""
    turn = Turn.begin()
    if request.values.get("CallStatus") in {"completed", "busy", "failed", "no-answer",
                                            "canceled"}:
        ctx = context(turn, fronts=False, end_line=True)
        if ctx.agent is not None and not ctx.line_ended:
            batch = turn.batch()
            agent_hung_up(turn, ctx.agent, batch)
            batch.commit("agent line ended")
    return empty()
