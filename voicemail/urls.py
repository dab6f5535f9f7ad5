"""What our voicemail URLs carry: the department, and the callback sealed.

The number to call back and whether the caller came through Relay UK must reach the confirm
step, the ``<Record>`` action and the recording status callback (which carries no ``From``),
and must do so when Redis is down (the fail safe and the spool store voicemails without it).
So they travel in our own URLs, sealed for the call (``ivr.sealed``): never written there as
they are, so no access log, proxy log or Twilio's debugger shows them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import request

from flows.common import Turn
from ivr.phone import check_caller_id, mask

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Callback:
    """Who to call back: the number ("" when we have none) and whether through Relay UK."""

    number: str
    relay: bool


def sealed(turn: Turn, number: str) -> str:
    """The ``cb`` argument of our voicemail URLs: the callback number and the relay mark
    (Twilio's recording callback carries no ``From``), sealed for this call."""
    return turn.ivr.sealer.seal(("R" if turn.call.relay else "-") + number, turn.call.sid)


def record_args(turn: Turn, dept: str, number: str, day: str) -> dict[str, str]:
    """The arguments of the <Record> action and recording callback URLs: ``day`` is the
    callback day the caller is promised as the recording begins (ISO; not personal data), so
    the task and the thanks keep that promise without reading the live controls again."""
    return {"dept": dept, "cb": sealed(turn, number), "day": day}


def callback_arg(turn: Turn) -> Callback:
    """The callback carried by this request's URL: sealed in ``cb``; else ``number`` and
    ``relay`` as written by the release before (a call in progress across the upgrade); else,
    when the seal does not open (the auth token, which the key derives from, was changed
    mid-call), the caller ID if it can be called back. The number is re-checked either way."""
    args = request.args
    opened = turn.ivr.sealer.open(args.get("cb", ""), turn.call.sid)
    if opened is not None:
        relay, number = opened[:1] == "R", opened[1:]
    elif "number" in args:  # a URL from before sealing: a call in progress at the upgrade
        relay, number = args.get("relay") == "1", args.get("number", "")
    else:
        if "cb" in args:
            log.warning("voicemail callback details for call %s could not be opened; using "
                        "the caller ID (%s)", turn.call.sid, mask(turn.call.from_))
        caller_id = turn.call.callback_number(turn.config)
        relay = turn.call.relay
        number = (caller_id.e164 or "") if caller_id.callable and not relay else ""
    check = check_caller_id(number, turn.config.withheld_caller_ids)
    return Callback(number=check.e164 or "", relay=relay or turn.call.relay)
