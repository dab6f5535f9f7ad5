"""Failed sign-ins on the agent line and the lockouts they cause: per caller ID and per advisor.

A caller ID with ``agents.lockout_failures`` failures within ``agents.lockout_window`` is turned
away until that many seconds pass without another. Caller IDs cost nothing to change, so each
agent number counts its failures too, from whatever caller IDs: ``agents.agent_lockout_failures``
within the window lock that agent out of the line for ``lockout_window``, whatever PIN is then
keyed, until it ends or a supervisor unlocks them (``unlock``: ``ivr agents unlock``, the
console). Numbers that are no agent's count the same, so a lockout says nothing about which
numbers exist.

Every failure is an audit entry (``LINE_SIGNIN_FAILED``, the caller ID masked) and every new
lockout another (``LOCKED``), written by the script that counts, so the trail and the counts
never disagree. Times are the app's clock (``now``, as the events' are); Redis's own expiry only
clears keys left behind.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis

from ivr import agents, audit, events, keys
from ivr.audit import Action
from ivr.phone import mask

CALLER_FAILS = "{{ivr}}:agentfail:{caller}"     # failures from a caller ID (expires)
AGENT_FAILS = "{{ivr}}:agent:{id}:line_fails"   # zset: one failure for an agent number -> when
LOCKED = "{ivr}:agents:line_locked"             # zset: agent number -> locked out until

# KEYS: 1 the caller ID's count, 2 the agent number's failures (keys.UNUSED for none), 3 LOCKED,
# 4 the audit stream. ARGV: 1 now, 2 the window (s), 3 the caller ID's limit, 4 the agent's
# limit, 5 the agent number ('' for none), 6 this failure's member, 7 the oldest failure still
# counted (exclusive), 8 locked until, 9 the entries' ms, 10 the audit MINID, 11-13 the
# entries' fields (JSON): the failure, the agent's lockout, the caller ID's lockout.
_FAILED = events.LUA_ADD + """
local callers = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
local count, newly = 0, 0
if ARGV[5] ~= '' then
  redis.call('ZADD', KEYS[2], ARGV[1], ARGV[6])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[7])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
  count = redis.call('ZCARD', KEYS[2])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[1])
  if count >= tonumber(ARGV[4]) and not redis.call('ZSCORE', KEYS[3], ARGV[5]) then
    redis.call('ZADD', KEYS[3], ARGV[8], ARGV[5])
    newly = 1
  end
end
add_event(KEYS[4], ARGV[9], ARGV[10], cjson.decode(ARGV[11]))
if newly == 1 then add_event(KEYS[4], ARGV[9], ARGV[10], cjson.decode(ARGV[12])) end
if callers == tonumber(ARGV[3]) then
  add_event(KEYS[4], ARGV[9], ARGV[10], cjson.decode(ARGV[13]))
end
return {callers, count, newly}
"""


@dataclass(frozen=True)
class Limits:
    """``agents.lockout_failures``, ``agent_lockout_failures`` and ``lockout_window``."""

    caller_failures: int
    agent_failures: int
    window: int

    @classmethod
    def of(cls, agents_config: Any) -> Limits:
        return cls(agents_config.lockout_failures, agents_config.agent_lockout_failures,
                   agents_config.lockout_window)


@dataclass(frozen=True)
class Failure:
    """What one more failure made of the counts."""

    caller_failures: int
    agent_failures: int
    agent_locked_now: bool  # this failure locked the agent number out
    locked: bool  # the caller ID or the agent number is now locked out


@dataclass(frozen=True)
class Lockout:
    """An agent number locked out of the agent line."""

    agent_id: str
    until: float  # epoch seconds, the app's clock


@dataclass(frozen=True)
class Unlocked:
    """What ``unlock`` cleared."""

    agent_line: bool  # the agent number was locked out
    caller_ids: int  # caller IDs whose failures were cleared (locked or not)
    other: int  # other keys deleted (``extra_keys``: the console's, say)


def counted(agent_id: str) -> bool:
    """Is ``agent_id`` an agent number worth counting failures against (digits, 4 to 8)?"""
    return agent_id.isascii() and agent_id.isdigit() and 4 <= len(agent_id) <= 8


def caller_key(caller: str) -> str:
    return CALLER_FAILS.format(caller=caller or "unknown")


def _fields(entry: dict[str, str]) -> str:
    return json.dumps([x for kv in entry.items() for x in kv])


def record_failure(target: Any, *, caller: str, agent_id: str, call_sid: str, now: float,
                   limits: Limits, reason: str, retention_days: int | None) -> Any:
    """Count one failed sign-in against the caller ID and (when given) the agent number, with
    its audit entries, in one script; queued on a pipeline, or run on a client. Parse its
    reply with ``failure``."""
    agent_id = agent_id if counted(agent_id) else ""
    masked = mask(caller)
    failed = audit.entry("anonymous", Action.LINE_SIGNIN_FAILED, agent_id, now,
                         caller=masked, call=call_sid, reason=reason)
    agent_locked = audit.entry("anonymous", Action.LOCKED, agent_id, now, scope="agent line",
                               caller=masked, until=round(now + limits.window, 3))
    caller_locked = audit.entry("anonymous", Action.LOCKED, masked, now, scope="caller id",
                                agent=agent_id, until=round(now + limits.window, 3))
    own = events.ms(failed)
    names = [caller_key(caller), AGENT_FAILS.format(id=agent_id) if agent_id else keys.UNUSED,
             LOCKED, audit.STREAM]
    argv = [f"{now:.3f}", limits.window, limits.caller_failures, limits.agent_failures,
            agent_id, f"{now:.3f}:{secrets.token_hex(6)}", f"({now - limits.window:.3f}",
            f"{now + limits.window:.3f}", own, events.min_id(own, retention_days),
            _fields(failed), _fields(agent_locked), _fields(caller_locked)]
    return keys.eval_script(target, _FAILED, len(names), *names, *argv)


def failure(raw: Any, limits: Limits) -> Failure:
    callers, count, newly = (int(x) for x in raw)
    return Failure(callers, count, bool(newly),
                   callers >= limits.caller_failures or count >= limits.agent_failures)


def queue_check(pipe: Any, caller: str, agent_id: str = "") -> None:
    """Queue the reads ``locked`` needs: the caller ID's failures, the agent's lockout."""
    pipe.get(caller_key(caller))
    pipe.zscore(LOCKED, agent_id if counted(agent_id) else "")


def locked(caller_failures: Any, agent_until: Any, now: float, limits: Limits) -> bool:
    """From ``queue_check``'s two replies: is this caller ID, or this agent, locked out now?"""
    return (int(caller_failures or 0) >= limits.caller_failures
            or (agent_until is not None and float(agent_until) > now))


def clear_failures(pipe: Any, caller: str, agent_id: str) -> None:
    """A successful sign-in: the caller ID's and the agent's failures are forgotten."""
    pipe.delete(caller_key(caller))
    if counted(agent_id):
        pipe.delete(AGENT_FAILS.format(id=agent_id))


def lockouts(r: redis.Redis, now: float) -> list[Lockout]:
    """Agent numbers locked out of the agent line now, soonest to end first (one round trip)."""
    found = r.zrangebyscore(LOCKED, f"({now:.3f}", "+inf", withscores=True)
    return [Lockout(_text(member), float(until)) for member, until in found]


def unlock(r: redis.Redis, agent_id: str, actor: str, now: float, *,
           callers: Iterable[str] = (), extra_keys: Iterable[str] = (),
           retention_days: int | None = 730) -> Unlocked:
    """End an agent's lockout from the agent line and forget their failures, those of their
    own phone's caller ID and of ``callers``, and delete ``extra_keys`` (e.g. the console's
    lockout of that agent), with an ``UNLOCKED`` audit entry by ``actor`` (an agent number
    or ``cli``). Works for a number that is no agent's too (its failures count as well)."""
    phone = r.hget(agents.AGENT.format(id=agent_id), "phone")
    numbers = list(dict.fromkeys([*([_text(phone)] if phone else []), *callers]))
    extra = list(extra_keys)
    pipe = r.pipeline(transaction=True)  # atomic on a cluster too (one slot: ivr.keys)
    pipe.zscore(LOCKED, agent_id)
    pipe.zrem(LOCKED, agent_id)
    pipe.delete(AGENT_FAILS.format(id=agent_id))
    for number in numbers:
        pipe.delete(caller_key(number))
    if extra:
        pipe.delete(*extra)
    replies = pipe.execute()
    until = replies[0]
    cleared_callers = sum(int(x) for x in replies[3:3 + len(numbers)])
    other = int(replies[-1]) if extra else 0
    result = Unlocked(until is not None and float(until) > now, cleared_callers, other)
    audit.record(r, actor, Action.UNLOCKED, agent_id, now=now, retention_days=retention_days,
                 agent_line=result.agent_line, caller_ids=[mask(n) for n in numbers],
                 other_keys=other)
    return result


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
