"""Recordings are deleted at Twilio when their retention ends, not only our pointers to them.

Each recording the service causes has a period in config, which the council's retention
schedule must confirm: a voicemail follows its callback task
(``callbacks_work.keep_closed_tasks`` after the task closes, when its details expire in Redis);
an advisor call (``recording.keep_advisor_calls``) and a spoken feedback comment
(``recording.keep_feedback_comments``) count from when Twilio reports the recording. When that
record is written, an RQ job is scheduled for the end of the period in the same round trip.

The job is idempotent (a 404 means already gone) and retried by RQ on any other failure. A
voicemail's job checks its task when it runs and keeps the recording while the task is being
worked (scheduled or open): deletion never takes a message an agent still needs.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum

from rq import Queue, Retry, get_current_job

from ivr import connections, job_events, twilio_rest
from ivr.events import Event
from ivr.store import Batch
from voicemail.tasks import TASK

DELETE_RECORDING = "ivr.recordings.delete_recording"  # the job's import path is a contract
RECORDING_SID = re.compile(r"RE[0-9a-fA-F]{32}")
# Twilio being down for a while must not leave a recording behind: retries over about a day.
RETRY = Retry(max=8, interval=[60, 300, 1800, 3600, 4 * 3600, 8 * 3600])
KEEP_JOB_RECORDS = 30 * 86400  # a finished or failed deletion stays visible in RQ for a month
WORKED = frozenset({"scheduled", "open"})  # a task in these states still needs its voicemails


class Kind(StrEnum):
    VOICEMAIL = "voicemail"
    ADVISOR_CALL = "advisor_call"
    FEEDBACK_COMMENT = "feedback_comment"


class Outcome(StrEnum):
    DELETED = "deleted"
    ALREADY_GONE = "already gone"  # Twilio answered 404: deleted before (or never kept)
    KEPT = "kept"  # its task is being worked again: not deleted


def deletable(sid: str) -> bool:
    """A Twilio recording SID (tasks also hold stand-ins for calls that left no recording)."""
    return bool(RECORDING_SID.fullmatch(sid))


def keep_for_task(task_status: str | None) -> bool:
    """Whether a voicemail's task still needs it when its deletion falls due: only a task
    someone will work (scheduled or open); a closed or expired one does not."""
    return task_status in WORKED


def deletion_job_id(sid: str) -> str:
    """One job per recording: a repeated report reschedules it, never adds a second."""
    return f"recording-delete-{sid}"


def schedule_deletion(batch: Batch, queue: Queue, sid: str, at: float, kind: Kind,
                      task_id: str = "") -> None:
    """Delete ``sid`` at Twilio at epoch ``at`` (an RQ job written in ``batch``'s round trip).
    Anything that is not a recording SID is skipped."""
    if not deletable(sid):
        return
    batch.enqueue_at(
        queue,
        datetime.fromtimestamp(at, UTC),
        DELETE_RECORDING,
        sid,
        str(kind),
        task_id,
        job_id=deletion_job_id(sid),
        retry=RETRY,
        result_ttl=KEEP_JOB_RECORDS,
        failure_ttl=KEEP_JOB_RECORDS,
        description=f"delete {kind} recording {sid} at Twilio (retention ended)",
    )


def delete_recording(sid: str, kind: str, task_id: str = "") -> str:
    """RQ job: delete a recording at Twilio when its retention ends. A 404 is success; other
    failures (missing credentials too) raise, so RQ retries, and each is a ``JOBFAILED``
    event. A voicemail whose task is scheduled or open is kept."""
    if task_id:
        state = connections.state_for_job(get_current_job().connection)
        status = state.hget(TASK.format(id=task_id), "status")
        if keep_for_task(status.decode() if status else None):
            return str(Outcome.KEPT)
    try:
        gone_now = twilio_rest.delete_recording(sid)
    except Exception as exc:  # counted (JOBFAILED, RQ's failed registry), never swallowed
        job_events.failed(Event.JOB_FAILED, exc, recording=sid, recording_kind=kind)
        raise
    return str(Outcome.DELETED if gone_now else Outcome.ALREADY_GONE)
