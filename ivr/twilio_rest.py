"""The one module through which the app calls Twilio's REST API.

Built on twilio's ``Client`` with its replaceable ``http_client``: tests and the project's
Twilio stand-in plug in there, so nothing here reaches the network in simulation.
Credentials come from the environment.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from twilio.http import HttpClient
from twilio.rest import Client

_http_client_factory: Callable[[], HttpClient] | None = None


class TwilioNotConfigured(RuntimeError):
    """TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN are not set."""


def use_http_client(factory: Callable[[], HttpClient] | None) -> None:
    """Route all REST calls through ``factory()`` (a stand-in), or back to the network."""
    global _http_client_factory
    _http_client_factory = factory


def client() -> Client:
    sid = os.environ.get("TWILIO_ACCOUNT_SID", "")
    token = os.environ.get("TWILIO_AUTH_TOKEN", "")
    if not sid or not token:
        raise TwilioNotConfigured("set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN to use Twilio")
    http = _http_client_factory() if _http_client_factory else None
    c = Client(sid, token, http_client=http)
    base = os.environ.get("TWILIO_API_BASE")
    if base:  # a local Twilio stand-in over HTTP
        c.api.base_url = base.rstrip("/")
    return c


def send_sms(to: str, body: str, from_: str) -> str:
    """Send a text message; returns the message SID. Raises on failure (RQ retries)."""
    return client().messages.create(to=to, from_=from_, body=body).sid
