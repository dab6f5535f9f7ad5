"""RQ jobs for agents. The import paths are a contract."""

from __future__ import annotations

import logging
import time

from rq import Retry, get_current_job
from twilio.base.exceptions import TwilioException

from ivr import agents, connections, job_events, twilio_rest
from ivr.agents import State, offer
from ivr.events import Event

log = logging.getLogger(__name__)

END_WRAP_UP = "ivr.agents.jobs.end_wrap_up"  # on the ``callbacks`` queue
OFFER_CALLER = "ivr.agents.jobs.offer_caller"  # on the ``messages`` queue (Twilio REST jobs)
# Until it runs the advisor stays in wrap-up, taking no calls: tried again soon, five times
# over about 4 minutes (the job checks the state first, so a repeat changes nothing), then
# RQ's failed registry (``ivr_jobs_failed``).
END_WRAP_UP_RETRY = Retry(max=5, interval=[5, 15, 30, 60, 120])


def end_wrap_up(agent_id: str, since: float) -> str:
    """End an agent's wrap-up, unless they have moved on meanwhile: available if still on the
    agent line, else signed out, since off the line they cannot take queued calls and counting
    them on duty would keep callers waiting two minutes for nobody. Retried
    (``END_WRAP_UP_RETRY``) if the state cannot be read or written."""
    r = connections.state_for_job(get_current_job().connection)
    agent = agents.get(r, agent_id)
    if agent is None or agent.state is not State.WRAP_UP or abs(agent.state_since - since) > 1e-3:
        return "unchanged"
    if agent.call_sid and agents.line_ended(r, agent.call_sid):
        agents.set_state(r, agent, State.SIGNED_OUT, time.time(),
                         reason=agents.WRAP_UP_OVER_OFF_LINE)
        return "signed_out"
    agents.set_state(r, agent, State.AVAILABLE, time.time(), reason="wrap-up time over")
    return "available"


def offer_caller(agent_id: str, line_sid: str, caller_sid: str, url: str) -> str:
    """Redirect an idle advisor's agent-line call to the take step (``calls.update``).

    Whether the offer is still fresh is judged by Redis's clock (``offer.still_offered``), never
    this worker's, which may be skewed from the web process's that claimed it.

    Not retried: if the advisor has just left or the REST call fails, the offer is released
    at once and the caller, still queued, is found by the advisor's menu loop instead. A
    failed REST call still raises (after the release), so it counts as a failed job."""
    r = connections.state_for_job(get_current_job().connection)
    if not offer.still_offered(r, agent_id, caller_sid, line_sid):
        offer.release(r, agent_id, caller_sid)
        return "released"
    try:
        twilio_rest.client().calls(line_sid).update(url=url, method="POST")
    except (TwilioException, twilio_rest.TwilioNotConfigured, OSError) as exc:
        offer.release(r, agent_id, caller_sid)
        log.warning("offer of call %s to agent %s not delivered: %s", caller_sid, agent_id, exc)
        job_events.failed(Event.JOB_FAILED, exc, caller_sid, agent=agent_id)
        raise  # a failure, in RQ's failed registry and /metrics, not a finished job
    return "offered"
