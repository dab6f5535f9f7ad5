"""Working the callback worklist: the next due task, and the outcome of each attempt.

Shared by the agent line (phone) and the console (web). A task is done only when the resident
answered; after the configured attempts it is closed as unreachable. Each attempt is kept:
who, when and the outcome.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from enum import StrEnum
from typing import NamedTuple

import redis

from voicemail.tasks import TASK, TASK_RECORDINGS, WORKLIST

ATTEMPTS = "ivr:cb:task:{id}:attempts"   # list of JSON attempts, oldest first
CLAIM = "ivr:cb:claim:{id}"              # an agent is working this task (expires)
CLOSED = "ivr:cb:closed"                 # zset: task -> time closed (done or unreachable)
SKIPPED = "ivr:cb:skipped:{agent}"       # zset: task -> until when this agent skipped it
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


def next_due(r: redis.Redis, departments: Iterable[str] | None, now: float, agent_id: str,
             claim_seconds: int = CLAIM_SECONDS, *, with_number: bool = False) -> str | None:
    """Claim the task due soonest (overdue first) that this agent may work now, if any.

    ``departments`` None means any department (supervisors). ``with_number``: only tasks with
    a number to dial (the phone cannot work the others; they stay for the console).
    """
    wanted = set(departments) if departments is not None else None
    pipe = r.pipeline(transaction=False)
    pipe.zrange(WORKLIST, 0, SCAN_LIMIT - 1)
    pipe.zrangebyscore(SKIPPED.format(agent=agent_id), f"({now}", "+inf")
    listed, skipped = pipe.execute()
    passed = {x.decode() for x in skipped}
    ids = [x.decode() for x in listed if x.decode() not in passed]
    if not ids:
        return None
    pipe = r.pipeline(transaction=False)
    for task_id in ids:
        pipe.hmget(TASK.format(id=task_id), "department", "next_attempt_at", "status", "number")
    for task_id, (dept, next_at, status, number) in zip(ids, pipe.execute(), strict=True):
        if (status or b"").decode() != "open" or (with_number and not number):
            continue
        if wanted is not None and (dept or b"").decode() not in wanted:
            continue
        if next_at and float(next_at) > now:
            continue
        if hold_claim(r, task_id, agent_id, claim_seconds):  # free, or already this agent's
            return task_id
    return None


_HOLD = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def hold_claim(r: redis.Redis, task_id: str, agent_id: str,
               claim_seconds: int = CLAIM_SECONDS) -> bool:
    """Keep (or take again, if it lapsed) this agent's claim; False if another agent has it."""
    return bool(r.eval(_HOLD, 1, CLAIM.format(id=task_id), agent_id, claim_seconds))


def skip(r: redis.Redis, task_id: str, agent_id: str, now: float,
         seconds: int = CLAIM_SECONDS) -> None:
    """The agent passes on this task for now: others may take it, and this agent's next
    request gets the next task rather than the same one again (for ``seconds``)."""
    key = SKIPPED.format(agent=agent_id)
    pipe = r.pipeline(transaction=False)
    pipe.zadd(key, {task_id: now + seconds})
    pipe.zremrangebyscore(key, "-inf", now)
    pipe.expire(key, seconds)
    pipe.execute()
    release_claim(r, task_id, agent_id)


def release_claim(r: redis.Redis, task_id: str, agent_id: str | None = None) -> None:
    """Give the task back to the worklist (only this agent's claim, when ``agent_id`` given)."""
    if agent_id is None:
        r.delete(CLAIM.format(id=task_id))
    else:
        r.eval(_RELEASE, 1, CLAIM.format(id=task_id), agent_id)


_ATTEMPT = """
local t = KEYS[1]
local status = redis.call('HGET', t, 'status')
if status ~= 'open' then return {status or '', redis.call('HGET', t, 'attempts') or '0', 0} end
redis.call('RPUSH', KEYS[2], ARGV[1])
local n = redis.call('HINCRBY', t, 'attempts', 1)
redis.call('HSET', t, 'last_attempt_at', ARGV[2])
redis.call('DEL', KEYS[3])
local number = redis.call('HGET', t, 'number') or ''
local function close(new)
  redis.call('HSET', t, 'status', new, 'closed_at', ARGV[2])
  -- kept for the retention period only: the task, its attempts and its voicemails' details
  local keep = tonumber(ARGV[8])
  redis.call('EXPIRE', t, keep)
  redis.call('EXPIRE', KEYS[2], keep)
  redis.call('EXPIRE', KEYS[6], keep)
  for _, rec in ipairs(redis.call('LRANGE', KEYS[6], 0, -1)) do
    redis.call('EXPIRE', 'ivr:cb:recording:' .. rec, keep)
  end
  redis.call('ZREM', KEYS[4], ARGV[5])
  redis.call('ZADD', KEYS[5], ARGV[2], ARGV[5])
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', tonumber(ARGV[2]) - tonumber(ARGV[7]))
  if number ~= '' and redis.call('GET', 'ivr:cb:open:' .. number) == ARGV[5] then
    redis.call('DEL', 'ivr:cb:open:' .. number)
  end
  return new
end
if ARGV[6] == 'answered' then return {close('done'), tostring(n), 1} end
if n >= tonumber(ARGV[4]) then return {close('unreachable'), tostring(n), 1} end
redis.call('HSET', t, 'next_attempt_at', tonumber(ARGV[2]) + tonumber(ARGV[3]))
return {'open', tostring(n), 1}
"""


class Attempt(NamedTuple):
    status: str   # the task's status after this attempt: open, done or unreachable
    count: int    # attempts so far
    logged: bool  # False when the task was no longer open (a repeated report): nothing changed


def log_attempt(r: redis.Redis, task_id: str, *, agent_id: str, outcome: Outcome, now: float,
                retry_gap: int, max_attempts: int, keep_closed: int,
                call_sid: str = "") -> Attempt:
    """Log one attempt atomically on an open task.

    Answered closes the task as done; otherwise it stays open for another attempt no sooner
    than ``retry_gap`` seconds, until ``max_attempts``, when it is closed as unreachable.
    A closed task, its attempts and its voicemails' details (number, message URL) expire
    ``keep_closed`` seconds later: residents' details are kept no longer than needed.
    A task that is not open (already closed, or unknown) is left alone: ``logged`` is False.
    """
    attempt = json.dumps({"agent": agent_id, "at": round(now, 3), "outcome": str(outcome),
                          "call": call_sid})
    status, count, logged = r.eval(
        _ATTEMPT, 6, TASK.format(id=task_id), ATTEMPTS.format(id=task_id),
        CLAIM.format(id=task_id), WORKLIST, CLOSED, TASK_RECORDINGS.format(id=task_id),
        attempt, f"{now:.3f}", retry_gap, max_attempts, task_id, str(outcome), CLOSED_KEEP,
        max(keep_closed, CLOSED_KEEP),
    )
    return Attempt(status.decode() if isinstance(status, bytes) else status, int(count),
                   bool(int(logged)))


def record_attempt(r: redis.Redis, task_id: str, *, agent_id: str, outcome: Outcome, now: float,
                   retry_gap: int, max_attempts: int, keep_closed: int,
                   call_sid: str = "") -> tuple[str, int]:
    """``log_attempt`` returning only the task's new status and attempt count."""
    found = log_attempt(r, task_id, agent_id=agent_id, outcome=outcome, now=now,
                        retry_gap=retry_gap, max_attempts=max_attempts,
                        keep_closed=keep_closed, call_sid=call_sid)
    return found.status, found.count


def attempts(r: redis.Redis, task_id: str) -> list[dict]:
    return [json.loads(x) for x in r.lrange(ATTEMPTS.format(id=task_id), 0, -1)]
