"""RQ jobs that send text messages, so no webhook ever waits on Twilio's REST API."""

from __future__ import annotations

from ivr import twilio_rest

SEND_SMS = "ivr.messaging.send_sms"  # the job's import path is a contract


def send_sms(to: str, body: str, from_: str) -> str:
    """Send the online link a caller asked for; failures raise so RQ retries them."""
    return twilio_rest.send_sms(to, body, from_)
