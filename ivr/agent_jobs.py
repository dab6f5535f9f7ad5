"""RQ jobs for agents (on the ``callbacks`` queue). The import path is a contract."""

from __future__ import annotations

import time

from rq import get_current_job

from ivr import agents
from ivr.agents import State

END_WRAP_UP = "ivr.agent_jobs.end_wrap_up"


def end_wrap_up(agent_id: str, since: float) -> str:
    """Make an agent available again after wrap-up, unless they have moved on meanwhile."""
    r = get_current_job().connection
    agent = agents.get(r, agent_id)
    if agent is None or agent.state is not State.WRAP_UP or abs(agent.state_since - since) > 1e-3:
        return "unchanged"
    agents.set_state(r, agent, State.AVAILABLE, time.time(), reason="wrap-up time over")
    return "available"
