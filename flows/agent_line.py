"""The agent line: advisors sign in by phone, hear the queues, and choose their next piece of work.

Caller ID never signs anyone in on its own, since it is trivially spoofed: a known agent phone
only saves its advisor keying their agent number (they are asked just the PIN, and told so);
anyone else keys an agent number and PIN. Three tries, then goodbye; failures lock out the
caller ID and, from any caller IDs, the agent number for a while (``ivr.agents.lockout``), and
every one is in the audit trail. A right PIN that the rules now refuse (``ivr.credentials``:
too short, too easy) signs nobody in: the advisor is told to have a supervisor set a new one.
"""

from __future__ import annotations

import functools
import logging

from flask import Blueprint, request, url_for
from twilio.twiml.voice_response import VoiceResponse

from flows.common import Turn, arg_int
from ivr import agents, audit, credentials
from ivr.agents import Agent, State, lockout, offer
from ivr.agents import context as agent_context
from ivr.agents.context import Context
from ivr.audit import Action
from ivr.events import Event
from ivr.phone import mask
from ivr.store import Batch
from ivr.twiml import render

log = logging.getLogger(__name__)
bp = Blueprint("agent_line", __name__)

FAILS = lockout.CALLER_FAILS  # a caller ID's failures (the key's name where it used to live)


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
    """The agent keyed the right PIN: forget the failures, link this call to them, make them
    available, record it in the audit trail, and give the menu (all in ``batch``)."""
    agent = ctx.agent
    caller, sid, now = turn.call.from_, turn.call.sid, turn.now.timestamp()
    by = "phone" if agent.phone and agent.phone == caller else "agent number"
    batch.op(lambda p: lockout.clear_failures(p, caller, agent.id))
    batch.op(lambda p: agents.link_call(p, sid, agent.id))
    batch.op(lambda p: audit.record(p, agent.id, Action.LINE_SIGNIN, agent.id, now=now,
                                    retention_days=turn.config.audit.retention_days,
                                    caller=mask(caller), call=sid, by=by))
    if agent.state is State.SIGNED_OUT:
        agent = agents.set_state(batch, agent, State.AVAILABLE, now, reason="agent line")
    turn.say(response, turn.messages.agent.hello.format(first_name=agent.first_name))
    add_agent_menu(turn, response, agent, batch, ctx)


def limits(turn: Turn) -> lockout.Limits:
    return lockout.Limits.of(turn.config.agents)


def record_failure(turn: Turn, agent_id: str, reason: str) -> bool:
    """Count a failed sign-in against the caller ID and the agent number, with its event and
    audit entries (one round trip); True if either is now locked out."""
    bounds = limits(turn)
    caller, sid, now = turn.call.from_, turn.call.sid, turn.now.timestamp()
    result: list[lockout.Failure] = []
    batch = turn.batch().event(Event.AGENT_LOGIN_FAILED, caller=mask(caller), agent=agent_id,
                               source="agent line", reason=reason)
    batch.op(lambda p: lockout.record_failure(
        p, caller=caller, agent_id=agent_id, call_sid=sid, now=now, limits=bounds,
        reason=reason, retention_days=turn.config.audit.retention_days),
        then=lambda raw: result.append(lockout.failure(raw, bounds)))
    batch.commit("login")
    log.warning("agent line: failed sign-in from %s (call %s; %s)", mask(caller), sid, reason)
    if result and result[0].agent_locked_now:
        log.warning("agent line: agent number %s locked out after %d failures", agent_id,
                    result[0].agent_failures)
    return bool(result) and result[0].locked


def goodbye(turn: Turn, text: str) -> VoiceResponse:
    response = VoiceResponse()
    turn.say(response, text)
    response.hangup()
    return response


@bp.post("/agent/incoming")
def incoming():
    """The agent line's voice webhook: ask a known phone for its advisor's PIN, anyone else
    for an agent number and PIN (one round trip: the caller ID's lockout, the phone's agent)."""
    turn = Turn.begin()
    response = VoiceResponse()
    phone = turn.call.from_
    pipe = turn.ivr.redis.pipeline(transaction=False)
    pipe.get(lockout.caller_key(phone))
    pipe.get(agents.BY_PHONE.format(phone=phone))
    fails, known = pipe.execute()
    if lockout.locked(fails, None, turn.now.timestamp(), limits(turn)):
        return render(goodbye(turn, turn.messages.agent.locked))
    if known and phone:
        add_pin_prompt(turn, response, known.decode(), tries=0, recognised=True)
    else:
        add_number_prompt(turn, response, tries=0)
    return render(response)


def add_number_prompt(turn: Turn, response: VoiceResponse, tries: int) -> None:
    action = url_for("agent_line.login_number", tries=tries)
    turn.speaker.ask(response, action, turn.messages.agent.enter_number, num_digits=4)


def add_pin_prompt(turn: Turn, response: VoiceResponse, agent_id: str, tries: int,
                   recognised: bool = False) -> None:
    """Ask the PIN for ``agent_id``; ``recognised``: the number came from the caller ID, so
    the advisor is told only the PIN is needed (and how to key another number instead)."""
    m = turn.messages.agent
    # the agent number (half the sign-in) travels sealed, out of access and proxy logs
    action = url_for("agent_line.login_pin", a=turn.ivr.sealer.seal(agent_id, turn.call.sid),
                     tries=tries)
    turn.speaker.ask(response, action, m.enter_pin_known if recognised else m.enter_pin,
                     num_digits=None, finish_on_key="#")


def _failed(turn: Turn, tries: int, agent_id: str = "", reason: str = "wrong pin"
            ) -> VoiceResponse:
    locked = record_failure(turn, agent_id, reason)
    if tries + 1 >= turn.config.agents.pin_attempts or locked:
        return goodbye(turn, turn.messages.agent.locked)
    response = VoiceResponse()
    turn.say(response, turn.messages.agent.wrong)
    add_number_prompt(turn, response, tries + 1)
    return response


def _pin_refused(turn: Turn, agent: Agent, rule: str) -> VoiceResponse:
    """The right PIN, but one ``ivr.credentials.check_pin`` refuses (set before the rules, or
    by hand): nobody is signed in; the advisor is told to have a supervisor set a new one
    (``ivr agents set-pin``). Not a failure towards a lockout: the PIN was right."""
    caller, sid, now = turn.call.from_, turn.call.sid, turn.now.timestamp()
    batch = turn.batch().event(Event.AGENT_LOGIN_FAILED, caller=mask(caller), agent=agent.id,
                               source="agent line", reason="pin refused by the rules")
    batch.op(lambda p: audit.record(p, agent.id, Action.LINE_SIGNIN_FAILED, agent.id, now=now,
                                    retention_days=turn.config.audit.retention_days,
                                    caller=mask(caller), call=sid,
                                    reason=f"PIN refused by the rules: {rule}"))
    batch.commit("login")
    log.warning("agent line: agent %s keyed a PIN the rules refuse (%s); not signed in",
                agent.id, rule)
    return goodbye(turn, turn.messages.agent.pin_too_weak)


@bp.post("/agent/login/number")
def login_number():
    """Gather action: the agent number; then ask for the PIN."""
    turn = Turn.begin()
    tries = arg_int("tries")
    digits = (request.values.get("Digits") or "").strip()
    if not digits.isdigit():
        return render(_failed(turn, tries, reason="no agent number"))
    response = VoiceResponse()
    add_pin_prompt(turn, response, digits, tries)
    return render(response)


@bp.post("/agent/login/pin")
def login_pin():
    """Gather action: check agent number and PIN together (no hint which one was wrong), after
    the caller ID's and the agent number's lockouts (a locked one is refused, PIN unchecked)."""
    turn = Turn.begin()
    tries = arg_int("tries")
    agent_id = turn.ivr.sealer.open(request.args.get("a", ""), turn.call.sid) or ""
    pin = (request.values.get("Digits") or "").strip()
    if pin == turn.config.keys.agent_other_number:  # a recognised phone, another advisor
        response = VoiceResponse()
        add_number_prompt(turn, response, tries)
        return render(response)
    pipe = turn.ivr.redis.pipeline(transaction=False)
    lockout.queue_check(pipe, turn.call.from_, agent_id)
    if lockout.counted(agent_id):
        agent_context.queue_load(pipe, turn.call.sid, now=turn.now.timestamp(),
                                 agent_id=agent_id, departments=list(turn.config.departments))
    fails, until, *raw = pipe.execute()
    ctx = agent_context.parsed(raw[0]) if raw else Context(agent=None)
    if lockout.locked(fails, until, turn.now.timestamp(), limits(turn)):
        return render(_failed(turn, tries, agent_id, "locked out"))
    stored = ctx.agent.pin_hash if ctx.agent else ""
    if not agents.secret_matches(stored, pin) or ctx.agent is None:
        return render(_failed(turn, tries, agent_id,
                              "wrong pin" if ctx.agent else "unknown agent number"))
    try:
        credentials.check_pin(pin, ctx.agent.id, ctx.agent.phone,
                              min_length=turn.config.agents.pin_min_length)
    except ValueError as exc:
        return render(_pin_refused(turn, ctx.agent, str(exc)))
    response = VoiceResponse()
    batch = turn.batch()
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
    if ctx.agent.state is State.SIGNED_OUT:  # signed out by hand (console, CLI) or reconcile
        return render(goodbye(turn, turn.messages.agent.signed_out))
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
    if agent.state is State.SIGNED_OUT:  # signed out by hand (console, CLI) or reconcile
        return render(goodbye(turn, m.signed_out))
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
