"""RQ jobs on the ``callbacks`` queue. Referenced by dotted path: the path is a contract."""

from __future__ import annotations

import time

from rq import get_current_job

from ivr import events
from ivr.events import Event

_RELEASE = """
local t = 'ivr:cb:task:' .. ARGV[1]
local status = redis.call('HGET', t, 'status')
if status ~= 'scheduled' then return status or '' end
redis.call('HSET', t, 'status', 'open', 'released_at', ARGV[2])
redis.call('ZREM', 'ivr:cb:scheduled', ARGV[1])
redis.call('ZADD', 'ivr:cb:worklist', redis.call('HGET', t, 'due_at'), ARGV[1])
return 'released'
"""


def release_callback(task_id: str) -> str:
    """Release a callback task to the agents' worklist at the opening of its callback day."""
    r = get_current_job().connection
    now = time.time()
    outcome = r.eval(_RELEASE, 0, task_id, f"{now:.3f}")
    outcome = outcome.decode() if isinstance(outcome, bytes) else str(outcome)
    if outcome == "released":
        dept = r.hget(f"ivr:cb:task:{task_id}", "department")
        pipe = r.pipeline(transaction=False)
        events.add(pipe, events.fields(
            Event.CALLBACK_RELEASED, "", now, dept.decode() if dept else "", task=task_id
        ), None)
        pipe.execute()
    return outcome
