"""Working the callback worklist: the next due task, and the outcome of each attempt.

Shared by the agent line (phone) and the console (web). A task is done only when the resident
answered; after the configured attempts it is closed as unreachable. Each attempt is kept:
who, when and the outcome.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from enum import StrEnum

import redis

from voicemail.tasks import TASK, WORKLIST

ATTEMPTS = "ivr:cb:task:{id}:attempts"   # list of JSON attempts, oldest first
CLAIM = "ivr:cb:claim:{id}"              # an agent is working this task (expires)
SCAN_LIMIT = 500


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
             claim_seconds: int = 600) -> str | None:
    """Claim the task due soonest (overdue first) that this agent may work now, if any.

    ``departments`` None means any department (supervisors).
    """
    wanted = set(departments) if departments is not None else None
    ids = [x.decode() for x in r.zrange(WORKLIST, 0, SCAN_LIMIT - 1)]
    if not ids:
        return None
    pipe = r.pipeline(transaction=False)
    for task_id in ids:
        pipe.hmget(TASK.format(id=task_id), "department", "next_attempt_at", "status")
    for task_id, (dept, next_at, status) in zip(ids, pipe.execute(), strict=True):
        if (status or b"").decode() != "open":
            continue
        if wanted is not None and (dept or b"").decode() not in wanted:
            continue
        if next_at and float(next_at) > now:
            continue
        if r.set(CLAIM.format(id=task_id), agent_id, nx=True, ex=claim_seconds):
            return task_id
    return None


def release_claim(r: redis.Redis, task_id: str) -> None:
    r.delete(CLAIM.format(id=task_id))


_ATTEMPT = """
local t = KEYS[1]
local status = redis.call('HGET', t, 'status')
if status ~= 'open' then return {status or '', redis.call('HGET', t, 'attempts') or '0'} end
redis.call('RPUSH', KEYS[2], ARGV[1])
local n = redis.call('HINCRBY', t, 'attempts', 1)
redis.call('HSET', t, 'last_attempt_at', ARGV[2])
redis.call('DEL', KEYS[3])
local number = redis.call('HGET', t, 'number') or ''
local function close(new)
  redis.call('HSET', t, 'status', new, 'closed_at', ARGV[2])
  redis.call('ZREM', KEYS[4], ARGV[5])
  if number ~= '' and redis.call('GET', 'ivr:cb:open:' .. number) == ARGV[5] then
    redis.call('DEL', 'ivr:cb:open:' .. number)
  end
  return new
end
if ARGV[6] == 'answered' then return {close('done'), tostring(n)} end
if n >= tonumber(ARGV[4]) then return {close('unreachable'), tostring(n)} end
redis.call('HSET', t, 'next_attempt_at', tonumber(ARGV[2]) + tonumber(ARGV[3]))
return {'open', tostring(n)}
"""


def record_attempt(r: redis.Redis, task_id: str, *, agent_id: str, outcome: Outcome, now: float,
                   retry_gap: int, max_attempts: int, call_sid: str = "") -> tuple[str, int]:
    """Log one attempt atomically; returns the task's new status and attempt count.

    Answered closes the task as done; otherwise it stays open for another attempt no sooner
    than ``retry_gap`` seconds, until ``max_attempts``, when it is closed as unreachable.
    """
    attempt = json.dumps({"agent": agent_id, "at": round(now, 3), "outcome": str(outcome),
                          "call": call_sid})
    status, count = r.eval(
        _ATTEMPT, 4, TASK.format(id=task_id), ATTEMPTS.format(id=task_id),
        CLAIM.format(id=task_id), WORKLIST,
        attempt, f"{now:.3f}", retry_gap, max_attempts, task_id, str(outcome),
    )
    return (status.decode() if isinstance(status, bytes) else status), int(count)


def attempts(r: redis.Redis, task_id: str) -> list[dict]:
    return [json.loads(x) for x in r.lrange(ATTEMPTS.format(id=task_id), 0, -1)]
