"""Online first: before queuing, say what the department offers online; offer the link by text."""

from __future__ import annotations

from flask import Blueprint, request, url_for
from twilio.twiml.voice_response import VoiceResponse

from flows import queue
from flows.common import Turn
from ivr import messaging
from ivr.controls import department_messages, queue_closed
from ivr.events import Event
from ivr.logsafe import clean
from ivr.messaging import SEND_SMS
from ivr.store import Batch
from ivr.twiml import render

bp = Blueprint("online", __name__)


@bp.post("/voice/dept/<dept>")
def department(dept: str):
    """A department was chosen: the online alternative, then the text offer or the queue."""
    turn = Turn.begin()
    dept = turn.config.department_id(dept)
    department = turn.config.department(dept)
    number = turn.call.callback_number(turn.config)
    # Who is on duty, and (with a whisper to hear first) an idle advisor claimed for this
    # caller, at once: the claim made here, before the online message, lets the advisor hear
    # the whisper and reach the queue while the caller still listens, so the caller waits for
    # nothing. Without a whisper the claim as the caller joins the queue is soon enough (for a
    # landline, ``add_enqueue`` below makes it). Both reads fetch the live controls in their
    # round trip, so whether the lines are open costs none of its own; a claim made as the
    # lines close is released by ``add_enqueue``.
    found = None
    if turn.config.agents.whisper:
        found = queue.duty_and_claim(turn, dept)
    elif number.mobile:
        found = (queue.anyone_on_duty(turn, dept), None)
    # A text offer only to a mobile while the lines are open; not when nobody can take the
    # call ("please hold" would not be true), nor when an advisor is free now: "press 1, or
    # hold" would only keep them from the advisor.
    offer = bool(number.mobile and found is not None and found[0] and found[1] is None
                 and turn.is_open() and queue_closed(turn.controls, dept) is None)
    batch = turn.batch().event(Event.ONLINE, dept, sms_offered=offer)
    then = VoiceResponse()
    if offer:
        turn.speaker.ask(then, url_for("online.text_link", dept=dept),
                         turn.messages.online_sms_offer)
    else:
        queue.add_enqueue(turn, then, dept, batch, found)
    batch.commit("online offer" if offer else "enter queue")
    response = VoiceResponse()
    for text in department_messages(turn.controls, dept, turn.now):  # live announcements
        turn.say(response, text)
    turn.say(response, department.online)
    for verb in then.verbs:
        response.append(verb)
    return render(response)


@bp.post("/voice/dept/<dept>/sms")
def text_link(dept: str):
    """Gather action for the text offer: 1 queues an SMS job, then the caller is queued.

    The job goes in the request's one batch (two round trips in all); only once it is written
    is the caller told the text is on its way, so the reply is assembled after the commit.
    """
    turn = Turn.begin()
    dept = turn.config.department_id(dept)
    batch = turn.batch()
    wants_link = _add_text_link(turn, dept, batch)
    then = VoiceResponse()
    queue.add_enqueue(turn, then, dept, batch)
    committed = batch.commit("enter queue") is not None
    response = VoiceResponse()
    if wants_link and committed:  # if not (logged by the batch), an advisor can give the link
        turn.say(response, turn.messages.online_sms_sent)
    for verb in then.verbs:
        response.append(verb)
    return render(response)


def _add_text_link(turn: Turn, dept: str, batch: Batch) -> bool:
    """The SMS job and its event, if the caller pressed the key on a UK mobile."""
    number = turn.call.callback_number(turn.config)
    pressed = (request.values.get("Digits") or "").strip() == turn.config.keys.text_link
    if not (pressed and number.mobile):
        return False
    department = turn.config.department(dept)
    body = turn.messages.sms_link.format(department=department.name, link=department.link)
    batch.enqueue(
        turn.ivr.messages,
        SEND_SMS,
        number.e164,
        body,
        turn.config.council.sms_from,
        turn.call.sid,
        dept,
        retry=messaging.RETRY,
        description=f"online link for call {clean(turn.call.sid)}",  # the worker logs it
    )
    batch.job_event(Event.SMS_LINK, dept)  # not spooled if the job is not written
    return True
