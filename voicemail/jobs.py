"""RQ jobs on the ``callbacks`` queue. Referenced by dotted path: the path is a contract."""

from __future__ import annotations

from rq import get_current_job

from ivr import clock, connections
from voicemail.tasks import TASK, release_due


def release_callback(task_id: str) -> str:
    """Release a callback task to the agents' worklist at the opening of its callback day,
    and any other task whose release time has passed (so a job that never ran costs nothing).

    Returns 'released', or the task's status when something released it first. The stream is
    not trimmed here (the web processes' writes trim it to the configured retention)."""
    r = connections.state_for_job(get_current_job().connection)
    own, _ = release_due(r, clock.now().timestamp(), None, task_id)
    if own:
        return "released"
    status = r.hget(TASK.format(id=task_id), "status")
    return status.decode() if status else ""
