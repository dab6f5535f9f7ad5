"""The agent jobs' old import path (now ``ivr.agents.jobs``), kept for one release.

RQ finds a job by its dotted path, so wrap-up ends and offers queued by the previous release
(at most ``agents.wrap_up_seconds`` ahead) still run after the upgrade. Remove once no
``ivr.agent_jobs.*`` job is left in the queues.
"""

from ivr.agents.jobs import end_wrap_up, offer_caller

__all__ = ["end_wrap_up", "offer_caller"]
