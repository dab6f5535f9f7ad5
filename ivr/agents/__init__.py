"""Advisors: who they are, which departments they serve, and the state they are in.

Agents live in Redis (managed with ``ivr agents ...``, no code changes); secrets are kept only
as scrypt hashes. Every state change is an event, so reports can measure occupancy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import redis
from werkzeug.security import check_password_hash, generate_password_hash

from ivr import connections, credentials, events, keys
from ivr.events import Event
from ivr.store import Batch

AGENT = "{{ivr}}:agent:{id}"
AGENTS = "{ivr}:agents"               # set of agent ids
BY_PHONE = "{{ivr}}:agent:phone:{phone}"  # -> agent id
ON_DUTY = "{{ivr}}:dept:{dept}:signed_in"  # set of signed-in agent ids serving the department
ON_DUTY_ALL = ON_DUTY.format(dept="*")  # signed-in agents with no departments (they serve all)
AGENT_CALL = "{{ivr}}:agentcall:{sid}"    # the agent line call leg -> agent id
LINE_OF = "{{ivr}}:agent:{id}:line"       # agent id -> the call leg they were last linked to
LINE_ENDED = "{{ivr}}:agentcall:{sid}:ended"  # the agent line call has ended (status callback)
IDLE = "{ivr}:agents:idle"            # zset: agent id -> since, available and in the line's menu
IDLE_LINE = "{ivr}:agents:idle:line"  # hash: idle agent id -> their agent-line call SID
SEQ = "{ivr}:agent:seq"
FIRST_ID = 1000                     # agent numbers are 4 digits, keyed on the agent line
LINK_TTL = 16 * 3600                # a link outlives any shift on the line


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"


class State(StrEnum):
    SIGNED_OUT = "signed_out"
    AVAILABLE = "available"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    ON_BREAK = "on_break"


SIGNED_IN = frozenset({State.AVAILABLE, State.ON_CALL, State.WRAP_UP, State.ON_BREAK})


@dataclass(frozen=True)
class Agent:
    id: str
    name: str
    departments: tuple[str, ...]
    phone: str
    role: Role
    state: State
    state_since: float
    call_sid: str = ""
    offer: str = ""  # a caller offered to this agent (push) whose take is on its way
    offer_at: float = 0.0
    last_caller: str = ""  # the caller this agent was last bridged to (for the wrap-up)
    state_reason: str = ""  # why they are in this state ("set by 1001", "left the agent line")
    pin_hash: str = field(default="", repr=False)  # the agent line PIN's scrypt hash

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name.split() else self.name

    @property
    def supervisor(self) -> bool:
        return self.role is Role.SUPERVISOR

    def serves(self, department: str) -> bool:
        """No departments means all of them (the agent line, the console and the CLI agree)."""
        return not self.departments or department in self.departments

    @property
    def duty_keys(self) -> list[str]:
        """The on-duty sets this agent belongs to while signed in."""
        return [ON_DUTY.format(dept=d) for d in self.departments] or [ON_DUTY_ALL]


def _decode(raw: dict) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}


def from_hash(h: dict[str, str]) -> Agent:
    """An agent from their Redis hash, decoded."""
    return Agent(
        id=h["id"], name=h["name"],
        departments=tuple(d for d in h.get("departments", "").split(",") if d),
        phone=h.get("phone", ""), role=Role(h.get("role", "agent")),
        state=State(h.get("state", State.SIGNED_OUT)),
        state_since=float(h.get("state_since", 0) or 0), call_sid=h.get("call_sid", ""),
        offer=h.get("offer", ""), offer_at=float(h.get("offer_at", 0) or 0),
        last_caller=h.get("last_caller", ""), pin_hash=h.get("pin_hash", ""),
        state_reason=h.get("state_reason", ""),
    )


_from_hash = from_hash  # the name ivr.report.live uses


class AgentError(ValueError):
    """A request about agents that cannot be done (unknown agent, number already used)."""


def add(r: redis.Redis, *, name: str, departments: Iterable[str], phone: str, role: Role,
        now: float) -> Agent:
    """Create an agent, signed out; returns it with its new 4-digit agent number."""
    try:
        name = credentials.check_name(name)  # whoever adds: the CLI, the console, a script
    except ValueError as exc:
        raise AgentError(str(exc)) from None
    if phone and r.exists(BY_PHONE.format(phone=phone)):
        raise AgentError(f"the phone {phone} already belongs to another agent")
    agent_id = str(FIRST_ID + int(r.incr(SEQ)))
    mapping = {"id": agent_id, "name": name, "departments": ",".join(departments),
               "phone": phone, "role": str(role), "state": str(State.SIGNED_OUT),
               "state_since": f"{now:.3f}"}
    pipe = r.pipeline(transaction=True)  # atomic on a cluster too (one slot: ivr.keys)
    pipe.hset(AGENT.format(id=agent_id), mapping=mapping)
    pipe.sadd(AGENTS, agent_id)
    if phone:
        pipe.set(BY_PHONE.format(phone=phone), agent_id)
    pipe.execute()
    return from_hash(mapping)


def get(r: redis.Redis, agent_id: str) -> Agent | None:
    h = _decode(r.hgetall(AGENT.format(id=agent_id)))
    return from_hash(h) if h else None


# The agent's hash is found from the index's value: built from ARGV[1], AGENT's prefix (same
# ``{ivr}`` slot as the index, see ``ivr.keys``).
_BY_INDEX = """
local id = redis.call('GET', KEYS[1])
if not id then return {} end
return redis.call('HGETALL', ARGV[1] .. id)
"""


def _by_index(r: redis.Redis, key: str) -> Agent | None:
    """The agent an index key points at, in one round trip."""
    flat = keys.eval_script(r, _BY_INDEX, 1, key, AGENT.format(id=""))
    h = {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}
    return from_hash(h) if h else None


def by_phone(r: redis.Redis, phone: str) -> Agent | None:
    return _by_index(r, BY_PHONE.format(phone=phone)) if phone else None


def all_agents(r: redis.Redis) -> list[Agent]:
    """Every agent, by agent number (one round trip for the ids, one for the hashes)."""
    ids = sorted(x.decode() for x in r.smembers(AGENTS))
    pipe = r.pipeline(transaction=False)
    for agent_id in ids:
        pipe.hgetall(AGENT.format(id=agent_id))
    return [from_hash(_decode(h)) for h in pipe.execute() if h]


def remove(r: redis.Redis, agent_id: str) -> None:
    agent = get(r, agent_id)
    if agent is None:
        raise AgentError(f"no agent {agent_id}")
    pipe = r.pipeline(transaction=True)  # atomic on a cluster too (one slot: ivr.keys)
    pipe.delete(AGENT.format(id=agent_id))
    pipe.srem(AGENTS, agent_id)
    pipe.zrem(IDLE, agent_id)
    pipe.hdel(IDLE_LINE, agent_id)
    pipe.delete(LINE_OF.format(id=agent_id))
    for key in agent.duty_keys:
        pipe.srem(key, agent_id)
    if agent.phone:
        pipe.delete(BY_PHONE.format(phone=agent.phone))
    pipe.execute()


SECRET_METHOD = "scrypt"  # werkzeug's default cost (n=2**15, r=8, p=1): slow on purpose


def hash_secret(secret: str, method: str = SECRET_METHOD) -> str:
    """A salted scrypt hash of a password or PIN (what ``set_secret`` stores). The cost is
    written in the hash, so checking reads it from there; ``method`` other than the default is
    for the simulator's throw-away advisors only (``ivr.sim.simulate.SIM_PIN_METHOD``)."""
    return generate_password_hash(secret, method=method)


def set_secret(r: redis.Redis, agent_id: str, field: str, secret: str, *,
               hashed: str = "") -> None:
    """Store a password or PIN as a salted scrypt hash; the secret itself is never kept.
    ``hashed``: ``hash_secret(secret)`` made already (the simulator gives its many advisors
    one PIN for the cost of one hash). The rules for secrets are ``ivr.credentials``'."""
    if field not in ("password_hash", "pin_hash"):
        raise ValueError(field)
    if not r.exists(AGENT.format(id=agent_id)):
        raise AgentError(f"no agent {agent_id}")
    r.hset(AGENT.format(id=agent_id), field, hashed or hash_secret(secret))


_DUMMY_HASH = generate_password_hash("not-a-secret", method="scrypt")


def check_secret(r: redis.Redis, agent_id: str, field: str, secret: str) -> bool:
    """Does ``secret`` match? An unknown agent costs the same hash work as a known one, so the
    time taken gives no hint whether the agent number or the secret was wrong."""
    stored = r.hget(AGENT.format(id=agent_id), field) if agent_id.isdigit() else None
    return secret_matches(stored.decode() if stored else "", secret)


def secret_matches(stored: str, secret: str) -> bool:
    """``check_secret`` on a hash already read ("" for none): the same work either way."""
    matches = check_password_hash(stored or _DUMMY_HASH, secret or "")
    return bool(stored) and bool(secret) and matches


def set_state(r_or_pipe, agent: Agent, state: State, now: float, *, call_sid: str = "",
              reason: str = "", **details: Any) -> Agent:
    """Move an agent to ``state`` and record the change as an AGENTSTATE event (``details``
    join its data, e.g. ``reconciled=True``).

    Given a client, the writes go in one pipeline (one round trip); given a pipeline or a
    request's ``Batch``, they join it (the event with the state it describes). Returns the
    agent as it now is, so callers need not read it back.
    """
    if isinstance(r_or_pipe, Batch):
        r_or_pipe.op(lambda p: set_state(p, agent, state, now, call_sid=call_sid, reason=reason,
                                         **details))
        why = reason + (" (found by the reconciler)" if details.get("reconciled") else "")
        return _moved(agent, state, now, call_sid, why)
    if not connections.is_pipeline(r_or_pipe):
        pipe = r_or_pipe.pipeline(transaction=False)
        moved = set_state(pipe, agent, state, now, call_sid=call_sid, reason=reason, **details)
        pipe.execute()
        return moved
    why = reason + (" (found by the reconciler)" if details.get("reconciled") else "")
    r_or_pipe.hset(AGENT.format(id=agent.id), mapping={
        "state": str(state), "state_since": f"{now:.3f}", "call_sid": call_sid,
        "state_reason": why})
    for key in agent.duty_keys:
        if state in SIGNED_IN:
            r_or_pipe.sadd(key, agent.id)
        else:
            r_or_pipe.srem(key, agent.id)
    if state is not State.AVAILABLE:  # only an available agent in the menu can be offered
        r_or_pipe.zrem(IDLE, agent.id)
        r_or_pipe.hdel(IDLE_LINE, agent.id)
        r_or_pipe.hdel(AGENT.format(id=agent.id), "offer", "offer_at", "offer_sent")
    events.add(r_or_pipe, events.fields(
        Event.AGENT_STATE, call_sid, now, None, agent=agent.id, state=str(state),
        previous=str(agent.state), seconds_in_previous=round(now - agent.state_since, 1),
        reason=reason, **details), None)  # trimmed with the calls' events
    return _moved(agent, state, now, call_sid, why)


def _moved(agent: Agent, state: State, now: float, call_sid: str, why: str = "") -> Agent:
    """The agent after ``set_state`` (pure): an agent who is not available holds no offer."""
    if state is not State.AVAILABLE:
        agent = replace(agent, offer="", offer_at=0.0)
    return replace(agent, state=state, state_since=now, call_sid=call_sid, state_reason=why)


def anyone_on_duty(r: redis.Redis, department: str) -> bool:
    """Is any agent serving ``department`` (or every department) signed in? (one round trip)"""
    pipe = r.pipeline(transaction=False)
    count_on_duty(pipe, department)
    return any(pipe.execute())


def count_on_duty(pipe, department: str) -> None:
    """Queue two counts on ``pipe``: agents signed in for ``department``, and for all."""
    pipe.scard(ON_DUTY.format(dept=department))
    pipe.scard(ON_DUTY_ALL)


def link_call(r_or_pipe, call_sid: str, agent_id: str) -> None:
    """Remember which agent is on this call (for the rest of the call), and that it is the
    call they are on now (``line_of``: what the live reconcile asks Twilio about)."""
    r_or_pipe.set(AGENT_CALL.format(sid=call_sid), agent_id, ex=LINK_TTL)
    r_or_pipe.set(LINE_OF.format(id=agent_id), call_sid, ex=LINK_TTL)


def line_of(agent: Agent, linked: str, idle_line: str = "") -> str:
    """The call an agent is on, as far as we know (pure): the one last linked to them
    (``link_call``), else (linked before that was recorded) the line they idle on, or the
    call of their last state change; "" when none is known."""
    return linked or idle_line or agent.call_sid


def for_call(r: redis.Redis, call_sid: str) -> Agent | None:
    return _by_index(r, AGENT_CALL.format(sid=call_sid)) if call_sid else None


def end_line(r_or_pipe, call_sid: str) -> None:
    """The agent line call has ended: its late webhooks (a Dial action) change nothing."""
    r_or_pipe.set(LINE_ENDED.format(sid=call_sid), "1", ex=3600)


def line_ended(r: redis.Redis, call_sid: str) -> bool:
    return bool(call_sid) and bool(r.exists(LINE_ENDED.format(sid=call_sid)))


WRAP_UP_OVER_OFF_LINE = "wrap-up time over; off the agent line"  # the reason for that sign-out


@dataclass(frozen=True)
class LineEnd:
    """What the end of an agent's call means for them (``after_line_end``)."""

    state: State | None = None  # the state they move to at once (None: no change now)
    reason: str = ""
    completes_call: bool = False  # they hung up on a caller: COMPLETEAGENT
    # In wrap-up (since this time, their ``state_since``): it ends ``agents.wrap_up_seconds``
    # after the call's end, and then, off the line, they are signed out.
    wrap_up_since: float | None = None


def after_line_end(agent: Agent, call_sid: str, now: float) -> LineEnd:
    """The agent's call ``call_sid`` ended at ``now`` (pure; the status callback and the live
    reconcile both follow it). Mid-call means wrap-up for the configured time, then signed
    out; in wrap-up, the same end; available or on a break means signed out at once, since
    off the line they cannot take queued calls, and counting them on duty would keep callers
    waiting two minutes for nobody. An agent busy on another call now is left to that call."""
    if agent.call_sid not in ("", call_sid):
        return LineEnd()
    if agent.state is State.ON_CALL:
        return LineEnd(State.WRAP_UP, "agent hung up", completes_call=True, wrap_up_since=now)
    if agent.state is State.WRAP_UP:
        return LineEnd(wrap_up_since=agent.state_since)
    if agent.state in (State.AVAILABLE, State.ON_BREAK):
        return LineEnd(State.SIGNED_OUT, "left the agent line")
    return LineEnd()


def signed_in_departments(agents: Iterable[Agent], every: Iterable[str] = ()) -> set[str]:
    """Departments with at least one signed-in agent (pure); ``every`` is what an agent with
    no departments serves (all the configured ones)."""
    out: set[str] = set()
    for a in agents:
        if a.state in SIGNED_IN:
            out.update(a.departments or every)
    return out


def pick_queue(fronts: dict[str, float | None]) -> str | None:
    """Among departments, the one whose front caller has waited longest (entered earliest)."""
    waiting = {d: t for d, t in fronts.items() if t is not None}
    return min(waiting, key=lambda d: (waiting[d], d)) if waiting else None


# -- one take at a time per queue, when the whisper names the caller --------------------------
#
# ``<Dial><Queue>`` bridges whoever is at the front when the Dial reaches Twilio, not the caller
# the whisper described. Two advisors taking from one queue at once (routine with the push)
# could each hear the first caller's number and history, and one would be talking to someone
# else: a confidentiality breach. So a take whose whisper names the caller holds the queue's
# TAKING marker until its caller is dequeued (``/agent/introduce``) or its Dial ends, and a
# second take waits a moment and tries again, then describing the next caller.

TAKING = "{{ivr}}:taking:{dept}"  # string: the agent-line call SID taking this queue's front
TAKING_MS = 20_000  # a marker outlives no take: whisper + dequeue take a few seconds
TAKE_RETRY_SECONDS = 2  # the second advisor's pause before trying again

_HOLD_TAKING = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

_RELEASE_TAKING = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def hold_taking(pipe: Any, dept: str, line_sid: str) -> None:
    """Queue the claim on ``pipe``; its result is 1 when this take may go ahead (nobody else's
    take holds the queue; a repeat of this line's own take holds it again)."""
    keys.eval_script(pipe, _HOLD_TAKING, 1, TAKING.format(dept=dept), line_sid, TAKING_MS)


def release_taking(pipe: Any, dept: str, line_sid: str) -> Any:
    """Queue the release of this take's marker (a no-op if it is not this take's); run on a
    client, it returns 1 if it released it."""
    return keys.eval_script(pipe, _RELEASE_TAKING, 1, TAKING.format(dept=dept), line_sid)
