"""Working callbacks by phone: hear the next due voicemail, call the resident, log the outcome.

The resident hears, when they answer, that the council is returning their call and that calls
may be recorded (the ``<Number url>`` document). A callback is done only when answered.

Each dial is one attempt: pressing 1 (or the console's Call back) starts it only with the
claim, no other dial of the task in progress and the retry gap passed, and marks the task
(``voicemail.callbacks.DIALLING``); the ``<Dial>`` action logs its result and clears the mark.
Who dialled and who recorded which outcome go to the audit trail (``ivr.audit``).

Each step costs at most two Redis round trips (``callback_step``): the agent context and the
step's callbacks script (find and claim the next task, keep the claim, log the attempt)
pipelined together, then the request's batch with its writes and events.
"""

from __future__ import annotations

import functools
import json
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, request, url_for
from redis.exceptions import RedisError
from twilio.twiml.voice_response import VoiceResponse

from flows import agent_calls
from flows.agent_calls import _wrap_up_prompt
from flows.agent_line import add_agent_menu, not_signed_in
from flows.common import Turn, external
from flows.recordings import advisor_recording
from ivr import agents, audit, messaging, recordings, twilio_rest
from ivr.agents import Agent, State
from ivr.agents import context as agent_context
from ivr.agents.context import Context
from ivr.calendar import spoken_day, spoken_time
from ivr.events import Event
from ivr.messaging import SEND_SMS
from ivr.phone import is_uk_mobile, national_format, relay_dial_string
from ivr.store import Batch
from ivr.twiml import empty, render
from voicemail import callbacks
from voicemail.tasks import TASK

log = logging.getLogger(__name__)
bp = Blueprint("agent_callbacks", __name__)

CALL_ENDED = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


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
    dial.number(dial_string(turn, task), url=url_for("agent_callbacks.announce", task=task["id"]),
                method="POST")


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
    if it lapsed and no one else has it) and the dial started from this call, unless a dial
    of it is in progress or the retry gap has not passed."""
    calling = pressed() == turn.config.keys.callback_call_now
    return callbacks.hold(pipe, request.args.get("task", ""), index_key=line_link(turn),
                          take=calling, now=turn.now.timestamp(),
                          dial=turn.call.sid if calling else "",
                          dial_call=turn.call.sid if calling else "")


def refusal(turn: Turn, reason: callbacks.Refusal, task: dict[str, str]) -> str:
    """What the agent hears when a dial (or a dial's result) is refused; "" when nothing."""
    m = turn.messages.agent
    if reason is callbacks.Refusal.CLAIMED:
        return m.callback_taken
    if reason is callbacks.Refusal.DIALLING:
        return m.callback_in_progress
    if reason is callbacks.Refusal.TOO_SOON and task.get("next_attempt_at"):
        return m.callback_too_soon.format(
            when=spoken_when(turn, float(task["next_attempt_at"])))
    return ""


def audit_later(turn: Turn, batch: Batch, actor: str, action: audit.Action, task_id: str,
                **detail: Any) -> None:
    """An audit entry written with ``batch`` (no full number in ``detail``: ids only)."""
    at, days = turn.now.timestamp(), turn.config.audit.retention_days
    given = {k: v for k, v in detail.items() if v is not None}
    batch.op(lambda p: audit.record(p, actor, action, task_id, now=at, retention_days=days,
                                    **given))


def audit_dial(turn: Turn, batch: Batch, agent: Agent, task: dict[str, str], via: str,
               call_sid: str) -> None:
    """CALLBACK_DIALLED: who started which attempt of which task, from where (the call SID)."""
    audit_later(turn, batch, agent.id, audit.Action.CALLBACK_DIALLED, task.get("id", ""),
                via=via, call=call_sid, attempt=int(task.get("attempts") or 0) + 1)


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
        audit_dial(turn, batch, agent, found.task, "phone", turn.call.sid)
    else:
        now = turn.now.timestamp()
        skipping = bool(found.task) and digits == turn.config.keys.callback_skip
        if skipping:
            batch.op(lambda p: callbacks.skip(p, task_id, agent.id, now))
        elif found.task and found.reason is not callbacks.Refusal.DIALLING:  # (a call keeps it)
            batch.op(lambda p: callbacks.release_claim(p, task_id, agent.id))
        told = refusal(turn, found.reason, found.task)
        if told:  # another advisor has it, a call of it is on, or it is too soon to try again
            log.info("callback %s: agent %s may not call it now (%s)", task_id, agent.id,
                     found.reason)
            turn.say(response, told)
        add_agent_menu(turn, response, agent, batch, ctx)
        if batch.commit("callback choice") is None and skipping:
            log.warning("callback %s: skip by agent %s not saved", task_id, agent.id)
            return render(skip_not_saved(turn))
        return render(response)
    batch.commit("callback choice")
    return render(response)


@bp.post("/agent/callback/announce")
def announce():
    """<Number url> on the resident's leg, once they answer: who is calling, and recording.
    The console's card then says the resident answered (``DIAL_ANSWERED``, naming the
    advisor's call, the parent leg); a failed write only loses that line of the card."""
    turn = Turn.begin()
    task_id, parent = request.args.get("task", ""), request.values.get("ParentCallSid", "")
    if task_id and parent:
        try:
            turn.ivr.redis.set(callbacks.DIAL_ANSWERED.format(id=task_id), parent,
                               ex=callbacks.DIAL_SECONDS)
        except RedisError as exc:
            log.warning("callback %s: the resident's answer not noted: %s", task_id, exc)
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
                   found: callbacks.Attempt, batch: Batch, call_sid: str = "") -> None:
    """The events and audit entry of a logged attempt (and the unreachable SMS) in ``batch``,
    from the task's fields the attempt script returned. A refused or repeated report (not
    logged) adds nothing."""
    if not found.logged:
        log.warning("callback %s: attempt (%s) by agent %s not logged (%s), the task is %s",
                    task_id, outcome, found.agent_id or "unknown", found.reason or "repeat",
                    found.status or "unknown")
        return
    dept = found.task.get("department")
    marks = {"manual": True} if found.manual else {}
    if found.supervisor:
        marks |= {"supervisor": True} | ({"claimed_by": found.who} if found.who else {})
    batch.event(Event.CALLBACK_ATTEMPT, dept, task=task_id, agent=found.agent_id,
                outcome=str(outcome), attempt=found.count, **marks)
    audit_later(turn, batch, found.agent_id, audit.Action.OUTCOME_RECORDED, task_id,
                outcome=str(outcome), manual=found.manual, attempt=found.count,
                status=found.status, supervisor=found.supervisor,
                claimed_by=found.who or None, call=call_sid or None)
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
                call_sid: str = "", *, manual: bool = False,
                expected: int | None = None) -> callbacks.Attempt:
    """Log one attempt made from the console (``manual``: by hand, the task having had
    ``expected`` attempts when the advisor saw it): the script, then its events, audit entry
    and the SMS in a batch of their own (two round trips), as the agent line's result step
    reports them."""
    cfg = turn.config.callbacks_work
    found = callbacks.log_attempt(
        turn.ivr.redis, task_id, agent_id=agent.id, outcome=outcome, now=turn.now.timestamp(),
        retry_gap=cfg.retry_gap, max_attempts=cfg.max_attempts,
        keep_closed=cfg.keep_closed_tasks, call_sid=call_sid, manual=manual,
        expected=expected)
    batch = turn.batch()
    report_attempt(turn, task_id, outcome, found, batch, call_sid)
    batch.commit(f"callback attempt ({found.status})")
    return found


def dialled(turn: Turn, pipe: Any) -> Callable[[Any], callbacks.Attempt]:
    """Log the attempt the Dial action reports (atomic; a repeated report changes nothing):
    this call's dial, which the task's marker names, or refused."""
    cfg = turn.config.callbacks_work
    return callbacks.queue_attempt(
        pipe, request.args.get("task", ""), index_key=line_link(turn),
        outcome=callbacks.outcome_from_dial(request.values.get("DialCallStatus")),
        now=turn.now.timestamp(), retry_gap=cfg.retry_gap, max_attempts=cfg.max_attempts,
        keep_closed=cfg.keep_closed_tasks, call_sid=request.values.get("DialCallSid", ""),
        dialled_from=turn.call.sid)


@bp.post("/agent/callback/result")
@callback_step(dialled)
def result(turn: Turn, ctx: Context, found: callbacks.Attempt):
    """Dial action: log the attempt; answered closes the task, else retry later or close."""
    agent = ctx.agent
    outcome = callbacks.outcome_from_dial(request.values.get("DialCallStatus"))
    now = turn.now.timestamp()
    batch = turn.batch()
    report_attempt(turn, request.args.get("task", ""), outcome, found, batch,
                   request.values.get("DialCallSid", ""))
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
    told = "" if found.logged else refusal(turn, found.reason, found.task)
    if told:
        turn.say(response, told)
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

    Only for the dial the console started (``dial``, still the task's marker, now naming this
    call). The agent, the task and the marker in one pipeline (round trip 1), the writes in
    the batch (2)."""
    turn = Turn.begin()
    task_id, dial = request.args.get("task", ""), request.args.get("dial", "")
    pipe = turn.ivr.redis.pipeline(transaction=False)
    pipe.hgetall(agents.AGENT.format(id=request.args.get("agent", "")))
    pipe.hgetall(TASK.format(id=task_id))
    callbacks.note_dial_call(pipe, task_id, dial, turn.call.sid)
    raw_agent, raw_task, ours = pipe.execute()
    found_agent, task = _decoded(raw_agent), _decoded(raw_task)
    response = VoiceResponse()
    if (not found_agent or task.get("status") != "open" or not task.get("number")
            or not dial or not ours):
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


@bp.post("/agent/callback/status")
def dial_status():
    """Status callback of the console's click-to-call: once it has ended, its dial's marker
    goes (with the claim it kept) if no result cleared it, e.g. the advisor's phone was not
    answered and the resident never rung; then the agent line's own status handling."""
    call_status = request.values.get("CallStatus", "")
    try:
        if call_status in CALL_ENDED:
            ended = callbacks.end_dial(current_app.extensions["ivr"].redis,
                                       request.args.get("task", ""),
                                       request.args.get("dial", ""))
            if ended:
                log.info("callback %s: the console's call %s ended (%s) with no result",
                         request.args.get("task", ""), request.values.get("CallSid", ""),
                         call_status)
        return agent_calls.status()
    except RedisError as exc:  # the marker lapses by itself (DIAL_SECONDS); Twilio needs no TwiML
        log.warning("callback %s: status of the console's call not handled: %s",
                    request.args.get("task", ""), exc)
        return empty()


def new_dial() -> str:
    """A token naming one console dial, before Twilio has given its call a SID."""
    return "DL" + secrets.token_hex(12)


def start_click_to_call(agent: Agent, task_id: str, caller_id: str, dial: str) -> str:
    """REST: ring the agent's phone first; when they answer, the bridge document dials out.

    Called from a console request (needs its request context for the callback URLs), once the
    dial has been started (``voicemail.callbacks.hold`` with ``dial``).
    """
    call = twilio_rest.client().calls.create(
        to=agent.phone, from_=caller_id, method="POST",
        url=external("agent_callbacks.bridge", task=task_id, agent=agent.id, dial=dial),
        status_callback=external("agent_callbacks.dial_status", task=task_id, dial=dial),
    )
    return call.sid
