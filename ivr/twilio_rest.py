"""The one module through which the app calls Twilio's REST API.

Built on twilio's ``Client`` with its replaceable ``http_client``: tests and the project's
Twilio stand-in plug in there, so nothing here reaches the network in simulation.
Credentials come from the environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http import HttpClient
from twilio.rest import Client

_http_client_factory: Callable[[], HttpClient] | None = None
_RECORDING_SID = re.compile(r"RE[0-9a-fA-F]{32}")
MEDIA_TIMEOUT = (3.05, 20)  # connect, read: a voicemail is at most a few MB


class TwilioNotConfigured(RuntimeError):
    """TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN are not set."""


def use_http_client(factory: Callable[[], HttpClient] | None) -> None:
    """Route all REST calls through ``factory()`` (a stand-in), or back to the network."""
    global _http_client_factory
    _http_client_factory = factory


def _credentials() -> tuple[str, str]:
    sid = os.environ.get("TWILIO_ACCOUNT_SID", "")
    token = os.environ.get("TWILIO_AUTH_TOKEN", "")
    if not sid or not token:
        raise TwilioNotConfigured("set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN to use Twilio")
    return sid, token


def client() -> Client:
    sid, token = _credentials()
    http = _http_client_factory() if _http_client_factory else None
    c = Client(sid, token, http_client=http)
    base = os.environ.get("TWILIO_API_BASE")
    if base:  # a local Twilio stand-in over HTTP
        c.api.base_url = base.rstrip("/")
    return c


def error_status(exc: BaseException) -> int | None:
    """The HTTP status Twilio answered with, whichever way twilio-python raised it: a
    ``TwilioRestException`` (an instance's call), or a ``TwilioException`` carrying the
    response (a list's page: ``Unable to fetch page``). None: no answer (network)."""
    if isinstance(exc, TwilioRestException):
        return exc.status
    for arg in getattr(exc, "args", ()):
        status = getattr(arg, "status_code", None)
        if isinstance(status, int):
            return status
    return None


def describe_error(exc: BaseException) -> str:
    """One line for a failed REST call, naming the credentials when Twilio refused them."""
    status = error_status(exc)
    if status is None:
        return f"Twilio could not be reached ({type(exc).__name__})"
    if status in (401, 403):
        return (f"Twilio answered {status}: it refused TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN "
                "(wrong SID or token)")
    return f"Twilio answered {status}: {getattr(exc, 'msg', '') or exc}"


def send_sms(to: str, body: str, from_: str, status_callback: str = "") -> str:
    """Send a text message; returns the message SID. Raises on failure (RQ retries).
    ``status_callback``: where Twilio reports delivery (``/sms/status``)."""
    extra = {"status_callback": status_callback} if status_callback else {}
    return client().messages.create(to=to, from_=from_, body=body, **extra).sid


def delete_recording(recording_sid: str) -> bool:
    """Delete a recording at Twilio: True if deleted now, False if Twilio no longer has it (404,
    e.g. a retried job whose first try got through). Other errors raise (RQ retries)."""
    if not _RECORDING_SID.fullmatch(recording_sid):
        raise ValueError("not a recording SID")
    try:
        return bool(client().recordings(recording_sid).delete())
    except TwilioRestException as exc:
        if exc.status == 404:
            return False
        raise


def fetch_recording(recording_sid: str) -> tuple[bytes, str]:
    """A recording's audio (MP3) and its content type, fetched with the account's credentials.

    twilio's ``Client`` reads every body as text, which would corrupt audio, so media is read
    as bytes: from the stand-in through the same ``http_client`` seam, else with ``requests``
    (which drops the credentials when Twilio redirects to the media store). Raises
    ``TwilioRestException`` for an error status, ``requests`` errors for network failures.
    """
    if not _RECORDING_SID.fullmatch(recording_sid):
        raise ValueError("not a recording SID")
    sid, token = _credentials()
    base = os.environ.get("TWILIO_API_BASE", "https://api.twilio.com").rstrip("/")
    url = f"{base}/2010-04-01/Accounts/{sid}/Recordings/{recording_sid}.mp3"
    if _http_client_factory:
        response = _http_client_factory().request("GET", url, auth=(sid, token))
        status, body, headers = response.status_code, response.content, response.headers or {}
        if isinstance(body, str):
            body = body.encode("latin-1")
    else:
        got = requests.get(url, auth=(sid, token), timeout=MEDIA_TIMEOUT)
        status, body, headers = got.status_code, got.content, got.headers
    if status >= 400:
        raise TwilioRestException(status, url, msg=f"recording {recording_sid} not available",
                                  method="GET")
    return body, headers.get("Content-Type", "audio/mpeg").split(";")[0].strip()


def hang_up(call_sid: str) -> bool:
    """End a call at Twilio (an advisor signed out by hand: their agent-line call ends, so
    their phone is free and no late menu step acts for them). False if Twilio no longer has
    it; other errors raise."""
    try:
        client().calls(call_sid).update(status="completed")
    except TwilioRestException as exc:
        if exc.status == 404:
            return False
        raise
    return True
