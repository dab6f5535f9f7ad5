"""RQ jobs that send text messages, so no webhook ever waits on Twilio's REST API."""

from __future__ import annotations

from rq import Retry

from ivr import job_events, twilio_rest
from ivr.events import Event

SEND_SMS = "ivr.messaging.send_sms"  # the job's import path is a contract
# Twilio unreachable for a while: three more tries over about 13 minutes, then RQ's failed
# registry (``ivr_jobs_failed``). The caller was told a text is coming.
RETRY = Retry(max=3, interval=[30, 120, 600])


def send_sms(to: str, body: str, from_: str, call_sid: str = "", department: str = "") -> str:
    """Send a text (the online link a caller asked for, an unreachable callback's notice);
    failures raise, so RQ retries them (``RETRY``) and then records the job failed. For a
    call's text (``call_sid``), Twilio's answer is an event either way: ``SMSSENT`` when it
    accepted the message, ``SMSFAILED`` for each try that failed (missing credentials too)."""
    try:
        sid = twilio_rest.send_sms(to, body, from_)
    except Exception as exc:
        if call_sid:
            job_events.failed(Event.SMS_FAILED, exc, call_sid, department)
        raise
    if call_sid:
        job_events.note(Event.SMS_SENT, call_sid, department, message=sid)
    return sid
