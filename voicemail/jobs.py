"""RQ jobs on the ``callbacks`` queue. Referenced by dotted path: the path is a contract."""

from __future__ import annotations

import time

from rq import get_current_job

from ivr import connections, events, keys
from ivr.events import Event
from voicemail.tasks import SCHEDULED, TASK, WORKLIST

_RELEASE = """
local t = KEYS[1]
local status = redis.call('HGET', t, 'status')
if status ~= 'scheduled' then return status or '' end
redis.call('HSET', t, 'status', 'open', 'released_at', ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], redis.call('HGET', t, 'due_at'), ARGV[1])
return 'released'
"""


def release_callback(task_id: str) -> str:
    """Release a callback task to the agents' worklist at the opening of its callback day."""
    r = connections.state_for_job(get_current_job().connection)
    now = time.time()
    outcome = keys.eval_script(r, _RELEASE, 3, TASK.format(id=task_id), SCHEDULED, WORKLIST,
                               task_id, f"{now:.3f}")
    outcome = outcome.decode() if isinstance(outcome, bytes) else str(outcome)
    if outcome == "released":
        dept = r.hget(TASK.format(id=task_id), "department")
        pipe = r.pipeline(transaction=False)
        events.add(pipe, events.fields(
            Event.CALLBACK_RELEASED, "", now, dept.decode() if dept else "", task=task_id
        ), None)
        pipe.execute()
    return outcome
