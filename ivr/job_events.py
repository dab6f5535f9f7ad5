"""What a Twilio job did, as call events: a failure is a failure in the report too.

RQ keeps a failed job in its failed registry (``/metrics``: ``ivr_jobs_failed_by_function``);
these events put the outcome beside the call it belongs to, so the report counts texts Twilio
accepted (``SMSSENT``), not jobs queued, and each try that failed (``SMSFAILED``,
``JOBFAILED``), ``final`` once no retry is left. Writing the event never hides the job's own
failure: a Redis error here is logged and the job's exception still propagates.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from redis.exceptions import RedisError
from rq import get_current_job

from ivr import connections, events
from ivr.events import Event

log = logging.getLogger(__name__)


def final_try() -> bool:
    """Whether the running job has no retry left (RQ counts them down as it retries)."""
    job = get_current_job()
    return job is None or not job.retries_left


def note(event: Event, call_sid: str = "", department: str = "", **details: Any) -> None:
    """Write one event for the running job (the stream is trimmed by the web processes)."""
    job = get_current_job()
    if job is None:
        return
    try:
        r = connections.state_for_job(job.connection)
        pipe = r.pipeline(transaction=False)
        events.add(pipe, events.fields(event, call_sid, time.time(), department or None,
                                       job=job.func_name, **details), None)
        pipe.execute()
    except RedisError as exc:
        log.warning("job %s: its %s event could not be written: %s", job.id, event, exc)
    except Exception:  # noqa: BLE001 - the event must never hide the job's own outcome
        log.exception("job %s: its %s event could not be written", job.id, event)


def failed(event: Event, exc: BaseException, call_sid: str = "", department: str = "",
           **details: Any) -> None:
    """Note a failed try (its error class and Twilio's code, never the message text, which
    can hold a phone number)."""
    code = getattr(exc, "code", None)
    note(event, call_sid, department, error=type(exc).__name__, code=code,
         status=getattr(exc, "status", None), final=final_try(), **details)
