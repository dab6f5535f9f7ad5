"""Call events: one Redis Stream, the record every report and figure is computed from.

The vocabulary follows Asterisk's ``queue_log`` where a counterpart exists (ENTERQUEUE, CONNECT,
ABANDON, EXITWITHTIMEOUT, EXITWITHKEY, FULL ...) so supervisors who know contact-centre tools
feel at home. Writing an event never breaks a call: callers batch them into the request's one
pipeline, and a failed pipeline spools them to disk for replay, which writes each spooled batch
once (``add_once``) however often it is replayed.

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

from redis.exceptions import ResponseError

from ivr import keys

STREAM = "{ivr}:events"
REPLAYED = "{{ivr}}:events:replayed:{id}"  # string: that spooled batch is in the stream


class Event(StrEnum):
    INCOMING = "INCOMING"  # call arrived (from, relay)
    NOTICE = "RECORDINGNOTICE"  # recording notice played
    OUT_OF_HOURS = "OUTOFHOURS"  # call arrived while closed
    MENU = "MENU"  # menu choice (option, via keys or speech) or miss
    ONLINE = "ONLINE"  # online alternative told to the caller
    SMS_LINK = "SMSLINK"  # caller asked for the link by text (its job queued)
    SMS_SENT = "SMSSENT"  # Twilio accepted that text (message sid)
    SMS_FAILED = "SMSFAILED"  # a try at sending it failed (error, final: no retry left)
    SMS_DELIVERED = "SMSDELIVERED"  # Twilio's status callback: on the handset (message)
    SMS_UNDELIVERED = "SMSUNDELIVERED"  # ... or not: undelivered / failed (status, code)
    JOB_FAILED = "JOBFAILED"  # another Twilio job's try failed (job, error, final)
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
    CALLBACK_OVERDUE = "CALLBACKOVERDUE"  # open past its due time (noted once, by reconcile)
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


# Lua: add_event(stream, ms, minid, fields) adds one event with the id ``<ms>-*``; when the
# stream's last id is later, XADD refuses it, and the event takes that id's millisecond (the
# sequence grows). The last *generated* id (XINFO) counts, as an entry deleted at the top
# still does. Scripts that write an event themselves include this function (``LUA_ADD``).
LUA_ADD = """
local function add_event(stream, ms, minid, fields)
  local cmd = {'XADD', stream, 'MINID', '~', minid, ms .. '-*'}
  for i = 1, #fields do cmd[#cmd + 1] = fields[i] end
  local id = redis.pcall(unpack(cmd))
  if type(id) == 'table' and id.err then
    local info = redis.call('XINFO', 'STREAM', stream)
    for i = 1, #info, 2 do
      if info[i] == 'last-generated-id' then
        cmd[6] = string.match(info[i + 1], '^(%d+)') .. '-*'
      end
    end
    id = redis.call(unpack(cmd))
  end
  return id
end
"""

# add_from(stream, minid, first): the events in ARGV from index ``first``, each as its ms,
# its number of field and value strings, and those strings. Returns how many were added.
LUA_ADD_FROM = LUA_ADD + """
local function add_from(stream, minid, first)
  local i, added = first, 0
  while i <= #ARGV do
    local ms, n = ARGV[i], tonumber(ARGV[i + 1])
    local fields = {}
    for j = 1, n do fields[j] = ARGV[i + 1 + j] end
    add_event(stream, ms, minid, fields)
    i, added = i + 2 + n, added + 1
  end
  return added
end
"""

# KEYS[1] the stream; ARGV[1] the trim MINID, then the events (``add_from``).
_ADD = LUA_ADD_FROM + """
return add_from(KEYS[1], ARGV[1], 2)
"""

# KEYS[1] the stream, KEYS[2] the batch's marker; ARGV[1] the marker's life in seconds,
# ARGV[2] the trim MINID, then the events. The marker is set first: Redis does not undo a
# script's writes, so a script stopped half-way leaves the batch written at most once.
_ADD_ONCE = LUA_ADD_FROM + """
if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then return -1 end
return add_from(KEYS[1], ARGV[2], 3)
"""


def ms(event: dict[str, str]) -> int:
    """The event's own time in ms: its stream id's first part (unless written out of order)."""
    return int(float(event["ts"]) * 1000)


def min_id(now_ms: int, retention_days: int | None) -> int:
    """The MINID that trims the stream to ``retention_days`` before ``now_ms`` (0: no trim)."""
    return 0 if retention_days is None else max(now_ms - retention_days * 86_400_000, 0)


def add_at_own_time(pipe, event: dict[str, str], retention_days: int | None) -> None:
    """Queue a plain XADD with the id at the event's own ms: the cheap way (a quarter of the
    script's cost in Redis, no script text sent), which Redis refuses (``refused``) when
    the stream already holds a later id; such events then go through ``add_all``."""
    own = ms(event)
    pipe.xadd(STREAM, event, id=f"{own}-*", minid=min_id(own, retention_days),
              approximate=True)


def refused(result: object) -> bool:
    """Whether a reply is Redis refusing an ``add_at_own_time`` written out of order."""
    return isinstance(result, ResponseError) and "equal or smaller" in str(result)


def add(pipe, event: dict[str, str], retention_days: int | None) -> None:
    """Queue the event on ``pipe`` (``add_all`` of one)."""
    add_all(pipe, [event], retention_days)


def add_all(pipe, batch: list[dict[str, str]], retention_days: int | None) -> None:
    """Queue the events on ``pipe`` as one script call, each with its id at its own time
    (never before the stream's newest), trimming (approximately) to the retention period
    (None: no trim).

    Sent as EVAL: a pipeline cannot load a missing script without another round trip.
    """
    if not batch:
        return
    argv: list[str | int] = [min_id(max(ms(e) for e in batch), retention_days)]
    keys.eval_script(pipe, _ADD, 1, STREAM, *argv, *_flat(batch))


def add_once(r, batch_id: str, batch: list[dict[str, str]], retention_days: int) -> bool:
    """Write a spooled batch of events unless the batch ``batch_id`` is written already: its
    marker and its events in one script, so a batch replayed twice (by two processes, or after
    a crash between the write and the removal of its file) is in the stream once.

    The marker lasts as long as events are kept. True if written now, False if it was before.
    """
    if not batch:
        return False
    argv: list[str | int] = [retention_days * 86400,
                             min_id(max(ms(e) for e in batch), retention_days)]
    argv += _flat(batch)
    added = keys.eval_script(r, _ADD_ONCE, 2, STREAM, REPLAYED.format(id=batch_id), *argv)
    return int(added) >= 0


def _flat(batch: list[dict[str, str]]) -> list[str | int]:
    """Events as the scripts' ARGV takes them: ms, number of strings, the strings."""
    out: list[str | int] = []
    for event in batch:
        out += (ms(event), 2 * len(event))
        for name, value in event.items():
            out += (name, value)
    return out


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
