"""Department queues: enqueue, the hold loop, and why each caller left.

The hold loop tells callers their position and an estimated wait from answer times this system
measured, plays hold audio in short segments, and takes the caller to voicemail at the limit.
"""

from __future__ import annotations

import logging

from flask import Blueprint, request, url_for
from redis.exceptions import RedisError
from twilio.twiml.voice_response import VoiceResponse

from flows import agent_offer
from flows.agent_offer import Claim
from flows.common import Turn, form_int
from flows.feedback import add_feedback_or_goodbye
from ivr import agents, store
from ivr.agents import offer
from ivr.config import Messages
from ivr.controls import queue_closed
from ivr.events import Event
from ivr.hold import (
    Deadline,
    LeaveReason,
    Step,
    WaitPhrase,
    deadline_phrase,
    estimate_wait,
    leave_reason,
    plan_hold,
    speaking_seconds,
    wait_phrase,
    wait_to_speak,
)
from ivr.phone import mask
from ivr.store import Batch
from ivr.twiml import render

log = logging.getLogger(__name__)
bp = Blueprint("queue", __name__)

LEAVE_EVENTS = {
    LeaveReason.ANSWERED: Event.CONNECT,
    LeaveReason.TIMED_OUT: Event.EXIT_TIMEOUT,
    LeaveReason.HUNG_UP: Event.ABANDON,
    LeaveReason.QUEUE_FULL: Event.FULL,
    LeaveReason.ERROR: Event.EXIT_ERROR,
}


def enqueue_verb(turn: Turn, response: VoiceResponse, dept: str) -> None:
    """The <Enqueue> itself: needs no Redis, so the fail-safe can use it too."""
    department = turn.config.department(dept)
    response.enqueue(
        department.queue,
        action=url_for("queue.left", dept=dept),
        method="POST",
        wait_url=url_for("queue.wait", dept=dept),
        wait_url_method="POST",
        max_queue_size=turn.config.queue.max_size,
    )


def anyone_on_duty(turn: Turn, dept: str) -> bool:
    """Is an advisor signed in for ``dept``? Unknown (Redis down) counts as yes: queue them.
    The live controls are read in the same round trip."""
    check = turn.config.agents.no_agent_voicemail
    pipe = turn.ivr.redis.pipeline(transaction=False)
    fetch = turn.controls_on(pipe)
    if check:
        agents.count_on_duty(pipe, dept)
    if not (fetch or check):
        return True
    try:
        replies = pipe.execute()
    except RedisError:
        return True
    if fetch:
        turn.controls_read(replies.pop(0))
    return not check or any(replies)


def duty_and_claim(turn: Turn, dept: str) -> tuple[bool, Claim | None]:
    """``anyone_on_duty``, and the claim of an idle advisor for this caller (the push), in one
    round trip. A claimed advisor is on duty; nobody on duty means nobody to claim."""
    check = turn.config.agents.no_agent_voicemail
    pipe = turn.ivr.redis.pipeline(transaction=False)
    fetch = turn.controls_on(pipe)  # the live controls, in the same round trip
    if check:
        agents.count_on_duty(pipe, dept)
    agent_offer.claim_on(pipe, turn, dept)
    try:
        replies = pipe.execute()
    except RedisError:
        return True, None
    if fetch:
        turn.controls_read(replies.pop(0))
    *counts, result = replies
    claim = agent_offer.claimed(result)
    return (not check or any(counts) or claim is not None), claim


def add_enqueue(turn: Turn, response: VoiceResponse, dept: str, batch: Batch,
                found: tuple[bool, Claim | None] | None = None) -> None:
    """Put the caller in the department's queue, or offer voicemail at once when the lines
    have just closed (or a live closure holds), a supervisor closed the queue, or no advisor
    for the department is signed in (no wait for nothing).

    One read first (who is on duty, and the push's claim: ``found`` when the step made it
    already); the rest joins ``batch``."""
    department = turn.config.department(dept)
    # the live controls are read with it (or with the step's own read)
    on_duty, claim = found if found is not None else duty_and_claim(turn, dept)
    closed, lines_open = queue_closed(turn.controls, dept), turn.is_open()
    if closed is not None or not lines_open:  # the queue closed, or the lines
        if claim is not None:  # (rare: an extra round trip) the advisor stays offerable
            offer.release(turn.ivr.redis, claim.agent, turn.call.sid)
        if closed is not None and lines_open:  # a supervisor closed it: a voicemail at once
            turn.say(response, closed.message
                     or turn.messages.queue_closed.format(department=department.name))
            batch.event(Event.NO_AGENTS, dept, queue_closed=True)
        response.redirect(url_for("voicemail.start", dept=dept), method="POST")
        return
    if not on_duty:
        turn.say(response, turn.messages.no_agents.format(department=department.name))
        batch.event(Event.NO_AGENTS, dept)
        response.redirect(url_for("voicemail.start", dept=dept, reason="no_agents"),
                          method="POST")
        return
    turn.say(response, turn.messages.connecting.format(department=department.name))
    enqueue_verb(turn, response, dept)
    now = turn.now.timestamp()
    key = store.queue_key(dept)
    batch.op(lambda p: p.zadd(key, {turn.call.sid: now}, nx=True))
    batch.call(dept=dept, queue_entered_at=f"{now:.3f}")
    batch.event(Event.ENTER_QUEUE, dept)
    if claim is not None:
        agent_offer.send(turn, batch, claim)  # the idle advisor gets this caller at once


@bp.post("/voice/queue/<dept>/enter")
def enter(dept: str):
    """Straight to a queue (after menu misses, or from a failed transfer)."""
    turn = Turn.begin()
    dept = turn.config.department_id(dept)
    response = VoiceResponse()
    batch = turn.batch()
    add_enqueue(turn, response, dept, batch)
    batch.commit("enter queue")
    return render(response)


def _wait(m: Messages, seconds: int) -> str:
    phrase, minutes = wait_phrase(seconds)
    return {
        WaitPhrase.UNDER_MINUTE: m.wait_under_minute,
        WaitPhrase.ONE_MINUTE: m.wait_one_minute,
        WaitPhrase.MINUTES: m.wait_minutes.format(minutes=minutes),
    }[phrase]


def _within(m: Messages, seconds: int) -> str:
    kind, amount = deadline_phrase(seconds)
    return {
        Deadline.SOON: m.within_soon,
        Deadline.SECONDS: m.within_seconds.format(seconds=amount),
        Deadline.MINUTES: m.within_minutes.format(minutes=amount),
    }[kind]


def _announcement(turn: Turn, dept: str, position: int, queue_time: int) -> str:
    q = turn.config.queue
    m = turn.messages
    try:
        raw = turn.ivr.redis.lrange(store.answers_key(dept), 0, store.ANSWER_SAMPLE - 1)
        answered = [float(x) for x in raw]
    except RedisError:
        answered = []  # the default rate stands in; the caller still hears an estimate
    seconds = estimate_wait(
        position,
        answered,
        turn.now.timestamp(),
        window=q.estimate_window,
        min_answers=q.estimate_min_answers,
        default_per_caller=q.default_seconds_per_caller,
    )
    spoken, at_limit = wait_to_speak(seconds, queue_time, q.voicemail_after)
    parts = [m.hold_position.format(position=position),
             m.hold_wait_voicemail.format(within=_within(m, spoken)) if at_limit
             else m.hold_wait.format(wait=_wait(m, spoken))]
    if seconds > q.high_demand_after:
        parts.append(m.hold_high_demand)
    return " ".join(parts)


@bp.post("/voice/queue/<dept>/wait")
def wait(dept: str):
    """Enqueue waitUrl: position and wait, hold audio, and <Leave/> at the two-minute limit."""
    turn = Turn.begin()
    dept = turn.config.department_id(dept)
    q = turn.config.queue
    queue_time = form_int("QueueTime", 0)
    position = form_int("QueuePosition", 1)
    response = VoiceResponse()
    if queue_time >= q.voicemail_after:
        response.leave()
        return render(response)
    text = _announcement(turn, dept, position, queue_time)
    plan = plan_hold(
        queue_time,
        limit=q.voicemail_after,
        announce_seconds=speaking_seconds(text, turn.config.speech.words_per_second),
        document_seconds=q.announce_every,
        segment_seconds=q.hold_audio.seconds,
    )
    for step, seconds in plan.steps:
        if step is Step.LEAVE:
            response.leave()
        elif step is Step.ANNOUNCE:
            turn.say(response, text)
        elif step is Step.PLAY:
            response.play(q.hold_audio.url)
        else:
            response.pause(length=seconds)
    return render(response)


def _answered_at(turn: Turn, waited: int) -> float | None:
    """When the caller was answered, or None if their leaving is already recorded (a repeated
    report, or the agent's leg noted the answer on connecting): one answer, one sample.

    Twilio requests a bridged caller's action only after the conversation, so "now" would be
    late by the whole call; entry time plus QueueTime is not.
    """
    now = turn.now.timestamp()
    try:
        entered, already = turn.ivr.redis.hmget(
            store.call_key(turn.call.sid), "queue_entered_at", "left_reason"
        )
    except RedisError:
        entered = already = None
    if already:
        return None
    if not entered:
        return now
    return min(now, float(entered) + waited)


@bp.post("/voice/queue/<dept>/left")
def left(dept: str):
    """Enqueue action: record why the caller left; voicemail unless answered or gone."""
    turn = Turn.begin()
    dept = turn.config.department_id(dept)
    result = request.values.get("QueueResult", "")
    reason = leave_reason(result)
    waited = form_int("QueueTime", 0)
    batch = turn.batch()
    store.leave_queue(batch, dept, reason, waited, LEAVE_EVENTS[reason])
    answered_at = _answered_at(turn, waited) if reason is LeaveReason.ANSWERED else None
    if answered_at is not None:
        key = store.answers_key(dept)
        batch.op(lambda p: p.lpush(key, f"{answered_at:.3f}"))
        batch.op(lambda p: p.ltrim(key, 0, store.ANSWER_SAMPLE - 1))
    batch.commit(f"left queue ({reason})")

    response = VoiceResponse()
    m = turn.messages
    if result in ("redirected", "redirected-from-bridged"):
        return render(response)  # another document (an agent's transfer) now drives the call
    if reason is LeaveReason.ANSWERED:
        add_feedback_or_goodbye(turn, response)
    elif reason is LeaveReason.HUNG_UP:
        if turn.config.queue.callback_on_abandon:
            from voicemail.flow import abandoned_callback

            abandoned_callback(turn, dept)
        log.info(
            "caller %s (%s) hung up after %ss in %s",
            turn.call.sid,
            mask(turn.call.from_),
            waited,
            dept,
        )
    else:
        message = {
            LeaveReason.TIMED_OUT: m.queue_timeout,
            LeaveReason.QUEUE_FULL: m.queue_busy,
        }.get(reason, m.error_apology)
        turn.say(response, message)
        response.redirect(url_for("voicemail.start", dept=dept, reason=reason.value), method="POST")
    return render(response)
