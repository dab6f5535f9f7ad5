"""What an agent-line webhook needs to know, read in its first round trip (one Lua script).

Every agent-line step starts from the same dependent reads: which agent is on this call (an
index key, then their hash), whether the line has ended, and, for the menu and the take step,
the front of each of the agent's queues. One script answers them all, so that a step costs
this round trip and one more for its writes (``store.Batch``). Read-decide-write sequences that
must be atomic happen in the script as well: leaving the idle set when a menu key is pressed
(``offer.LEAVE_IDLE_LUA``) and marking the line ended, once, when it ends.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis

from ivr import agents, keys, store
from ivr.agents import Agent, offer

T = TypeVar("T")
LINE_ENDED_TTL = 3600  # seconds the ended mark outlives the call (its late webhooks)

# The agent's hash, their queues and the front callers' calls are found from data: built from
# ARGV[8..11], the prefixes of ``agents.AGENT``, ``store.QUEUE``, ``store.CALL`` and
# ``agents.TAKING``, all in the ``{ivr}`` slot of the declared keys (``ivr.keys``).
# A queue whose only caller another agent is being connected to (their whisper, then their
# ``<Dial><Queue>`` waiting for the caller's ``<Enqueue>``) shows nobody waiting: else every
# agent reaching the menu then would be taken to them, find the queue held and retry every
# ``agents.TAKE_RETRY_SECONDS`` until the caller is dequeued. They stay idle, for the push.
_CONTEXT = offer.LEAVE_IDLE_LUA + """
local id = ARGV[1]
if id == '' then id = redis.call('GET', KEYS[1]) end
if not id then return {{}, 0, -1, {}} end
local key = ARGV[8] .. id
if redis.call('EXISTS', key) == 0 then return {{}, 0, -1, {}} end
local ended = redis.call('EXISTS', KEYS[2])
local left = -1
if ARGV[3] == '1' then left = leave_idle(KEYS[3], KEYS[4], key, id, ARGV[4], ARGV[5]) end
if ARGV[6] == '1' and ended == 0 then redis.call('SET', KEYS[2], '1', 'EX', ARGV[7]) end
local fronts = {}
if ARGV[2] ~= '' then
  local depts = redis.call('HGET', key, 'departments')
  if not depts or depts == '' then depts = ARGV[2] end
  for dept in string.gmatch(depts, '[^,]+') do
    local q = ARGV[9] .. dept
    local front = redis.call('ZRANGE', q, 0, 0, 'WITHSCORES')
    local count = redis.call('ZCARD', q)
    local taker = redis.call('GET', ARGV[11] .. dept)
    if count == 1 and taker and taker ~= ARGV[12] then
      front, count = {}, 0  -- the one caller is another agent's, being connected: none waits
    end
    local caller = ''
    if front[1] then caller = redis.call('HGET', ARGV[10] .. front[1], 'caller') or '' end
    table.insert(fronts, {dept, front[1] or '', front[2] or '0', count, caller})
  end
end
return {redis.call('HGETALL', key), ended, left, fronts}
"""


@dataclass(frozen=True)
class Front:
    """A queue's longest-waiting caller."""

    sid: str
    entered: float
    caller: str  # the number they rang from, as recorded on their call (for the whisper)


@dataclass(frozen=True)
class Context:
    agent: Agent | None
    line_ended: bool = False  # the agent-line call had ended before this request
    left_idle: bool = True  # False: a key was pressed but an offer's redirect is on its way
    fronts: dict[str, Front | None] = field(default_factory=dict)  # read when asked for
    counts: dict[str, int] = field(default_factory=dict)  # callers waiting, per department

    @property
    def waiting(self) -> int:
        return sum(self.counts.values())


def _text(x: Any) -> str:
    return x.decode() if isinstance(x, bytes) else str(x)


def _parse(raw: list[Any]) -> Context:
    flat, ended, left, rows = raw
    h = {_text(flat[i]): _text(flat[i + 1]) for i in range(0, len(flat), 2)}
    if not h:
        return Context(agent=None)
    fronts: dict[str, Front | None] = {}
    counts: dict[str, int] = {}
    for dept, sid, score, count, caller in rows:
        fronts[_text(dept)] = Front(_text(sid), float(score), _text(caller)) if sid else None
        counts[_text(dept)] = int(count)
    return Context(agent=agents.from_hash(h), line_ended=bool(int(ended)),
                   left_idle=int(left) != 0, fronts=fronts, counts=counts)


def _args(call_sid: str, index_key: str, agent_id: str, departments: list[str] | None,
          now: float, leave_idle: bool, end_line: bool) -> list[Any]:
    names = [index_key, agents.LINE_ENDED.format(sid=call_sid), agents.IDLE, agents.IDLE_LINE]
    argv = [agent_id, ",".join(departments or ()), int(leave_idle), f"{now:.3f}",
            offer.OFFER_TTL, int(end_line), LINE_ENDED_TTL, agents.AGENT.format(id=""),
            store.queue_key(""), store.call_key(""), agents.TAKING.format(dept=""), call_sid]
    return [len(names), *names, *argv]


def load(r: redis.Redis, call_sid: str, *, now: float, index_key: str | None = None,
         agent_id: str = "", departments: list[str] | None = None, leave_idle: bool = False,
         end_line: bool = False) -> Context:
    """The agent ``agent_id``, or else the one ``index_key`` (default: this agent-line call's
    link) points at, with what the step needs, in one round trip (EVALSHA).

    ``departments``: read the fronts of the agent's queues (these for an agent serving all);
    ``leave_idle``: the agent chose something, so they are no longer offerable (``left_idle``
    False if a redirect is already on its way); ``end_line``: the line has ended (only the
    first report finds ``line_ended`` False, so its consequences happen once).
    """
    index_key = index_key or agents.AGENT_CALL.format(sid=call_sid)
    args = _args(call_sid, index_key, agent_id, departments, now, leave_idle, end_line)
    script = _context_script(r)
    try:  # EVALSHA itself: redis-py's Script call first asks whether ``r`` is a cluster
        # pipeline, an isinstance through typing's Protocol machinery, a cost per step
        raw = r.evalsha(script.sha, *args)
    except redis.exceptions.NoScriptError:  # not loaded (a restarted Redis): as Script does
        script.sha = r.script_load(script.script)
        raw = r.evalsha(script.sha, *args)
    return _parse(raw)


@functools.lru_cache(maxsize=16)
def _context_script(r: redis.Redis) -> Any:
    """The registered script for a client, made once: registering hashes the whole script
    (SHA1 of its text), which every agent-line step paid for again."""
    return r.register_script(_CONTEXT)


def queue_load(pipe: Any, call_sid: str, *, now: float, agent_id: str,
               departments: list[str] | None = None) -> None:
    """``load`` on a pipeline (with reads of the caller's own); parse its result with
    ``parsed``."""
    keys.eval_script(pipe, _CONTEXT, *_args(call_sid, agents.AGENT_CALL.format(sid=call_sid),
                                            agent_id, departments, now, False, False))


def parsed(raw: list[Any]) -> Context:
    return _parse(raw)


def load_with(r: redis.Redis, call_sid: str, *, now: float, departments: list[str] | None,
              queue: Callable[[Any], Callable[[Any], T]]) -> tuple[Context, T]:
    """``load`` and the step's own script (``queue`` adds it to the pipeline and returns its
    reply's parser) in one round trip.

    The step's script finds the agent from this call's link itself, as ``_CONTEXT`` does, so
    it can read, decide and write for them (e.g. claim a callback) without waiting for this
    reply. Sent as EVAL: a pipeline cannot load a missing script without another round trip.
    """
    pipe = r.pipeline(transaction=False)
    queue_load(pipe, call_sid, now=now, agent_id="", departments=departments)
    parse = queue(pipe)
    raw, more = pipe.execute()
    return _parse(raw), parse(more)
