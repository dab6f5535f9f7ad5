"""Offering a caller to an idle advisor at once (push), as a contact-centre ACD does.

An advisor who is available and in the agent line's menu is *idle* (``agents.IDLE``, longest
idle first, with their agent-line call SID). When a caller joins a queue, one Lua script claims
the longest-idle advisor serving that department (``claim``): it takes them out of the idle
set and marks the offer on both sides, so two callers never claim one advisor and one caller
never claims two. An RQ job then redirects the advisor's live call to the take step with
Twilio's REST API (``ivr.agents.jobs.offer_caller``); the take step picks the longest-waiting
caller as always, so the push only wakes the advisor and FIFO order is kept.

An advisor who presses a key before the job runs withdraws the offer (``leave_idle``); once the
job has marked it sent, their key presses wait for the redirect instead, so it can never land
on a call they have already started. An offer that fails (the
REST call, or the advisor just left) is released (``release``); one never delivered expires
after ``OFFER_TTL``. Either way the caller stays queued, and the menu loop finds them.

Expiry reads one clock, Redis's own (``TIME`` inside each script): the claim stamps
``offer_at`` with it and every freshness check (the worker's confirm, the menu's mark and
leave) compares with it, in the script that then acts, so no process's clock is compared with
another's. Web and worker clocks that drift apart (the worker once compared the web's stamp
with ``time.time()``: 20 s of skew made every offer stale, or none) cannot matter, and no
round trip or key is added (a TTL'd marker key would need a key named inside the claim's
Lua). The idle set's score (who has been idle longest) still comes from the web's clock:
only order among web stamps depends on it.
"""

from __future__ import annotations

from typing import Any

import redis

from ivr import agents, connections, keys, store

OFFER_TTL = 20.0  # seconds after which an undelivered offer no longer holds the advisor
HOLD_SECONDS = 2  # the advisor's pause while an offer is on its way
TAKE_WINDOW_SECONDS = 2  # at the menu, callers waiting: silence this long takes the front one

# Redis's clock, in seconds: the one clock offers are stamped and judged by.
_REDIS_NOW = """
local function redis_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
"""

# Each idle advisor's hash and line-ended mark are found from the idle set: built from the
# prefixes in ARGV[3..5] (``agents.AGENT``, ``agents.LINE_ENDED``), in the ``{ivr}`` slot.
_CLAIM = _REDIS_NOW + """
if redis.call('HEXISTS', KEYS[3], 'offered_to') == 1 then return false end
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local key = ARGV[3] .. id
  local h = redis.call('HMGET', key, 'state', 'departments')
  local line = redis.call('HGET', KEYS[2], id)
  local serves = h[2] == false or h[2] == '' or
      string.find(',' .. h[2] .. ',', ',' .. ARGV[1] .. ',', 1, true) ~= nil
  if h[1] ~= 'available' or not line or
      redis.call('EXISTS', ARGV[4] .. line .. ARGV[5]) == 1 then
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
  elseif serves then
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    redis.call('HSET', key, 'offer', ARGV[2], 'offer_at', string.format('%.3f', redis_now()))
    redis.call('HSET', KEYS[3], 'offered_to', id)
    return {id, line}
  end
end
return false
"""

_MARK_IDLE = _REDIS_NOW + """
local h = redis.call('HMGET', KEYS[3], 'state', 'offer', 'offer_at')
if h[1] ~= 'available' or redis.call('EXISTS', KEYS[4]) == 1 then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 0
end
if h[2] and h[2] ~= '' then
  if tonumber(h[3] or '0') > redis_now() - tonumber(ARGV[4]) then return 0 end
  redis.call('HDEL', KEYS[3], 'offer', 'offer_at', 'offer_sent')  -- lost: no longer pending
end
redis.call('ZADD', KEYS[1], 'NX', ARGV[3], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
"""

# Shared with ``ivr.agents.context``: the agent line's first round trip leaves idle there.
# ``now`` is not used (kept so callers' ARGV stay put): freshness is judged by Redis's TIME.
LEAVE_IDLE_LUA = _REDIS_NOW + """
local function leave_idle(idle, idle_line, key, id, now, ttl)
  local h = redis.call('HMGET', key, 'offer', 'offer_at', 'offer_sent')
  if h[1] and h[1] ~= '' then
    local fresh = tonumber(h[2] or '0') > redis_now() - tonumber(ttl)
    if fresh and h[3] then return 0 end
    redis.call('HDEL', key, 'offer', 'offer_at', 'offer_sent')
  end
  redis.call('ZREM', idle, id)
  redis.call('HDEL', idle_line, id)
  return 1
end
"""

_LEAVE_IDLE = LEAVE_IDLE_LUA + """
return leave_idle(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3])
"""

_CONFIRM = _REDIS_NOW + """
local h = redis.call('HMGET', KEYS[1], 'offer', 'offer_at', 'state')
if h[1] ~= ARGV[1] or h[3] ~= 'available' or redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local now = redis_now()
if tonumber(h[2] or '0') <= now - tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'offer_sent', string.format('%.3f', now))
return 1
"""

_RELEASE = """
if redis.call('HGET', KEYS[1], 'offer') ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[1], 'offer', 'offer_at', 'offer_sent')
redis.call('HDEL', KEYS[2], 'offered_to')
return 1
"""


def _idle_keys(agent_id: str) -> list[str]:
    return [agents.IDLE, agents.IDLE_LINE, agents.AGENT.format(id=agent_id)]


def claim(pipe: Any, dept: str, caller_sid: str) -> None:
    """Queue the claim on ``pipe``; its result is ``[agent id, line SID]`` (bytes) or None.
    The offer is stamped with Redis's clock (see the module's docstring)."""
    keys.eval_script(pipe, _CLAIM, 3, agents.IDLE, agents.IDLE_LINE, store.call_key(caller_sid),
                     dept, caller_sid, agents.AGENT.format(id=""),
                     *keys.around(agents.LINE_ENDED))


def mark_idle(pipe: Any, agent_id: str, line_sid: str, now: float) -> None:
    """The advisor is in the menu: offerable, if available, on the line and not already
    offered a caller (an advisor never waits behind a second offer; an offer older than
    ``OFFER_TTL`` by Redis's clock was lost, and is cleared). ``now`` orders the idle."""
    keys.eval_script(pipe, _MARK_IDLE, 4, *_idle_keys(agent_id),
                     agents.LINE_ENDED.format(sid=line_sid), agent_id, line_sid, f"{now:.3f}",
                     OFFER_TTL)


def leave_idle(r: redis.Redis | Any, agent_id: str) -> Any:
    """The advisor chose something in the menu: no longer offerable, and an offer not yet sent
    is withdrawn (the job will not send it). Returns 0 (run directly: False) if the redirect
    is already on its way (sent, and fresh by Redis's clock), which they must then wait for."""
    result = keys.eval_script(r, _LEAVE_IDLE, 3, *_idle_keys(agent_id), agent_id, "",
                              OFFER_TTL)
    return result if connections.is_pipeline(r) else bool(result)


def still_offered(r: redis.Redis, agent_id: str, caller_sid: str, line_sid: str) -> bool:
    """Should the redirect be sent (the offer stands and is younger than ``OFFER_TTL`` by
    Redis's clock, the advisor is available and on the line)? If so it is marked sent, so
    that the advisor's own choices wait for it. Asks no local clock: the worker's may differ
    from the web's that claimed."""
    return bool(keys.eval_script(r, _CONFIRM, 2, agents.AGENT.format(id=agent_id),
                                 agents.LINE_ENDED.format(sid=line_sid), caller_sid,
                                 OFFER_TTL))


def release(r: redis.Redis, agent_id: str, caller_sid: str) -> bool:
    """Undo an offer that was not delivered; the caller stays queued, and the advisor becomes
    offerable again at their next menu (if still available and on the line)."""
    return bool(keys.eval_script(r, _RELEASE, 2, agents.AGENT.format(id=agent_id),
                                 store.call_key(caller_sid), caller_sid))


def queue_release(pipe: Any, agent_id: str, caller_sid: str) -> None:
    """``release`` on a pipeline (the request's batch)."""
    keys.eval_script(pipe, _RELEASE, 2, agents.AGENT.format(id=agent_id),
                     store.call_key(caller_sid), caller_sid)


def take_at_menu(state: agents.State, offer_pending: bool,
                 fronts: dict[str, float | None]) -> bool:
    """Should an advisor at the menu be taken to the longest-waiting caller without pressing 1?

    The push's counterpart: a caller joining a queue wakes an idle advisor, and an advisor
    becoming available (sign-in, wrap-up, a break, a callback) while callers already wait in
    their departments (``fronts``: when each department's front caller entered, or None) takes
    the longest-waiting one, instead of hearing the count and having to press 1. As a key
    pressed before the push's job runs withdraws it, the menu then leaves a short window
    (``TAKE_WINDOW_SECONDS``) for a break or sign-out: without it, an advisor could never
    leave while callers queue. Not while an offer is pending: its redirect is on its way and
    would land on the call."""
    return (state is agents.State.AVAILABLE and not offer_pending
            and agents.pick_queue(fronts) is not None)


def idle_agents(r: redis.Redis) -> list[str]:
    """Idle advisors, longest idle first (for tests and the console)."""
    return [x.decode() for x in r.zrange(agents.IDLE, 0, -1)]
