"""Online first: before queuing, say what the department offers online; offer the link by text."""

from __future__ import annotations

import logging

from flask import Blueprint, request, url_for
from redis.exceptions import RedisError
from rq import Retry
from twilio.twiml.voice_response import VoiceResponse

from flows import queue
from flows.common import Turn
from ivr.events import Event
from ivr.messaging import SEND_SMS
from ivr.phone import mask
from ivr.twiml import render

log = logging.getLogger(__name__)
bp = Blueprint("online", __name__)


@bp.post("/voice/dept/<dept>")
def department(dept: str):
    """A department was chosen: the online alternative, then the text offer or the queue."""
    turn = Turn.begin()
    dept = turn.config.department_id(dept)
    department = turn.config.department(dept)
    number = turn.call.callback_number(turn.config)
    response = VoiceResponse()
    turn.say(response, department.online)
    # No text offer when nobody can take the call: "please hold" would not be true.
    offer = number.mobile and queue.anyone_on_duty(turn, dept)
    batch = turn.batch().event(Event.ONLINE, dept, sms_offered=offer)
    if offer:
        action = url_for("online.text_link", dept=dept)
        turn.speaker.ask(response, action, turn.messages.online_sms_offer)
        batch.commit("online offer")
        return render(response)
    queue.add_enqueue(turn, response, dept, batch)
    batch.commit("enter queue")
    return render(response)


@bp.post("/voice/dept/<dept>/sms")
def text_link(dept: str):
    """Gather action for the text offer: 1 queues an SMS job, then the caller is queued."""
    turn = Turn.begin()
    dept = turn.config.department_id(dept)
    department = turn.config.department(dept)
    response = VoiceResponse()
    batch = turn.batch()
    number = turn.call.callback_number(turn.config)
    if (request.values.get("Digits") or "").strip() == turn.config.keys.text_link and number.mobile:
        body = turn.messages.sms_link.format(department=department.name, link=department.link)
        try:
            turn.ivr.messages.enqueue(
                SEND_SMS,
                number.e164,
                body,
                turn.config.council.sms_from,
                retry=Retry(max=3, interval=[30, 120, 600]),
                description=f"online link for call {turn.call.sid}",
            )
            batch.event(Event.SMS_LINK, dept)
            turn.say(response, turn.messages.online_sms_sent)
        except RedisError as exc:
            # The caller still reaches an advisor; the link can be given on the call.
            log.warning(
                "could not queue SMS link (call %s to %s): %s",
                turn.call.sid,
                mask(number.e164),
                exc,
            )
    queue.add_enqueue(turn, response, dept, batch)
    batch.commit("enter queue")
    return render(response)
