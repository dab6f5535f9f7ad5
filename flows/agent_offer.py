"""The push: a caller joining a queue is offered at once to an idle advisor (``ivr.offer``).

Called from the queue's enqueue step with the request's batch: the claim goes in the batch's
one round trip, after the caller's own queue entry; only when an advisor was claimed is an RQ
job queued (a second round trip) to redirect their agent-line call to the take step, so the
webhook never waits on Twilio's REST API.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError

from flows.common import Turn, external
from ivr import offer
from ivr.agent_jobs import OFFER_CALLER
from ivr.store import Batch

log = logging.getLogger(__name__)


def offer_caller(turn: Turn, dept: str, batch: Batch) -> None:
    """Claim the longest-idle advisor serving ``dept`` for this caller, if there is one."""
    caller = batch.call_sid
    url = external("agent_calls.take_next", offer=caller)
    jobs = turn.ivr.messages

    def claimed(result: Any) -> None:
        if not result:
            return
        agent_id, line = (x.decode() if isinstance(x, bytes) else str(x) for x in result)
        try:
            jobs.enqueue(OFFER_CALLER, agent_id, line, caller, url,
                         description=f"offer caller {caller} to agent {agent_id}")
        except RedisError as exc:  # the offer expires by itself; the menu finds the caller
            log.warning("could not queue the offer of %s to agent %s: %s", caller, agent_id, exc)

    batch.op(lambda p: offer.claim(p, dept, caller, batch.now), then=claimed)
