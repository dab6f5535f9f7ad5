"""The push: a caller joining a queue is offered at once to an idle advisor (``ivr.agents.offer``).

Two round trips, like any webhook: the claim runs in the first, with the read of who is on
duty (``claim_on``); the RQ job that redirects the claimed advisor's agent-line call to the
take step then rides in the request's batch (``send``), in the same MULTI/EXEC as the caller's
queue entry, so the webhook never waits on Twilio's REST API and the job never runs before the
caller is queued. If that commit fails the claim is released (it would expire anyway).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from flows.common import Turn, external
from ivr.agents import offer
from ivr.agents.jobs import OFFER_CALLER
from ivr.logsafe import clean
from ivr.store import Batch


class Claim(NamedTuple):
    agent: str  # the advisor claimed
    line: str  # their agent-line call SID


def claim_on(pipe: Any, turn: Turn, dept: str) -> None:
    """Queue the claim of the longest-idle advisor serving ``dept`` for this caller."""
    offer.claim(pipe, dept, turn.call.sid)


def claimed(result: Any) -> Claim | None:
    """The claim's answer, as queued by ``claim_on``."""
    if not result:
        return None
    agent, line = (x.decode() if isinstance(x, bytes) else str(x) for x in result)
    return Claim(agent, line)


def send(turn: Turn, batch: Batch, claim: Claim) -> None:
    """The job redirecting the claimed advisor, in ``batch``; released if the batch is lost."""
    caller = batch.call_sid
    batch.enqueue(turn.ivr.messages, OFFER_CALLER, claim.agent, claim.line, caller,
                  external("agent_calls.take_next", offer=caller),
                  description=f"offer caller {clean(caller)} to agent {claim.agent}")
    batch.if_lost(lambda: offer.release(turn.ivr.redis, claim.agent, caller))
