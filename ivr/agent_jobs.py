"""RQ jobs for agents (on the ``callbacks`` queue). The import path is a contract."""

from __future__ import annotations

import time

from rq import get_current_job

from ivr import agents
from ivr.agents import State

END_WRAP_UP = "ivr.agent_jobs.end_wrap_up"


def end_wrap_up(agent_id: str, since: float) -> str:
    """End an agent's wrap-up, unless they have moved on meanwhile: available if still on the
    agent line, else signed out, since off the line they cannot take queued calls and counting
    them on duty would keep callers waiting two minutes for nobody."""
    r = get_current_job().connection
    agent = agents.get(r, agent_id)
    if agent is None or agent.state is not State.WRAP_UP or abs(agent.state_since - since) > 1e-3:
        return "unchanged"
    if agent.call_sid and agents.line_ended(r, agent.call_sid):
        agents.set_state(r, agent, State.SIGNED_OUT, time.time(),
                         reason="wrap-up time over; off the agent line")
        return "signed_out"
    agents.set_state(r, agent, State.AVAILABLE, time.time(), reason="wrap-up time over")
    return "available"
