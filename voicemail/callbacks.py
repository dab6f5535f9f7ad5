"""Working the callback worklist: the next due task, and the outcome of each attempt.

Shared by the agent line (phone) and the console (web). A task is done only when the resident
answered; after the configured attempts it is closed as unreachable. Each attempt is kept:
who, when and the outcome.

Each read-decide-write (find and claim the next task, keep a claim, log an attempt) is one Lua
script that also finds the agent from the agent-line call's link and returns the task's fields,
so an agent-line step sends it in its first round trip, with the agent context
(``agent_context.load_with``), and its events and other writes in the second (``Batch``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import redis

from ivr import keys
from ivr.agents import AGENT
from ivr.events import STREAM
from voicemail.tasks import (
    LUA_RELEASE,
    OPEN_BY_NUMBER,
    RECORDING,
    RECORDING_TASK,
    SCHEDULED,
    TASK,
    TASK_RECORDINGS,
    WORKLIST,
    release_args,
)

ATTEMPTS = "{{ivr}}:cb:task:{id}:attempts"   # list of JSON attempts, oldest first
CALLS = "{{ivr}}:cb:task:{id}:calls"         # set: the call SIDs of logged attempts
CLAIM = "{{ivr}}:cb:claim:{id}"              # an agent is working this task (expires)
CLOSED = "{ivr}:cb:closed"                 # zset: task -> time closed (done or unreachable)
SKIPPED = "{{ivr}}:cb:skipped:{agent}"       # zset: task -> until when this agent skipped it
CLOSED_KEEP = 7 * 86400                  # closed tasks listed for a week (the console's list)
SCAN_LIMIT = 500
CLAIM_SECONDS = 600


class Outcome(StrEnum):
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"
    CANCELED = "canceled"


def outcome_from_dial(dial_call_status: str | None) -> Outcome:
    """Map ``DialCallStatus`` to an attempt outcome; a bridged call is answered."""
    return {
        "completed": Outcome.ANSWERED, "answered": Outcome.ANSWERED, "busy": Outcome.BUSY,
        "no-answer": Outcome.NO_ANSWER, "canceled": Outcome.CANCELED,
    }.get((dial_call_status or "").strip(), Outcome.FAILED)


def _key_lua(name: str, pattern: str) -> str:
    """A Lua function building a key from one of this module's patterns (one ``{field}``)."""
    head, tail = keys.around(pattern)
    return f"local function {name}(id) return '{head}' .. id .. '{tail}' end\n"


# Shared by the scripts below: key builders from the Python patterns, and the agent working.
# Keys known before a script runs are passed in KEYS; these builders make only the keys a
# script finds from data (the agent a call is linked to, the worklist's tasks, a task's
# voicemails, the number's open task). They are generated from the constants, so no key name
# is written in Lua, and every one carries the ``{ivr}`` tag: one slot (``ivr.keys``).
_COMMON = "".join(_key_lua(name, pattern) for name, pattern in {
    "agent_key": AGENT, "task_key": TASK, "recordings_key": TASK_RECORDINGS,
    "recording_key": RECORDING, "claim_key": CLAIM, "skipped_key": SKIPPED,
    "attempts_key": ATTEMPTS, "open_key": OPEN_BY_NUMBER, "calls_key": CALLS,
    "recording_task_key": RECORDING_TASK,
}.items()) + """
-- ``given``, or else the agent this agent-line call is linked to (``index``); false when
-- unknown, as the agent context finds it, so that the step then does nothing.
local function agent_of(index, given)
  if given ~= '' then return given end
  local id = redis.call('GET', index)
  if not id or redis.call('EXISTS', agent_key(id)) == 0 then return false end
  return id
end
local function claim(key, id, seconds)
  local holder = redis.call('GET', key)
  if holder and holder ~= id then return false end
  redis.call('SET', key, id, 'EX', seconds)
  return true
end
"""

# First releases every task whose release time has passed (``tasks.LUA_RELEASE``), so the
# worklist an agent takes from follows from the tasks and the clock, job or no job.
_NEXT = _COMMON + LUA_RELEASE + """
-- The departments whose callbacks this agent works (nil: all, a supervisor serving all).
local function wanted(id, fallback)
  local h = redis.call('HMGET', agent_key(id), 'departments', 'role')
  local list = h[1] or ''
  if list == '' then
    if h[2] == 'supervisor' then return nil end
    list = fallback
  end
  local set = {}
  for dept in string.gmatch(list, '[^,]+') do set[dept] = true end
  return set
end
local function workable(task, depts, now, with_number)
  local f = redis.call('HMGET', task_key(task), 'department', 'next_attempt_at', 'status', 'number')
  if f[3] ~= 'open' then return false end
  if with_number and (not f[4] or f[4] == '') then return false end
  if depts and not depts[f[1] or ''] then return false end
  return not (f[2] and f[2] ~= '' and tonumber(f[2]) > now)
end
local function with_recordings(task)
  local recs = {}
  for _, rec in ipairs(redis.call('LRANGE', recordings_key(task), 0, -1)) do
    table.insert(recs, {rec, redis.call('HGETALL', recording_key(rec))})
  end
  return {redis.call('HGETALL', task_key(task)), recs}
end
local id = agent_of(KEYS[1], ARGV[1])
if not id then return {} end
release_due({scheduled = KEYS[3], worklist = KEYS[2], stream = KEYS[4]}, ARGV[3], ARGV[7],
            ARGV[8], ARGV[6])
local depts = wanted(id, ARGV[2])
local now = tonumber(ARGV[3])
local passed = {}
for _, task in ipairs(redis.call('ZRANGEBYSCORE', skipped_key(id), '(' .. ARGV[3], '+inf')) do
  passed[task] = true
end
for _, task in ipairs(redis.call('ZRANGE', KEYS[2], 0, tonumber(ARGV[6]) - 1)) do
  if not passed[task] and workable(task, depts, now, ARGV[4] == '1')
      and claim(claim_key(task), id, ARGV[5]) then
    return {id, task, with_recordings(task)}
  end
end
return {id}
"""


def _text(x: bytes | str) -> str:
    return x.decode() if isinstance(x, bytes) else str(x)


def _hash(flat: list[Any]) -> dict[str, str]:
    return {_text(flat[i]): _text(flat[i + 1]) for i in range(0, len(flat), 2)}


def _task(raw: list[Any]) -> dict[str, str]:
    """A task as ``load_task`` gives it (recordings as a JSON list), from a script's reply."""
    flat, recs = raw
    task = _hash(flat)
    if task:
        task["recordings"] = json.dumps([_hash(h) | {"id": _text(rid)} for rid, h in recs])
    return task


@dataclass(frozen=True)
class Claimed:
    """The task an agent now holds the claim on, with its recordings."""

    agent_id: str
    task: dict[str, str]


def _claimed(raw: list[Any]) -> Claimed | None:
    return Claimed(_text(raw[0]), _task(raw[2])) if len(raw) == 3 else None


def next_due(pipe: Any, *, index_key: str, agent_id: str = "", departments: Iterable[str],
             now: float, claim_seconds: int = CLAIM_SECONDS, with_number: bool = False,
             retention_days: int | None = None) -> Callable[[Any], Claimed | None]:
    """Queue the claim of the task due soonest (overdue first) that this agent may work now;
    returns the parser of its reply (None when nothing is due).

    One script (atomic): scan the worklist (its first ``SCAN_LIMIT``, in due order) past the
    tasks this agent skipped, claim the first open one of their departments (``departments``
    for an agent with none; a supervisor with none takes any) that is free or theirs already,
    and return it with its recordings, so reading, deciding and claiming is one round trip and
    two agents never hold the same task. The agent is ``agent_id``, else the one ``index_key``
    (an agent-line call's link) names. ``with_number``: only tasks with a number to dial (the
    phone cannot work the others; they stay for the console). Tasks whose release time has
    passed are released first, in the same script (their events trimmed to
    ``retention_days``).
    """
    _, ms, minid = release_args(now, retention_days)
    keys.eval_script(pipe, _NEXT, 4, index_key or keys.UNUSED, WORKLIST, SCHEDULED, STREAM,
                     agent_id, ",".join(departments), f"{now:.3f}", int(with_number),
                     claim_seconds, SCAN_LIMIT, ms, minid)
    return _claimed


_HOLD = _COMMON + """
local id = agent_of(KEYS[1], ARGV[1])
if not id then return {} end
local t = KEYS[2]
local f = redis.call('HMGET', t, 'status', 'number')
local held = 0
if ARGV[4] == '1' and f[1] == 'open' and f[2] and f[2] ~= '' and claim(KEYS[3], id, ARGV[3]) then
  held = 1
end
return {id, held, redis.call('HGETALL', t)}
"""


@dataclass(frozen=True)
class Held:
    """A task as an agent's choice finds it, and whether they (still) hold its claim."""

    task: dict[str, str]  # {} for an unknown task
    held: bool

    @property
    def workable(self) -> bool:
        """Open, with a number to dial."""
        return self.task.get("status") == "open" and bool(self.task.get("number"))


def _held(raw: list[Any]) -> Held:
    return Held(_hash(raw[2]), bool(int(raw[1]))) if raw else Held({}, False)


def hold(pipe: Any, task_id: str, *, index_key: str, agent_id: str = "", take: bool,
         claim_seconds: int = CLAIM_SECONDS) -> Callable[[Any], Held]:
    """Queue reading the task and, when ``take``, keeping (or taking again, if it lapsed) this
    agent's claim on it, if it is still workable and no other agent has it: calling needs
    the claim, so two agents never ring the same resident. Returns the reply's parser."""
    keys.eval_script(pipe, _HOLD, 3, index_key or keys.UNUSED, TASK.format(id=task_id),
                     CLAIM.format(id=task_id), agent_id, task_id, claim_seconds, int(take))
    return _held


_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def skip(pipe: Any, task_id: str, agent_id: str, now: float,
         seconds: int = CLAIM_SECONDS) -> None:
    """The agent passes on this task for now (on ``pipe``, e.g. the request's batch): others
    may take it, and this agent's next request gets the next task rather than the same one
    again (for ``seconds``)."""
    key = SKIPPED.format(agent=agent_id)
    pipe.zadd(key, {task_id: now + seconds})
    pipe.zremrangebyscore(key, "-inf", now)
    pipe.expire(key, seconds)
    release_claim(pipe, task_id, agent_id)


def release_claim(pipe: Any, task_id: str, agent_id: str | None = None) -> None:
    """Give the task back to the worklist (only this agent's claim, when ``agent_id`` given)."""
    if agent_id is None:
        pipe.delete(CLAIM.format(id=task_id))
    else:
        keys.eval_script(pipe, _RELEASE, 1, CLAIM.format(id=task_id), agent_id)


_ATTEMPT = _COMMON + """
local id = agent_of(KEYS[1], ARGV[1])
if not id then return {'', '0', 0, '', {}} end
local task = ARGV[5]
local t = KEYS[4]
local status = redis.call('HGET', t, 'status')
if status ~= 'open' or (ARGV[9] ~= '' and redis.call('SADD', KEYS[6], ARGV[9]) == 0)
then  -- closed, or this call's result already logged (Twilio repeats a Dial action)
  return {status or '', redis.call('HGET', t, 'attempts') or '0', 0, id, {}}
end
redis.call('RPUSH', KEYS[5], cjson.encode(
  {agent = id, at = tonumber(ARGV[2]), outcome = ARGV[6], call = ARGV[9]}))
local n = redis.call('HINCRBY', t, 'attempts', 1)
redis.call('HSET', t, 'last_attempt_at', ARGV[2])
redis.call('DEL', KEYS[7])
local number = redis.call('HGET', t, 'number') or ''
local recs = {}  -- a closed task's recordings, for their deletion at Twilio
local function close(new)
  redis.call('HSET', t, 'status', new, 'closed_at', ARGV[2])
  -- kept for the retention period only: the task, its attempts and its voicemails' details
  local keep = tonumber(ARGV[8])
  redis.call('EXPIRE', t, keep)
  redis.call('EXPIRE', KEYS[5], keep)
  redis.call('EXPIRE', KEYS[8], keep)
  redis.call('EXPIRE', KEYS[6], keep)
  recs = redis.call('LRANGE', KEYS[8], 0, -1)
  for _, rec in ipairs(recs) do
    redis.call('EXPIRE', recording_key(rec), keep)
    redis.call('EXPIRE', recording_task_key(rec), keep)
  end
  redis.call('ZREM', KEYS[2], task)
  redis.call('ZADD', KEYS[3], ARGV[2], task)
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', tonumber(ARGV[2]) - tonumber(ARGV[7]))
  if number ~= '' and redis.call('GET', open_key(number)) == task then
    redis.call('DEL', open_key(number))
  end
  return new
end
local new = 'open'
if ARGV[6] == 'answered' then
  new = close('done')
elseif n >= tonumber(ARGV[4]) then
  new = close('unreachable')
else
  redis.call('HSET', t, 'next_attempt_at', tonumber(ARGV[2]) + tonumber(ARGV[3]))
end
return {new, tostring(n), 1, id, redis.call('HGETALL', t), recs}
"""


@dataclass(frozen=True)
class Attempt:
    status: str   # the task's status after this attempt: open, done or unreachable
    count: int    # attempts so far
    logged: bool  # False when the task was not open or this call was logged: nothing changed
    agent_id: str = ""
    task: dict[str, str] = field(default_factory=dict)  # its fields, when logged (no re-read)
    recordings: list[str] = field(default_factory=list)  # when this attempt closed the task

    @property
    def closed_now(self) -> bool:
        """This attempt closed the task (done or unreachable): its retention starts."""
        return self.logged and self.status in ("done", "unreachable")


def _attempt(raw: list[Any]) -> Attempt:
    status, count, logged, agent_id, flat = raw[:5]
    recordings = [_text(x) for x in raw[5]] if len(raw) > 5 else []
    return Attempt(_text(status), int(count), bool(int(logged)), _text(agent_id), _hash(flat),
                   recordings)


def kept_for(keep_closed: int) -> int:
    """Seconds a closed task is kept: the configured period, never under the console's week."""
    return max(keep_closed, CLOSED_KEEP)


def _attempt_args(task_id: str, index_key: str, agent_id: str, outcome: Outcome, now: float,
                  retry_gap: int, max_attempts: int, keep_closed: int,
                  call_sid: str) -> list[Any]:
    names = [index_key or keys.UNUSED, WORKLIST, CLOSED, TASK.format(id=task_id),
             ATTEMPTS.format(id=task_id), CALLS.format(id=task_id), CLAIM.format(id=task_id),
             TASK_RECORDINGS.format(id=task_id)]
    return [_ATTEMPT, len(names), *names, agent_id, f"{now:.3f}", retry_gap,
            max_attempts, task_id, str(outcome), CLOSED_KEEP, kept_for(keep_closed),
            call_sid]


def queue_attempt(pipe: Any, task_id: str, *, index_key: str, outcome: Outcome, now: float,
                  retry_gap: int, max_attempts: int, keep_closed: int,
                  call_sid: str = "") -> Callable[[Any], Attempt]:
    """``log_attempt`` on a pipeline, by the agent ``index_key`` (an agent-line call's link)
    names (nothing is logged for an unknown agent); returns the reply's parser."""
    keys.eval_script(pipe, *_attempt_args(task_id, index_key, "", outcome, now, retry_gap,
                                          max_attempts, keep_closed, call_sid))
    return _attempt


def log_attempt(r: redis.Redis, task_id: str, *, agent_id: str, outcome: Outcome, now: float,
                retry_gap: int, max_attempts: int, keep_closed: int,
                call_sid: str = "") -> Attempt:
    """Log one attempt atomically on an open task (one round trip).

    Answered closes the task as done; otherwise it stays open for another attempt no sooner
    than ``retry_gap`` seconds, until ``max_attempts``, when it is closed as unreachable.
    A closed task, its attempts and its voicemails' details (number, message URL) expire
    ``keep_closed`` seconds later: residents' details are kept no longer than needed. The
    reply names the recordings of a task it closed (``ivr.recordings`` deletes them at Twilio).
    A task that is not open (already closed, or unknown) is left alone: ``logged`` is False,
    so a repeated report changes nothing. The reply carries the task's fields, so the events
    and the SMS need no second read.
    """
    return _attempt(keys.eval_script(r, *_attempt_args(task_id, "", agent_id, outcome, now,
                                                       retry_gap, max_attempts, keep_closed,
                                                       call_sid)))


def attempts(r: redis.Redis, task_id: str) -> list[dict]:
    return [json.loads(x) for x in r.lrange(ATTEMPTS.format(id=task_id), 0, -1)]
