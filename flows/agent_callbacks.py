"""Working callbacks by phone: hear the next due voicemail, call the resident, log the outcome.

The resident hears, when they answer, that the council is returning their call and that calls
may be recorded (the ``<Number url>`` document). A callback is done only when answered.

Each step costs at most two Redis round trips (``callback_step``): the agent context and the
step's callbacks script (find and claim the next task, keep the claim, log the attempt)
pipelined together, then the request's batch with its writes and events.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, request, url_for
from redis.exceptions import RedisError
from twilio.twiml.voice_response import VoiceResponse

from flows.agent_calls import _wrap_up_prompt
from flows.agent_line import add_agent_menu, not_signed_in
from flows.common import Turn, external
from flows.recordings import advisor_recording
from ivr import agents, messaging, recordings, twilio_rest
from ivr.agents import Agent, State
from ivr.agents import context as agent_context
from ivr.agents.context import Context
from ivr.calendar import spoken_day, spoken_time
from ivr.events import Event
from ivr.messaging import SEND_SMS
from ivr.phone import is_uk_mobile, national_format, relay_dial_string
from ivr.store import Batch
from ivr.twiml import render
from voicemail import callbacks
from voicemail.tasks import TASK

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
        caller_id=turn.config.council.main_number, **advisor_recording(turn),
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


def callback_step(reads: Callable[[Turn, Any], Callable[[Any], Any]], *, fronts: bool = True):
    """Like ``agent_step``, and the step's own callbacks script rides in the same round trip.

    ``reads(turn, pipe)`` queues a ``voicemail.callbacks`` script (it finds the agent from
    this call's link itself) and returns its reply's parser; the view gets the turn, the
    ``Context`` (the queues' fronts unless ``fronts`` is False) and that parsed reply, then
    sends its writes and events in the request's batch: two round trips in all.
    """

    def wrap(view):
        @functools.wraps(view)
        def step(*args, **kwargs):
            turn = Turn.begin()
            ctx, found = agent_context.load_with(
                turn.ivr.redis, turn.call.sid, now=turn.now.timestamp(),
                departments=list(turn.config.departments) if fronts else None,
                queue=lambda pipe: reads(turn, pipe))
            if ctx.agent is None:
                return render(not_signed_in())
            return view(turn, ctx, found, *args, **kwargs)

        return step

    return wrap


def line_link(turn: Turn) -> str:
    """The key naming the agent on this agent-line call (the scripts read it themselves)."""
    return agents.AGENT_CALL.format(sid=turn.call.sid)


def claim_next(turn: Turn, pipe: Any) -> Callable[[Any], callbacks.Claimed | None]:
    """The next due task this agent may work by phone (with a number), claimed."""
    return callbacks.next_due(pipe, index_key=line_link(turn),
                              departments=list(turn.config.departments),
                              now=turn.now.timestamp(), with_number=True,
                              retention_days=turn.config.events.retention_days)


@bp.post("/agent/callback/next")
@callback_step(claim_next, fronts=False)
def next_callback(turn: Turn, ctx: Context, claimed: callbacks.Claimed | None):
    """The next due callback (overdue first) for the agent's departments."""
    agent = ctx.agent
    response = VoiceResponse()
    batch = turn.batch()
    if claimed is None:
        turn.say(response, turn.messages.agent.no_callbacks)
        add_agent_menu(turn, response, agent, batch)
        batch.commit("no callback due")
        return render(response)
    task = claimed.task
    add_task_summary(turn, response, task)
    turn.say(response, turn.messages.agent.callback_message)
    for rec in json.loads(task.get("recordings", "[]")):
        if rec.get("url"):
            response.play(rec["url"] + ".mp3")
    if task.get("number"):
        add_callback_choice(turn, response, task["id"])
    else:  # nothing to dial: back to the menu (the task stays for the console)
        batch.op(lambda p: callbacks.release_claim(p, task["id"], agent.id))
        add_agent_menu(turn, response, agent, batch)
    batch.commit("next callback")
    return render(response)


def add_callback_choice(turn: Turn, response: VoiceResponse, task_id: str) -> None:
    action = url_for("agent_callbacks.choice", task=task_id)
    turn.speaker.ask(response, action, turn.messages.agent.callback_choice)


def pressed() -> str:
    return (request.values.get("Digits") or "").strip()


def hold_to_call(turn: Turn, pipe: Any) -> Callable[[Any], callbacks.Held]:
    """The task; and, when the agent pressed call now, their claim on it kept (or taken again
    if it lapsed and no one else has it)."""
    return callbacks.hold(pipe, request.args.get("task", ""), index_key=line_link(turn),
                          take=pressed() == turn.config.keys.callback_call_now)


def skip_not_saved(turn: Turn) -> VoiceResponse:
    """A skip Redis did not take: say so (the claim holds the task until it lapses, so no one
    is told a lie about the list), then back to the menu, which has its own rescue.

    Told rather than spooled and replayed: a skip replayed minutes later would act on a claim
    that may have lapsed and passed to another advisor, and by then it changes nothing the
    lapse has not (the task is back on the list), so replaying it would be wrong or moot."""
    response = VoiceResponse()
    turn.say(response, turn.messages.agent.callback_skip_failed.format(
        minutes=callbacks.CLAIM_SECONDS // 60))
    response.redirect(url_for("agent_line.menu"), method="POST")
    return response


def tells_a_lost_skip(view):
    """Around ``choice``: Redis failing before a skip is saved (round trip 1) is told to the
    agent; other keys keep the agent line's fail-safe (an apology, then the menu)."""

    @functools.wraps(view)
    def step(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except RedisError as exc:
            turn = Turn.begin()
            if pressed() != turn.config.keys.callback_skip:
                raise
            log.warning("callback %s: skip by call %s not saved: %s",
                        request.args.get("task", ""), turn.call.sid, exc)
            return render(skip_not_saved(turn))

    return step


@bp.post("/agent/callback/choice")
@tells_a_lost_skip
@callback_step(hold_to_call)
def choice(turn: Turn, ctx: Context, found: callbacks.Held):
    """Gather action: 1 calls the resident now; 2 skips; silence or another key asks again."""
    agent = ctx.agent
    task_id = request.args.get("task", "")
    digits = pressed()
    response = VoiceResponse()
    if found.workable and digits not in (turn.config.keys.callback_call_now,
                                         turn.config.keys.callback_skip):
        add_callback_choice(turn, response, task_id)
        return render(response)
    batch = turn.batch()
    if found.held:  # calling needs this agent's claim: never two agents ringing one resident
        add_callback_dial(turn, response, agent, found.task, batch)
    else:
        now = turn.now.timestamp()
        skipping = bool(found.task) and digits == turn.config.keys.callback_skip
        if skipping:
            batch.op(lambda p: callbacks.skip(p, task_id, agent.id, now))
        elif found.task:
            batch.op(lambda p: callbacks.release_claim(p, task_id, agent.id))
        add_agent_menu(turn, response, agent, batch, ctx)
        if batch.commit("callback choice") is None and skipping:
            log.warning("callback %s: skip by agent %s not saved", task_id, agent.id)
            return render(skip_not_saved(turn))
        return render(response)
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
                  retry=messaging.RETRY,
                  description=f"unreachable callback {task['id']}")


def report_attempt(turn: Turn, task_id: str, outcome: callbacks.Outcome,
                   found: callbacks.Attempt, batch: Batch) -> None:
    """The events of a logged attempt (and the unreachable SMS) in ``batch``, from the task's
    fields the attempt script returned. A repeated report (not logged) adds nothing."""
    if not found.logged:
        log.warning("callback %s: attempt (%s) ignored, the task is %s", task_id, outcome,
                    found.status or "unknown")
        return
    dept = found.task.get("department")
    batch.event(Event.CALLBACK_ATTEMPT, dept, task=task_id, agent=found.agent_id,
                outcome=str(outcome), attempt=found.count)
    if found.status == "done":
        batch.event(Event.CALLBACK_DONE, dept, task=task_id, agent=found.agent_id,
                    attempts=found.count)
    elif found.status == "unreachable":
        batch.event(Event.CALLBACK_UNREACHABLE, dept, task=task_id, attempts=found.count)
        unreachable_sms(turn, found.task, found.count, batch)
    if found.closed_now:
        delete_voicemails_later(turn, task_id, found, batch)


def delete_voicemails_later(turn: Turn, task_id: str, found: callbacks.Attempt,
                            batch: Batch) -> None:
    """A closed task's recordings are deleted at Twilio when its details expire in Redis."""
    at = float(found.task.get("closed_at") or turn.now.timestamp()) + callbacks.kept_for(
        turn.config.callbacks_work.keep_closed_tasks)
    for sid in found.recordings:
        recordings.schedule_deletion(batch, turn.ivr.callbacks, sid, at,
                                     recordings.Kind.VOICEMAIL, task_id)


def log_attempt(turn: Turn, agent: Agent, task_id: str, outcome: callbacks.Outcome,
                call_sid: str = "") -> callbacks.Attempt:
    """Log one attempt made from the console: the script, then its events and the SMS in a
    batch of their own (two round trips), as the agent line's result step reports them."""
    cfg = turn.config.callbacks_work
    found = callbacks.log_attempt(
        turn.ivr.redis, task_id, agent_id=agent.id, outcome=outcome, now=turn.now.timestamp(),
        retry_gap=cfg.retry_gap, max_attempts=cfg.max_attempts,
        keep_closed=cfg.keep_closed_tasks, call_sid=call_sid)
    batch = turn.batch()
    report_attempt(turn, task_id, outcome, found, batch)
    batch.commit(f"callback attempt ({found.status})")
    return found


def dialled(turn: Turn, pipe: Any) -> Callable[[Any], callbacks.Attempt]:
    """Log the attempt the Dial action reports (atomic; a repeated report changes nothing)."""
    cfg = turn.config.callbacks_work
    return callbacks.queue_attempt(
        pipe, request.args.get("task", ""), index_key=line_link(turn),
        outcome=callbacks.outcome_from_dial(request.values.get("DialCallStatus")),
        now=turn.now.timestamp(), retry_gap=cfg.retry_gap, max_attempts=cfg.max_attempts,
        keep_closed=cfg.keep_closed_tasks, call_sid=request.values.get("DialCallSid", ""))


@bp.post("/agent/callback/result")
@callback_step(dialled)
def result(turn: Turn, ctx: Context, found: callbacks.Attempt):
    """Dial action: log the attempt; answered closes the task, else retry later or close."""
    agent = ctx.agent
    outcome = callbacks.outcome_from_dial(request.values.get("DialCallStatus"))
    now = turn.now.timestamp()
    batch = turn.batch()
    report_attempt(turn, request.args.get("task", ""), outcome, found, batch)
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


def _decoded(raw: dict) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}


@bp.post("/agent/callback/bridge")
def bridge():
    """Click-to-call from the console: the agent's phone answered; now ring the resident.

    The agent and the task in one pipeline (round trip 1), the writes in the batch (2)."""
    turn = Turn.begin()
    pipe = turn.ivr.redis.pipeline(transaction=False)
    pipe.hgetall(agents.AGENT.format(id=request.args.get("agent", "")))
    pipe.hgetall(TASK.format(id=request.args.get("task", "")))
    found_agent, task = (_decoded(raw) for raw in pipe.execute())
    response = VoiceResponse()
    if not found_agent or task.get("status") != "open" or not task.get("number"):
        turn.say(response, turn.messages.agent.no_callbacks)
        response.hangup()
        return render(response)
    agent = agents.from_hash(found_agent)
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
        status_callback=external("agent_calls.status"),
    )
    return call.sid
