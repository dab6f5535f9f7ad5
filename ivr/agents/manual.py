"""An advisor's state set by hand: by a supervisor (force a sign-out, a break, back to
available) or by the advisors themselves from the console, as the agent line's keys do.

What may be set is a plain decision (``refusal``): nobody is made available or put on a break
who is signed out, since an advisor with no agent-line call cannot be put through to anyone
(they sign in on their phone); nobody on a call is moved (the call's end moves them). The
change is an AGENTSTATE event like any other, with ``by`` (the agent number, or ``cli``) and
``manual: true`` in its data, and an audit entry, written together under WATCH so a webhook
moving the advisor meanwhile is never overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis
from redis.exceptions import WatchError

from ivr import agents, audit
from ivr.agents import Agent, AgentError, State
from ivr.audit import Action

CHOICES: dict[str, State] = {
    "available": State.AVAILABLE,
    "break": State.ON_BREAK,
    "signed_out": State.SIGNED_OUT,
}
LABELS = {State.AVAILABLE: "available", State.ON_BREAK: "on a break",
          State.SIGNED_OUT: "signed out", State.ON_CALL: "on a call",
          State.WRAP_UP: "in wrap-up"}
WATCH_TRIES = 5


def refusal(agent: Agent, wanted: State) -> str:
    """Why ``agent`` may not be moved to ``wanted`` now ("" if they may)."""
    if wanted not in CHOICES.values():
        return "that state cannot be set by hand"
    if agent.state is wanted:
        return f"{agent.name} is {LABELS[wanted]} already"
    if agent.state is State.ON_CALL:
        return f"{agent.name} is on a call; their state changes when it ends"
    if agent.state is State.SIGNED_OUT:
        return (f"{agent.name} is signed out; advisors sign in on the agent line (their phone), "
                "so there is a call to put callers through to")
    return ""


@dataclass(frozen=True)
class Moved:
    agent: Agent  # as they now are
    previous: State
    line: str  # their agent-line call, to hang up when signed out ("" if none known)


def set_by_hand(r: redis.Redis, agent_id: str, wanted: State, *, actor: str, now: float,
                retention_days: int | None) -> Moved:
    """Move the advisor to ``wanted`` with its event and audit entry; AgentError (with the
    reason, as a sentence) if ``refusal`` says no or there is no such advisor."""
    key, link_key = agents.AGENT.format(id=agent_id), agents.LINE_OF.format(id=agent_id)
    for _ in range(WATCH_TRIES):
        with r.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(key, link_key)
                raw = pipe.hgetall(key)
                link = pipe.get(link_key)
                idle = pipe.hget(agents.IDLE_LINE, agent_id)
                if not raw:
                    raise AgentError(f"no agent {agent_id}")
                agent = agents.from_hash({k.decode(): v.decode() for k, v in raw.items()})
                if why := refusal(agent, wanted):
                    raise AgentError(why)
                line = agents.line_of(agent, _text(link), _text(idle))
                pipe.multi()
                by = "themselves" if actor == agent_id else actor
                moved = agents.set_state(
                    pipe, agent, wanted, now, reason=f"set by {by}", manual=True, by=actor,
                    call_sid="" if wanted is State.SIGNED_OUT else agent.call_sid)
                audit.record(pipe, actor, Action.AGENT_STATE_SET, agent_id, now=now,
                             retention_days=retention_days, state=str(wanted),
                             previous=str(agent.state))
                pipe.execute()
                return Moved(moved, agent.state, line if wanted is State.SIGNED_OUT else "")
            except WatchError:
                continue
    raise AgentError(f"agent {agent_id} kept changing; try again")


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else (raw or "")
