"""RQ jobs that send text messages, so no webhook ever waits on Twilio's REST API."""

from __future__ import annotations

from rq import Retry

from ivr import twilio_rest

SEND_SMS = "ivr.messaging.send_sms"  # the job's import path is a contract
# Twilio unreachable for a while: three more tries over about 13 minutes, then RQ's failed
# registry (``ivr_jobs_failed``). The caller was told a text is coming.
RETRY = Retry(max=3, interval=[30, 120, 600])


def send_sms(to: str, body: str, from_: str) -> str:
    """Send a text (the online link a caller asked for, an unreachable callback's notice);
    failures raise, so RQ retries them (``RETRY``)."""
    return twilio_rest.send_sms(to, body, from_)
