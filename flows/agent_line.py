"""The agent line: advisors sign in by phone, hear the queues, and choose their next piece of work.

Known agent phones are recognised by caller ID; anyone else keys an agent number and PIN
(three tries, then goodbye; repeated failures from one caller ID lock it out for a while).
"""

from __future__ import annotations

import functools
import logging

from flask import Blueprint, request, url_for
from twilio.twiml.voice_response import VoiceResponse

from flows.common import Turn, arg_int
from ivr import agents
from ivr.agents import Agent, State, offer
from ivr.agents import context as agent_context
from ivr.agents.context import Context
from ivr.events import Event
from ivr.phone import mask
from ivr.store import Batch
from ivr.twiml import render

log = logging.getLogger(__name__)
bp = Blueprint("agent_line", __name__)

FAILS = "{{ivr}}:agentfail:{caller}"


def spoken_duration(seconds: float) -> str:
    """'45 seconds', '1 minute', '2 minutes 10 seconds': how long someone has waited."""
    seconds = max(0, int(seconds))
    minutes, secs = divmod(seconds, 60)
    parts = []
    if minutes:
        parts.append(f"{minutes} minute{'s' if minutes != 1 else ''}")
    if secs or not minutes:
        parts.append(f"{secs} second{'s' if secs != 1 else ''}")
    return " ".join(parts)


def context(turn: Turn, *, fronts: bool = True, **options) -> Context:
    """This call's agent and what the step needs (``agent_context.load``): round trip 1."""
    departments = list(turn.config.departments) if fronts else None
    return agent_context.load(turn.ivr.redis, turn.call.sid, now=turn.now.timestamp(),
                              departments=departments, **options)


def add_agent_menu(turn: Turn, response: VoiceResponse, agent: Agent, batch: Batch,
                   queues: Context | None = None) -> None:
    """The menu, with the queues' state when ``queues`` (read in round trip 1) is given.

    An available agent hearing it is idle: a caller joining a queue is offered to them at once
    (``ivr.agents.offer``); that mark joins ``batch``, after any state change it depends on. An
    available agent arriving while callers wait hears that the longest-waiting one is being
    taken, and their silence takes them (``choice``; ``offer.take_at_menu``)."""
    m = turn.messages.agent
    taking = queues is not None and takes_front(agent, queues)
    gather = turn.speaker.gather(response, url_for("agent_line.choice"),
                                 timeout=offer.TAKE_WINDOW_SECONDS if taking else None)
    if agent.state is State.AVAILABLE:
        now = turn.now.timestamp()
        batch.op(lambda p: offer.mark_idle(p, agent.id, turn.call.sid, now))
    if queues is not None:
        oldest = min((f.entered for f in queues.fronts.values() if f is not None), default=None)
        if queues.waiting and oldest is not None:
            longest = spoken_duration(turn.now.timestamp() - oldest)
            turn.say(gather, m.waiting.format(waiting=queues.waiting, longest=longest))
        else:
            turn.say(gather, m.none_waiting)
    if agent.state is State.ON_BREAK:
        turn.say(gather, m.on_break)
    turn.say(gather, m.taking_next if taking else m.menu)
    response.redirect(url_for("agent_line.choice"), method="POST")


def takes_front(agent: Agent, queues: Context) -> bool:
    """Is this agent, at the menu, to be taken to the longest-waiting caller unless they
    press a key (``offer.take_at_menu``)?"""
    return offer.take_at_menu(agent.state, bool(agent.offer),
                              {d: f.entered if f else None for d, f in queues.fronts.items()})


def sign_in(turn: Turn, ctx: Context, response: VoiceResponse, batch: Batch) -> None:
    """Link this call to the agent, make them available, and give the menu (in ``batch``)."""
    agent = ctx.agent
    batch.op(lambda p: agents.link_call(p, turn.call.sid, agent.id))
    if agent.state is State.SIGNED_OUT:
        agent = agents.set_state(batch, agent, State.AVAILABLE, turn.now.timestamp(),
                                 reason="agent line")
    turn.say(response, turn.messages.agent.hello.format(first_name=agent.first_name))
    add_agent_menu(turn, response, agent, batch, ctx)


def fails_key(turn: Turn) -> str:
    return FAILS.format(caller=turn.call.from_ or "unknown")


def locked_out(turn: Turn) -> bool:
    fails = turn.ivr.redis.get(fails_key(turn))
    return int(fails or 0) >= turn.config.agents.lockout_failures


def record_failure(turn: Turn) -> bool:
    """Count a failed sign-in against the caller ID (one round trip); True if now locked out."""
    key = fails_key(turn)
    count: list[int] = []
    batch = turn.batch().event(Event.AGENT_LOGIN_FAILED, caller=mask(turn.call.from_))
    batch.op(lambda p: p.incr(key), then=lambda n: count.append(int(n)))
    batch.op(lambda p: p.expire(key, turn.config.agents.lockout_window))
    batch.commit("login")
    log.warning("agent line: failed sign-in from %s (call %s)", mask(turn.call.from_),
                turn.call.sid)
    return bool(count) and count[0] >= turn.config.agents.lockout_failures


def goodbye(turn: Turn, text: str) -> VoiceResponse:
    response = VoiceResponse()
    turn.say(response, text)
    response.hangup()
    return response


@bp.post("/agent/incoming")
def incoming():
    """The agent line's voice webhook: recognise the phone, or ask for agent number and PIN."""
    turn = Turn.begin()
    response = VoiceResponse()
    phone = turn.call.from_
    ctx = context(turn, index_key=agents.BY_PHONE.format(phone=phone)) if phone else None
    if ctx is not None and ctx.agent is not None:
        batch = turn.batch()
        sign_in(turn, ctx, response, batch)
        batch.commit("agent sign-in")
        return render(response)
    if locked_out(turn):
        return render(goodbye(turn, turn.messages.agent.locked))
    add_number_prompt(turn, response, tries=0)
    return render(response)


def add_number_prompt(turn: Turn, response: VoiceResponse, tries: int) -> None:
    action = url_for("agent_line.login_number", tries=tries)
    turn.speaker.ask(response, action, turn.messages.agent.enter_number, num_digits=4)


def _failed(turn: Turn, tries: int) -> VoiceResponse:
    locked = record_failure(turn)
    if tries + 1 >= turn.config.agents.pin_attempts or locked:
        return goodbye(turn, turn.messages.agent.locked)
    response = VoiceResponse()
    turn.say(response, turn.messages.agent.wrong)
    add_number_prompt(turn, response, tries + 1)
    return response


@bp.post("/agent/login/number")
def login_number():
    """Gather action: the agent number; then ask for the PIN."""
    turn = Turn.begin()
    tries = arg_int("tries")
    digits = (request.values.get("Digits") or "").strip()
    if not digits.isdigit():
        return render(_failed(turn, tries))
    response = VoiceResponse()
    action = url_for("agent_line.login_pin", agent=digits, tries=tries)
    turn.speaker.ask(response, action, turn.messages.agent.enter_pin, num_digits=None,
                     finish_on_key="#")
    return render(response)


@bp.post("/agent/login/pin")
def login_pin():
    """Gather action: check agent number and PIN together (no hint which one was wrong)."""
    turn = Turn.begin()
    tries = arg_int("tries")
    agent_id = request.args.get("agent", "")
    pin = (request.values.get("Digits") or "").strip()
    pipe = turn.ivr.redis.pipeline(transaction=False)
    pipe.get(fails_key(turn))
    if agent_id.isdigit():
        agent_context.queue_load(pipe, turn.call.sid, now=turn.now.timestamp(),
                                 agent_id=agent_id, departments=list(turn.config.departments))
    fails, *raw = pipe.execute()
    ctx = agent_context.parsed(raw[0]) if raw else Context(agent=None)
    if int(fails or 0) >= turn.config.agents.lockout_failures:
        return render(_failed(turn, tries))
    stored = ctx.agent.pin_hash if ctx.agent else ""
    if not agents.secret_matches(stored, pin) or ctx.agent is None:
        return render(_failed(turn, tries))
    response = VoiceResponse()
    batch = turn.batch()
    key = fails_key(turn)
    batch.op(lambda p: p.delete(key))
    sign_in(turn, ctx, response, batch)
    batch.commit("agent sign-in")
    return render(response)


def agent_step(view=None, *, fronts: bool = True, leaves_idle: bool = False,
               ends_line: bool = False):
    """For agent-line webhooks: pass the turn and this call's ``Context`` (its agent, and the
    queues' fronts unless ``fronts`` is False) read in one round trip; for a call we don't
    know as an agent's, start the sign-in again.

    ``leaves_idle``: a pressed key takes the agent out of the idle set in that round trip;
    ``ends_line``: a completed ``CallStatus`` marks the line ended there, once."""

    def wrap(view):
        @functools.wraps(view)
        def step(*args, **kwargs):
            turn = Turn.begin()
            ctx = context(
                turn, fronts=fronts,
                leave_idle=leaves_idle and bool((request.values.get("Digits") or "").strip()),
                end_line=ends_line and request.values.get("CallStatus") == "completed")
            if ctx.agent is None:
                return render(not_signed_in())
            return view(turn, ctx, *args, **kwargs)

        return step

    return wrap(view) if view is not None else wrap


def not_signed_in() -> VoiceResponse:
    """A request from a call we don't know as an agent: start the sign-in again."""
    response = VoiceResponse()
    response.redirect(url_for("agent_line.incoming"), method="POST")
    return response


@bp.post("/agent/menu")
@agent_step
def menu(turn: Turn, ctx: Context):
    """The agent menu, with the queues' state."""
    response = VoiceResponse()
    batch = turn.batch()
    add_agent_menu(turn, response, ctx.agent, batch, ctx)
    batch.commit("agent menu")
    return render(response)


@bp.post("/agent/menu/choice")
@agent_step(leaves_idle=True)
def choice(turn: Turn, ctx: Context):
    """Gather action for the agent menu."""
    digits = (request.values.get("Digits") or "").strip()
    response = VoiceResponse()
    agent = ctx.agent
    now = turn.now.timestamp()
    m = turn.messages.agent
    keys = turn.config.keys
    if digits and not ctx.left_idle:
        # A caller has just been offered to this agent: the take step is on its way (a REST
        # redirect), so no other choice may start meanwhile.
        response.pause(length=offer.HOLD_SECONDS)
        response.redirect(url_for("agent_line.menu"), method="POST")
        return render(response)
    if digits == keys.agent_take_next:
        response.redirect(url_for("agent_calls.take_next"), method="POST")
        return render(response)
    if digits == keys.agent_next_callback:
        response.redirect(url_for("agent_callbacks.next_callback"), method="POST")
        return render(response)
    batch = turn.batch()
    if digits == keys.agent_break:
        new = State.AVAILABLE if agent.state is State.ON_BREAK else State.ON_BREAK
        agent = agents.set_state(batch, agent, new, now, call_sid=turn.call.sid,
                                 reason="agent line")
        if new is State.AVAILABLE:
            turn.say(response, m.back)
        add_agent_menu(turn, response, agent, batch, ctx if new is State.AVAILABLE else None)
    elif digits == keys.agent_sign_out:
        agents.set_state(batch, agent, State.SIGNED_OUT, now, reason="agent line")
        response = goodbye(turn, m.signed_out)
    elif not digits and takes_front(agent, ctx):  # silence while callers wait: take one
        response.redirect(url_for("agent_calls.take_next"), method="POST")
    else:
        if not digits:
            response.pause(length=5)  # an idle agent: refresh the queue state every so often
        add_agent_menu(turn, response, agent, batch, ctx)
    batch.commit("agent menu choice")
    return render(response)
