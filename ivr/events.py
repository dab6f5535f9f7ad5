"""Call events: one Redis Stream, the record every report and figure is computed from.

The vocabulary follows Asterisk's ``queue_log`` where a counterpart exists (ENTERQUEUE, CONNECT,
ABANDON, EXITWITHTIMEOUT, EXITWITHKEY, FULL ...) so supervisors who know contact-centre tools
feel at home. Writing an event never breaks a call: callers batch them into the request's one
pipeline, and a failed pipeline spools them to disk for replay.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

STREAM = "{ivr}:events"


class Event(StrEnum):
    INCOMING = "INCOMING"  # call arrived (from, relay)
    NOTICE = "RECORDINGNOTICE"  # recording notice played
    OUT_OF_HOURS = "OUTOFHOURS"  # call arrived while closed
    MENU = "MENU"  # menu choice (option, via keys or speech) or miss
    ONLINE = "ONLINE"  # online alternative told to the caller
    SMS_LINK = "SMSLINK"  # caller asked for the link by text
    TRANSFER = "TRANSFER"  # payment line / text phone dialled
    TRANSFER_RESULT = "TRANSFERRESULT"  # DialCallStatus of that transfer
    ENTER_QUEUE = "ENTERQUEUE"
    CONNECT = "CONNECT"  # caller answered by an advisor (wait)
    ABANDON = "ABANDON"  # caller hung up while queuing (wait)
    EXIT_TIMEOUT = "EXITWITHTIMEOUT"  # taken out at the limit to voicemail (wait)
    FULL = "FULL"  # queue full, sent to voicemail
    EXIT_ERROR = "EXITWITHERROR"  # queue error, sent to voicemail
    VOICEMAIL = "VOICEMAIL"  # voicemail left (recording, duration)
    CALLBACK_CREATED = "CALLBACKCREATED"
    CALLBACK_MERGED = "CALLBACKMERGED"  # a further voicemail joined an open callback
    CALLBACK_RELEASED = "CALLBACKRELEASED"
    CALL_END = "CALLEND"  # final status and duration
    FAILSAFE = "FAILSAFE"  # a handler failed and the caller was routed on
    NO_AGENTS = "NOAGENTS"  # no agent signed in for the department: voicemail offered
    AGENT_STATE = "AGENTSTATE"  # an agent changed state (agent, state, previous)
    AGENT_LOGIN_FAILED = "AGENTLOGINFAILED"
    COMPLETE_CALLER = "COMPLETECALLER"  # answered call ended by the caller
    COMPLETE_AGENT = "COMPLETEAGENT"  # answered call ended by the agent
    WRAP_UP = "WRAPUP"  # first-contact resolution outcome
    CALLBACK_ATTEMPT = "CALLBACKATTEMPT"  # agent, outcome
    CALLBACK_DONE = "CALLBACKDONE"
    CALLBACK_UNREACHABLE = "CALLBACKUNREACHABLE"
    FEEDBACK = "FEEDBACK"  # post-call score 1-5 (agent)
    FEEDBACK_COMMENT = "FEEDBACKCOMMENT"  # the spoken comment after a score (recording)


def fields(
    kind: Event, call_sid: str, ts: float, department: str | None = None, **details: Any
) -> dict[str, str]:
    """The flat string mapping stored in the stream for one event."""
    return {
        "event": str(kind),
        "call": call_sid or "",
        "ts": f"{ts:.3f}",
        "dept": department or "",
        "data": json.dumps(details, sort_keys=True, default=str),
    }


def add(pipe, event: dict[str, str], retention_days: int) -> None:
    """Queue XADD on ``pipe``, trimming (approximately) to the retention period."""
    min_ms = int((float(event["ts"]) - retention_days * 86400) * 1000)
    pipe.xadd(STREAM, event, minid=max(min_ms, 0), approximate=True)


def decode(entry: dict) -> dict[str, Any]:
    """A stream entry as a dict with its details unpacked (for reports and tests)."""
    out = {
        k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v
        for k, v in entry.items()
    }
    out["data"] = json.loads(out.get("data") or "{}")
    out["ts"] = float(out["ts"])
    return out


def read_all(redis) -> list[dict[str, Any]]:
    """Every event in order (small stores and tests; reports page through XRANGE)."""
    return [decode(e) for _, e in redis.xrange(STREAM)]
