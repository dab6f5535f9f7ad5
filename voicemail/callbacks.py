"""Working the callback worklist: the next due task, and the outcome of each attempt.

Shared by the agent line (phone) and the console (web). A task is done only when the resident
answered; after the configured attempts it is closed as unreachable. Each attempt is kept:
who, when and the outcome.

The records are true because the scripts decide, atomically, who may write them:

* **One attempt per dial.** A dial starts only with the claim, no other dial in progress and
  the retry gap passed (``hold``); it leaves a marker (``DIALLING``: the dial, the call that
  dials, the advisor; it expires) that keeps the task from every other dial and outcome until
  the dial's own result (the ``<Dial>`` action, keyed by the dialled leg's SID in ``CALLS``)
  logs the attempt and clears it, or the console's call ends without one (``end_dial``).
* **Only the claim's holder records an outcome.** An attempt by anyone else is refused, except
  a supervisor's, which is recorded as such (``supervisor``, ``claimed_by``).
* **A manual outcome** (the advisor rang from another phone: no dial result can come) is
  labelled ``manual``, and refused while a dial's result is pending, before the retry gap (the
  last dial's result is already logged), or when the task changed since the advisor saw it.

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
DIALLING = "{{ivr}}:cb:task:{id}:dialling"   # hash: the dial in progress for it (expires)
# string: the resident answered the dial whose call is the value (set by the <Number url>
# announcement; only shown by the console while that dial's marker names the same call)
DIAL_ANSWERED = "{{ivr}}:cb:task:{id}:answered"
CLOSED = "{ivr}:cb:closed"                 # zset: task -> time closed (done or unreachable)
SKIPPED = "{{ivr}}:cb:skipped:{agent}"       # zset: task -> until when this agent skipped it
CLOSED_KEEP = 7 * 86400                  # closed tasks listed for a week (the console's list)
SCAN_LIMIT = 500
CLAIM_SECONDS = 600
# A dial's marker (and the claim with it) lasts this long if its result never comes: longer
# than any callback call, short enough that a lost result does not hold the task for a day.
DIAL_SECONDS = 2 * 3600


class Refusal(StrEnum):
    """Why a script changed nothing (the reply's ``reason``)."""

    NONE = ""
    UNKNOWN_AGENT = "agent"
    CLOSED = "closed"        # the task is not open (done, unreachable, unknown)
    REPEAT = "repeat"        # this dial's result is already logged
    CLAIMED = "claimed"      # another advisor holds the claim
    DIALLING = "dialling"    # a dial for the task is in progress: its result is pending
    TOO_SOON = "too_soon"    # before the retry gap since the last attempt
    CHANGED = "changed"      # an attempt was logged since the advisor saw the task


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
    "recording_task_key": RECORDING_TASK, "dialling_key": DIALLING,
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
  if redis.call('EXISTS', dialling_key(task)) == 1 then return false end  -- a call is on
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
local f = redis.call('HMGET', t, 'status', 'number', 'next_attempt_at')
local held, why, who = 0, '', redis.call('GET', KEYS[3]) or ''
if ARGV[4] == '1' and f[1] == 'open' and f[2] and f[2] ~= '' then
  if redis.call('EXISTS', KEYS[4]) == 1 then  -- a dial is on (pressing twice: still one)
    why, who = 'dialling', redis.call('HGET', KEYS[4], 'agent') or ''
  elseif ARGV[5] ~= '' and f[3] and f[3] ~= '' and tonumber(f[3]) > tonumber(ARGV[5]) then
    why = 'too_soon'
  elseif ARGV[6] == '' then  -- keep the claim only
    if claim(KEYS[3], id, ARGV[3]) then held = 1 else why = 'claimed' end
  elseif claim(KEYS[3], id, ARGV[8]) then  -- a dial starts: claim and marker last as long
    redis.call('HSET', KEYS[4], 'dial', ARGV[6], 'call', ARGV[7], 'agent', id, 'at', ARGV[5])
    redis.call('EXPIRE', KEYS[4], ARGV[8])
    held = 1
  else
    why = 'claimed'
  end
end
return {id, held, redis.call('HGETALL', t), why, who}
"""


@dataclass(frozen=True)
class Held:
    """A task as an agent's choice finds it, and whether they (still) hold its claim."""

    task: dict[str, str]  # {} for an unknown task
    held: bool
    reason: Refusal = Refusal.NONE  # why not, when they asked to take it
    who: str = ""  # the agent holding the claim (or dialling), when refused for that

    @property
    def workable(self) -> bool:
        """Open, with a number to dial."""
        return self.task.get("status") == "open" and bool(self.task.get("number"))


def _held(raw: list[Any]) -> Held:
    if not raw:
        return Held({}, False)
    reason = Refusal(_text(raw[3])) if len(raw) > 3 else Refusal.NONE
    return Held(_hash(raw[2]), bool(int(raw[1])), reason, _text(raw[4]) if reason else "")


def hold(pipe: Any, task_id: str, *, index_key: str, agent_id: str = "", take: bool,
         claim_seconds: int = CLAIM_SECONDS, now: float | None = None, dial: str = "",
         dial_call: str = "", dial_seconds: int = DIAL_SECONDS) -> Callable[[Any], Held]:
    """Queue reading the task and, when ``take``, keeping (or taking again, if it lapsed) this
    agent's claim on it, if it is still workable and no other agent has it: calling needs
    the claim, so two agents never ring the same resident. Returns the reply's parser.

    With ``dial`` (a token naming the dial about to start), taking also starts the dial: it is
    refused while another dial for the task is in progress (so pressing Call back twice places
    one call) or, given ``now``, before the retry gap; otherwise the task's marker names the
    dial, ``dial_call`` (the call that dials, when known) and the agent, and the claim and the
    marker last ``dial_seconds`` unless its result or end clears them first."""
    keys.eval_script(pipe, _HOLD, 4, index_key or keys.UNUSED, TASK.format(id=task_id),
                     CLAIM.format(id=task_id), DIALLING.format(id=task_id), agent_id,
                     task_id, claim_seconds, int(take), "" if now is None else f"{now:.3f}",
                     dial, dial_call, dial_seconds)
    return _held


# Names the call that dials (the console's call to the advisor's phone, once Twilio has made
# it) on the marker of the dial ``ARGV[1]``, if it is still that dial's and no other call's.
_DIAL_CALL = """
local f = redis.call('HMGET', KEYS[1], 'dial', 'call')
if f[1] ~= ARGV[1] then return 0 end
if f[2] and f[2] ~= '' and f[2] ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'call', ARGV[2])
return 1
"""


def note_dial_call(pipe: Any, task_id: str, dial: str, call_sid: str) -> None:
    """Queue naming ``call_sid`` as the call of ``dial`` (reply 1), unless the task's marker is
    gone or another dial's (reply 0: that call must not dial the resident)."""
    keys.eval_script(pipe, _DIAL_CALL, 1, DIALLING.format(id=task_id), dial, call_sid)


# The dial ``ARGV[1]`` is over without a result to log (the advisor's phone was not answered,
# or the call ended): its marker goes, and the claim it kept is given back.
_END_DIAL = """
local f = redis.call('HMGET', KEYS[1], 'dial', 'agent')
if f[1] ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if f[2] and redis.call('GET', KEYS[2]) == f[2] then redis.call('DEL', KEYS[2]) end
return 1
"""


def end_dial(target: Any, task_id: str, dial: str) -> Any:
    """Clear the marker of ``dial`` (and its advisor's claim), if it is still that dial's."""
    return keys.eval_script(target, _END_DIAL, 2, DIALLING.format(id=task_id),
                            CLAIM.format(id=task_id), dial)


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
if not id then return {'', '0', 0, '', {}, {}, 'agent', '', 0} end
local task = ARGV[5]
local t = KEYS[4]
local f = redis.call('HMGET', t, 'status', 'attempts', 'next_attempt_at')
local count = f[2] or '0'
local function refuse(why, who)
  return {f[1] or '', count, 0, id, {}, {}, why, who or '', 0}
end
if f[1] ~= 'open' then return refuse('closed') end
if ARGV[9] ~= '' and redis.call('SISMEMBER', KEYS[6], ARGV[9]) == 1 then
  return refuse('repeat')  -- this dial's result already logged (Twilio repeats a Dial action)
end
local manual = ARGV[10] == '1'
local dial = redis.call('HMGET', KEYS[9], 'call', 'agent')
local marked = redis.call('EXISTS', KEYS[9]) == 1
-- a dial's result is its own when the marker names the call that dialled
local ours = marked and not manual and ARGV[11] ~= '' and dial[1] == ARGV[11]
if marked and not ours then return refuse('dialling', dial[2]) end
local supervisor = redis.call('HGET', agent_key(id), 'role') == 'supervisor'
local holder = redis.call('GET', KEYS[7])
local over = ''  -- whose claim a supervisor recorded over
if not ours and holder and holder ~= id then
  if not supervisor then return refuse('claimed', holder) end
  over = holder
end
if manual then
  if ARGV[12] ~= '' and tonumber(count) ~= tonumber(ARGV[12]) then return refuse('changed') end
  if f[3] and f[3] ~= '' and tonumber(f[3]) > tonumber(ARGV[2]) then return refuse('too_soon') end
end
if ARGV[9] ~= '' then redis.call('SADD', KEYS[6], ARGV[9]) end
local entry = {agent = id, at = tonumber(ARGV[2]), outcome = ARGV[6], call = ARGV[9]}
if manual then entry.manual = true end
if supervisor then entry.supervisor = true end
if over ~= '' then entry.claimed_by = over end
redis.call('RPUSH', KEYS[5], cjson.encode(entry))
local n = redis.call('HINCRBY', t, 'attempts', 1)
redis.call('HSET', t, 'last_attempt_at', ARGV[2])
redis.call('DEL', KEYS[7])
if ours then redis.call('DEL', KEYS[9]) end
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
return {new, tostring(n), 1, id, redis.call('HGETALL', t), recs, '', over,
        supervisor and 1 or 0}
"""


@dataclass(frozen=True)
class Attempt:
    status: str   # the task's status after this attempt: open, done or unreachable
    count: int    # attempts so far
    logged: bool  # False when refused (``reason``) or a repeat: nothing changed
    agent_id: str = ""
    task: dict[str, str] = field(default_factory=dict)  # its fields, when logged (no re-read)
    recordings: list[str] = field(default_factory=list)  # when this attempt closed the task
    reason: Refusal = Refusal.NONE
    who: str = ""  # refused: the claim's holder or the advisor dialling; logged: the holder
    #                a supervisor recorded over ("" when the recorder held it, or nobody did)
    supervisor: bool = False  # recorded by a supervisor
    manual: bool = False  # recorded by hand: no dial result

    @property
    def closed_now(self) -> bool:
        """This attempt closed the task (done or unreachable): its retention starts."""
        return self.logged and self.status in ("done", "unreachable")


def _attempt(raw: list[Any], manual: bool = False) -> Attempt:
    status, count, logged, agent_id, flat, recs, reason, who, supervisor = raw
    return Attempt(_text(status), int(count), bool(int(logged)), _text(agent_id), _hash(flat),
                   [_text(x) for x in recs], Refusal(_text(reason)), _text(who),
                   bool(int(supervisor)), manual and bool(int(logged)))


def kept_for(keep_closed: int) -> int:
    """Seconds a closed task is kept: the configured period, never under the console's week."""
    return max(keep_closed, CLOSED_KEEP)


def _attempt_args(task_id: str, index_key: str, agent_id: str, outcome: Outcome, now: float,
                  retry_gap: int, max_attempts: int, keep_closed: int, call_sid: str,
                  manual: bool, dialled_from: str, expected: int | None) -> list[Any]:
    names = [index_key or keys.UNUSED, WORKLIST, CLOSED, TASK.format(id=task_id),
             ATTEMPTS.format(id=task_id), CALLS.format(id=task_id), CLAIM.format(id=task_id),
             TASK_RECORDINGS.format(id=task_id), DIALLING.format(id=task_id)]
    return [_ATTEMPT, len(names), *names, agent_id, f"{now:.3f}", retry_gap,
            max_attempts, task_id, str(outcome), CLOSED_KEEP, kept_for(keep_closed),
            call_sid, int(manual) if manual else "", dialled_from,
            "" if expected is None else expected]


def queue_attempt(pipe: Any, task_id: str, *, index_key: str, outcome: Outcome, now: float,
                  retry_gap: int, max_attempts: int, keep_closed: int,
                  call_sid: str = "", dialled_from: str = "") -> Callable[[Any], Attempt]:
    """A dial's result (``log_attempt``) on a pipeline, by the agent ``index_key`` (an
    agent-line call's link) names (nothing is logged for an unknown agent); returns the
    reply's parser. ``dialled_from``: the call that ran the ``<Dial>`` (the marker's)."""
    keys.eval_script(pipe, *_attempt_args(task_id, index_key, "", outcome, now, retry_gap,
                                          max_attempts, keep_closed, call_sid, False,
                                          dialled_from, None))
    return _attempt


def log_attempt(r: redis.Redis, task_id: str, *, agent_id: str, outcome: Outcome, now: float,
                retry_gap: int, max_attempts: int, keep_closed: int, call_sid: str = "",
                dialled_from: str = "", manual: bool = False,
                expected: int | None = None) -> Attempt:
    """Log one attempt atomically on an open task (one round trip).

    Answered closes the task as done; otherwise it stays open for another attempt no sooner
    than ``retry_gap`` seconds, until ``max_attempts``, when it is closed as unreachable.
    A closed task, its attempts and its voicemails' details (number, message URL) expire
    ``keep_closed`` seconds later: residents' details are kept no longer than needed. The
    reply names the recordings of a task it closed (``ivr.recordings`` deletes them at Twilio).

    Refused (``logged`` False, ``reason`` says why, nothing changed): a task that is not open;
    a dial result already logged (``call_sid``, the dialled leg); anything while another dial
    is in progress (a dial's own result names the call that dialled: ``dialled_from``); an
    agent other than the claim's holder, unless a supervisor (recorded as such). A ``manual``
    outcome is refused too before the retry gap, and when the task has had attempts other than
    ``expected`` (what the advisor saw). The reply carries the task's fields, so the events
    and the SMS need no second read.
    """
    raw = keys.eval_script(r, *_attempt_args(task_id, "", agent_id, outcome, now, retry_gap,
                                             max_attempts, keep_closed, call_sid, manual,
                                             dialled_from, expected))
    return _attempt(raw, manual)


def attempts(r: redis.Redis, task_id: str) -> list[dict]:
    return [json.loads(x) for x in r.lrange(ATTEMPTS.format(id=task_id), 0, -1)]
