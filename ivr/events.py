"""Call events: one Redis Stream, the record every report and figure is computed from.

The vocabulary follows Asterisk's ``queue_log`` where a counterpart exists (ENTERQUEUE, CONNECT,
ABANDON, EXITWITHTIMEOUT, EXITWITHKEY, FULL ...) so supervisors who know contact-centre tools
feel at home. Writing an event never breaks a call: callers batch them into the request's one
pipeline, and a failed pipeline spools them to disk for replay.

One clock: the web server's. An event's ``ts`` is when it happened by the process clock, and
its stream id is taken from that same ``ts`` (``<ms>-*``), not from Redis's clock (``*``), so
ids and times agree and travel together in tests and simulations. Ids must grow, so an event
written out of order (a spooled event replayed, a second web server a few ms behind) takes
the newest id's millisecond instead: an id is never before its event, and reports read ids
from a day's start to its end plus a margin for late writes (``report.load_events``).
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

STREAM = "ivr:events"


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


# KEYS[1] the stream; ARGV[1] the event's ms, ARGV[2] the trim MINID, then field/value pairs.
# XADD <ms>-* fails when the stream's last id is later: then use that id's ms (the sequence
# grows). The last *generated* id (XINFO) is used, as an entry deleted at the top still counts.
_ADD = """
local cmd = {'XADD', KEYS[1], 'MINID', '~', ARGV[2], ARGV[1] .. '-*'}
for i = 3, #ARGV do cmd[#cmd + 1] = ARGV[i] end
local id = redis.pcall(unpack(cmd))
if type(id) == 'table' and id.err then
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      cmd[6] = string.match(info[i + 1], '^(%d+)') .. '-*'
    end
  end
  id = redis.call(unpack(cmd))
end
return id
"""


def add(pipe, event: dict[str, str], retention_days: int | None) -> None:
    """Queue the event on ``pipe`` with its id at its own time (never before the stream's
    newest), trimming (approximately) to the retention period (None: no trim).

    Sent as EVAL: a pipeline cannot load a missing script without another round trip."""
    ms = int(float(event["ts"]) * 1000)
    keep_ms = None if retention_days is None else retention_days * 86_400_000
    argv: list[str] = [str(ms), str(0 if keep_ms is None else max(ms - keep_ms, 0))]
    for name, value in event.items():
        argv += (name, value)
    pipe.eval(_ADD, 1, STREAM, *argv)


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
