"""Twilio's side of the live reconcile: a call as Twilio sees it now, and the limits shared by
both passes (``ivr.live_reconcile``)."""

from __future__ import annotations

from dataclasses import dataclass

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

GRACE_SECONDS = 15.0  # a difference younger than this may be a webhook on its way
LIVE = frozenset({"queued", "initiated", "ringing", "in-progress"})  # Twilio: still on the line
NOT_FOUND = "not-found"  # Twilio does not know the call (404)
REST_ERRORS = (TwilioException, OSError)  # OSError: the network (requests' errors are OSErrors)
WATCH_TRIES = 5  # a write whose keys keep changing under it is left for the next pass


@dataclass(frozen=True)
class CallState:
    """A call as Twilio sees it now."""

    status: str  # Twilio's status, or NOT_FOUND
    ended_at: float | None = None  # when it ended, if it has and Twilio says when
    from_: str = ""

    @property
    def live(self) -> bool:
        return self.status in LIVE


def fetch_call(client: Client, sid: str) -> CallState:
    """One REST fetch; a call Twilio does not know is NOT_FOUND, other failures raise."""
    try:
        call = client.calls(sid).fetch()
    except TwilioRestException as exc:
        if exc.status == 404:
            return CallState(NOT_FOUND)
        raise
    status = str(call.status or "")
    end = None if status in LIVE else (call.end_time or call.date_updated)
    return CallState(status, end.timestamp() if end is not None else None,
                     getattr(call, "_from", None) or "")
