"""RQ jobs that send text messages, so no webhook ever waits on Twilio's REST API."""

from __future__ import annotations

import logging
import os

from redis.exceptions import RedisError
from rq import Retry, get_current_job

from ivr import connections, job_events, twilio_rest
from ivr.events import Event

log = logging.getLogger(__name__)

SEND_SMS = "ivr.messaging.send_sms"  # the job's import path is a contract
# Twilio unreachable for a while: three more tries over about 13 minutes, then RQ's failed
# registry (``ivr_jobs_failed``). The caller was told a text is coming.
RETRY = Retry(max=3, interval=[30, 120, 600])
SENT = "{{ivr}}:sms:{sid}"  # hash: the call and department of a text Twilio accepted
KEEP_SENT = 2 * 86400  # Twilio reports delivery within minutes; a day or two at most
STATUS_PATH = "/sms/status"  # the message status callback (flows/sms_status.py)


def send_sms(to: str, body: str, from_: str, call_sid: str = "", department: str = "") -> str:
    """Send a text (the online link a caller asked for, an unreachable callback's notice);
    failures raise, so RQ retries them (``RETRY``) and then records the job failed. For a
    call's text (``call_sid``), Twilio's answer is an event either way: ``SMSSENT`` when it
    accepted the message, ``SMSFAILED`` for each try that failed (missing credentials too);
    with ``PUBLIC_BASE_URL`` set, Twilio reports delivery to ``STATUS_PATH``, which finds
    the call again through ``SENT``."""
    base = os.environ.get("PUBLIC_BASE_URL", "").rstrip("/")
    callback = f"{base}{STATUS_PATH}" if call_sid and base else ""
    try:
        sid = twilio_rest.send_sms(to, body, from_, callback)
    except Exception as exc:
        if call_sid:
            job_events.failed(Event.SMS_FAILED, exc, call_sid, department)
        raise
    if call_sid:
        job = get_current_job()
        if job is not None and callback:
            try:  # never raise once sent: a retry would send the text twice
                pipe = connections.state_for_job(job.connection).pipeline(transaction=False)
                pipe.hset(SENT.format(sid=sid), mapping={"call": call_sid, "dept": department})
                pipe.expire(SENT.format(sid=sid), KEEP_SENT)
                pipe.execute()
            except RedisError as exc:
                log.warning("text %s sent; its delivery cannot be matched to call %s: %s",
                            sid, call_sid, exc)
        job_events.note(Event.SMS_SENT, call_sid, department, message=sid)
    return sid
