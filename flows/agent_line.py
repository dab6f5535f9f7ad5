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
from ivr import agents, offer, store
from ivr.agents import Agent, State
from ivr.events import Event
from ivr.phone import mask
from ivr.twiml import empty, render

log = logging.getLogger(__name__)
bp = Blueprint("agent_line", __name__)

FAILS = "ivr:agentfail:{caller}"


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


def agent_departments(turn: Turn, agent: Agent) -> list[str]:
    return list(agent.departments) or list(turn.config.departments)


def current_agent(turn: Turn) -> Agent | None:
    return agents.for_call(turn.ivr.redis, turn.call.sid)


Front = tuple[str, float]  # the longest-waiting caller's SID and the time they joined


def queue_fronts(turn: Turn, departments: list[str], pipe=None,
                 ) -> tuple[dict[str, Front | None], int]:
    """Each department's longest-waiting caller, and how many wait in all (one round trip,
    shared with whatever is already queued on ``pipe``)."""
    pipe = pipe if pipe is not None else turn.ivr.redis.pipeline(transaction=False)
    skip = len(pipe.command_stack)
    for dept in departments:
        pipe.zrange(store.queue_key(dept), 0, 0, withscores=True)
        pipe.zcard(store.queue_key(dept))
    results = pipe.execute()[skip:]
    fronts: dict[str, Front | None] = {}
    total = 0
    for i, dept in enumerate(departments):
        front, count = results[2 * i], results[2 * i + 1]
        fronts[dept] = (front[0][0].decode(), front[0][1]) if front else None
        total += int(count)
    return fronts, total


def add_agent_menu(turn: Turn, response: VoiceResponse, agent: Agent, *, status: bool = True):
    """The menu. An available agent hearing it is idle: a caller joining a queue is offered
    to them at once (``ivr.offer``), marked in the same round trip as the queues are read."""
    m = turn.messages.agent
    gather = turn.speaker.gather(response, url_for("agent_line.choice"))
    pipe = turn.ivr.redis.pipeline(transaction=False)
    if agent.state is State.AVAILABLE:
        offer.mark_idle(pipe, agent.id, turn.call.sid, turn.now.timestamp())
    if not status and len(pipe):
        pipe.execute()
    if status:
        fronts, waiting = queue_fronts(turn, agent_departments(turn, agent), pipe)
        oldest = min((f[1] for f in fronts.values() if f is not None), default=None)
        if waiting and oldest is not None:
            longest = spoken_duration(turn.now.timestamp() - oldest)
            turn.say(gather, m.waiting.format(waiting=waiting, longest=longest))
        else:
            turn.say(gather, m.none_waiting)
    if agent.state is State.ON_BREAK:
        turn.say(gather, m.on_break)
    turn.say(gather, m.menu)
    response.redirect(url_for("agent_line.choice"), method="POST")


def sign_in(turn: Turn, agent: Agent, response: VoiceResponse) -> None:
    r = turn.ivr.redis
    pipe = r.pipeline(transaction=False)
    agents.link_call(pipe, turn.call.sid, agent.id)
    if agent.state is State.SIGNED_OUT:
        agent = agents.set_state(pipe, agent, State.AVAILABLE, turn.now.timestamp(),
                                 reason="agent line")
    pipe.execute()
    turn.say(response, turn.messages.agent.hello.format(first_name=agent.first_name))
    add_agent_menu(turn, response, agent)


def locked_out(turn: Turn) -> bool:
    fails = turn.ivr.redis.get(FAILS.format(caller=turn.call.from_ or "unknown"))
    return int(fails or 0) >= turn.config.agents.lockout_failures


def record_failure(turn: Turn) -> None:
    key = FAILS.format(caller=turn.call.from_ or "unknown")
    pipe = turn.ivr.redis.pipeline(transaction=False)
    pipe.incr(key)
    pipe.expire(key, turn.config.agents.lockout_window)
    pipe.execute()
    turn.batch().event(Event.AGENT_LOGIN_FAILED, caller=mask(turn.call.from_)).commit("login")
    log.warning("agent line: failed sign-in from %s (call %s)", mask(turn.call.from_),
                turn.call.sid)


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
    agent = agents.by_phone(turn.ivr.redis, turn.call.from_)
    if agent:
        sign_in(turn, agent, response)
        return render(response)
    if locked_out(turn):
        return render(goodbye(turn, turn.messages.agent.locked))
    add_number_prompt(turn, response, tries=0)
    return render(response)


def add_number_prompt(turn: Turn, response: VoiceResponse, tries: int) -> None:
    action = url_for("agent_line.login_number", tries=tries)
    turn.speaker.ask(response, action, turn.messages.agent.enter_number, num_digits=4)


def _failed(turn: Turn, tries: int) -> VoiceResponse:
    record_failure(turn)
    if tries + 1 >= turn.config.agents.pin_attempts or locked_out(turn):
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
    if locked_out(turn) or not agents.check_secret(turn.ivr.redis, agent_id, "pin_hash", pin):
        return render(_failed(turn, tries))
    agent = agents.get(turn.ivr.redis, agent_id)
    if agent is None:
        return render(_failed(turn, tries))
    turn.ivr.redis.delete(FAILS.format(caller=turn.call.from_ or "unknown"))
    response = VoiceResponse()
    sign_in(turn, agent, response)
    return render(response)


def agent_step(view):
    """For agent-line webhooks: pass the turn and the agent on this call, or, for a call we
    don't know as an agent's, start the sign-in again."""

    @functools.wraps(view)
    def step(*args, **kwargs):
        turn = Turn.begin()
        agent = current_agent(turn)
        if agent is None:
            return render(not_signed_in())
        return view(turn, agent, *args, **kwargs)

    return step


def not_signed_in() -> VoiceResponse:
    """A request from a call we don't know as an agent: start the sign-in again."""
    response = VoiceResponse()
    response.redirect(url_for("agent_line.incoming"), method="POST")
    return response


@bp.post("/agent/menu")
@agent_step
def menu(turn: Turn, agent: Agent):
    """The agent menu, with the queues' state."""
    response = VoiceResponse()
    add_agent_menu(turn, response, agent)
    return render(response)


@bp.post("/agent/menu/choice")
@agent_step
def choice(turn: Turn, agent: Agent):
    """Gather action for the agent menu."""
    digits = (request.values.get("Digits") or "").strip()
    response = VoiceResponse()
    r = turn.ivr.redis
    now = turn.now.timestamp()
    m = turn.messages.agent
    keys = turn.config.keys
    if digits and not offer.leave_idle(r, agent.id, now):
        # A caller has just been offered to this agent: the take step is on its way (a REST
        # redirect), so no other choice may start meanwhile.
        response.pause(length=offer.HOLD_SECONDS)
        response.redirect(url_for("agent_line.menu"), method="POST")
        return render(response)
    if digits == keys.agent_take_next:
        response.redirect(url_for("agent_calls.take_next"), method="POST")
    elif digits == keys.agent_next_callback:
        response.redirect(url_for("agent_callbacks.next_callback"), method="POST")
    elif digits == keys.agent_break:
        new = State.AVAILABLE if agent.state is State.ON_BREAK else State.ON_BREAK
        agent = agents.set_state(r, agent, new, now, call_sid=turn.call.sid,
                                 reason="agent line")
        if new is State.AVAILABLE:
            turn.say(response, m.back)
        add_agent_menu(turn, response, agent, status=new is State.AVAILABLE)
    elif digits == keys.agent_sign_out:
        agents.set_state(r, agent, State.SIGNED_OUT, now, reason="agent line")
        return render(goodbye(turn, m.signed_out))
    else:
        if not digits:
            response.pause(length=5)  # an idle agent: refresh the queue state every so often
        add_agent_menu(turn, response, agent)
    return render(response)


@bp.post("/agent/status")
def status():
    """Status callback of the agent line: an agent who hangs up mid-call goes to wrap-up."""
    from flows.agent_calls import agent_hung_up  # the call module builds on this one

    turn = Turn.begin()
    if request.values.get("CallStatus") in {"completed", "busy", "failed", "no-answer",
                                            "canceled"}:
        agent = current_agent(turn)
        if agent is not None:
            agent_hung_up(turn, agent)
    return empty()
