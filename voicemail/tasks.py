"""Callback tasks: each voicemail becomes (or joins) one task due by the next working day.

Stored atomically by one Lua script so that Twilio delivering the same recording twice yields
one task, and a second voicemail from a number with an open callback joins that task. The
script also says whether the task still lacks its RQ release job, so a webhook costs two round
trips: the script, then one MULTI/EXEC with the job and the events (``schedule_release``).
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime

import redis
from rq import Queue, Retry

from ivr import keys
from ivr.calendar import CallbackWindow
from ivr.store import Batch

log = logging.getLogger(__name__)

TASK = "{{ivr}}:cb:task:{id}"  # hash: the callback task
TASK_RECORDINGS = "{{ivr}}:cb:task:{id}:recordings"  # list of recording ids, oldest first
RECORDING = "{{ivr}}:cb:recording:{id}"  # hash: one voicemail recording
SCHEDULED = "{ivr}:cb:scheduled"  # zset: task -> release time (not yet on the worklist)
WORKLIST = "{ivr}:cb:worklist"  # zset: task -> due time (released to agents)
OPEN_BY_NUMBER = "{{ivr}}:cb:open:{number}"
RECORDING_TASK = "{{ivr}}:cb:rec:{id}"  # recording id -> its task (a repeated delivery's lookup)
RELEASE_JOB = "voicemail.jobs.release_callback"  # the job's import path is a contract


@dataclass(frozen=True)
class Voicemail:
    """What one voicemail (or abandoned call) leaves behind; plain values, JSON-safe."""

    call_sid: str
    recording_id: str  # RecordingSid, or a stand-in for a call without a recording
    recording_url: str
    duration: int
    recording_status: str  # completed, failed, absent, none
    number: str  # callback number in E.164, "" when the caller gave none
    relay: bool
    department: str
    left_at: float  # epoch seconds
    source: str  # record_action, recording_status, abandoned

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Saved:
    task_id: str
    outcome: str  # created, merged, duplicate
    status: str
    due_at: float = 0.0  # when the task's callback is due (close of its callback day)
    release_at: float = 0.0  # when its release job runs (opening of its callback day)
    needs_job: bool = False  # still scheduled and its release job not (yet) in Redis


# KEYS: this recording's task index and hash, the caller's open task (unused without a
# number), the new task's hash and recordings list, the scheduled set. A task found from the
# index or the number is built from ARGV[2..4] (``TASK``'s prefix, ``TASK_RECORDINGS``'s
# suffix), in the same ``{ivr}`` slot (``ivr.keys``).
_SAVE = """
local a = cjson.decode(ARGV[1])
local function task_key(task) return ARGV[2] .. task .. ARGV[3] end
local function recordings_key(task) return ARGV[2] .. task .. ARGV[4] end
local function result(task, outcome)
  local h = redis.call('HMGET', task_key(task), 'status', 'release_at', 'due_at', 'release_job')
  local needs_job = 0
  if h[1] == 'scheduled' and not h[4] then needs_job = 1 end
  return {task, outcome, h[1] or '', h[2] or '', h[3] or '', needs_job}
end
local rec_key, rec_hash = KEYS[1], KEYS[2]
local task = redis.call('GET', rec_key)
if task then
  -- a late delivery never brings back details that retention has removed
  if a.recording.status ~= 'none' and redis.call('EXISTS', rec_hash) == 1 then
    redis.call('HSET', rec_hash, 'status', a.recording.status, 'duration', a.recording.duration,
               'url', a.recording.url)
  end
  return result(task, 'duplicate')
end
local outcome = 'merged'
if a.number ~= '' then task = redis.call('GET', KEYS[3]) end
if task then  -- join only a task someone will still work
  local status = redis.call('HGET', task_key(task), 'status')
  if status ~= 'scheduled' and status ~= 'open' then task = false end
end
local t, recordings = KEYS[4], KEYS[5]
if not task then
  task = a.task_id
  outcome = 'created'
  for k, v in pairs(a.task) do redis.call('HSET', t, k, tostring(v)) end
  redis.call('ZADD', KEYS[6], a.task.release_at, task)
  if a.number ~= '' then redis.call('SET', KEYS[3], task) end
else
  t, recordings = task_key(task), recordings_key(task)
end
for k, v in pairs(a.recording) do redis.call('HSET', rec_hash, k, tostring(v)) end
redis.call('HSET', rec_hash, 'task', task)
redis.call('RPUSH', recordings, a.recording_id)
redis.call('HINCRBY', t, 'voicemails', 1)
redis.call('SET', rec_key, task)
return result(task, outcome)
"""


def release_job_id(task_id: str) -> str:
    return f"callback-release-{task_id}"


def save_voicemail(r: redis.Redis, vm: Voicemail, window: CallbackWindow) -> Saved:
    """Create or join the caller's callback task (one round trip); ``needs_job`` says whether
    ``schedule_release`` must follow.

    Whether the task has its release job is read from the task's ``release_job`` mark, which
    ``schedule_release`` writes with the job: RQ's own keys are outside the state's slot
    (``ivr.keys``), so the script never reads them.

    Safe to call any number of times for the same recording (Twilio retries, spool replays).
    Raises RedisError when Redis is unreachable; the caller spools the voicemail.
    """
    task_id = "CB" + uuid.uuid4().hex[:20]
    args = {
        "recording_id": vm.recording_id,
        "number": vm.number,
        "task_id": task_id,
        "task": {
            "id": task_id,
            "status": "scheduled",
            "number": vm.number,
            "needs_number": int(not vm.number),
            "relay": int(vm.relay),
            "department": vm.department,
            "call_sid": vm.call_sid,
            "created_at": f"{vm.left_at:.3f}",
            "callback_day": window.callback_day.isoformat(),
            "release_at": int(window.release_at.timestamp()),
            "due_at": int(window.due_at.timestamp()),
            "source": vm.source,
            "attempts": 0,
        },
        "recording": {
            "call_sid": vm.call_sid,
            "url": vm.recording_url,
            "duration": vm.duration,
            "status": vm.recording_status,
            "department": vm.department,
            "left_at": f"{vm.left_at:.3f}",
            "source": vm.source,
        },
    }
    task_head, task_tail = keys.around(TASK)
    reply = keys.eval_script(r, _SAVE, 6, RECORDING_TASK.format(id=vm.recording_id),
                   RECORDING.format(id=vm.recording_id), OPEN_BY_NUMBER.format(number=vm.number),
                   TASK.format(id=task_id), TASK_RECORDINGS.format(id=task_id), SCHEDULED,
                   json.dumps(args), task_head, task_tail, keys.around(TASK_RECORDINGS)[1])
    task, outcome, status, release_at, due_at, needs_job = (
        x.decode() if isinstance(x, bytes) else str(x) for x in reply
    )
    return Saved(task, outcome, status, float(due_at or 0), float(release_at or 0),
                 needs_job == "1")


def schedule_release(batch: Batch, queue: Queue, saved: Saved) -> None:
    """The task's one RQ job, at the opening of its callback day, in the batch's MULTI/EXEC.

    Its id is fixed per task, so two deliveries racing past the script's check write the same
    job twice, never two jobs; if the batch fails, the spooled voicemail's replay finds the
    job missing and schedules it then. The task's ``release_job`` mark is written with the
    job (after it, when RQ has its own Redis), so a later delivery knows the job is there.
    """
    if not saved.needs_job:
        return
    when = datetime.fromtimestamp(saved.release_at).astimezone()
    batch.enqueue_at(
        queue,
        when,
        RELEASE_JOB,
        saved.task_id,
        job_id=release_job_id(saved.task_id),
        retry=Retry(max=5, interval=[10, 60, 300]),
        result_ttl=7 * 86400,
        failure_ttl=30 * 86400,
        description=f"release callback {saved.task_id} to the worklist",
    )
    key, job_id = TASK.format(id=saved.task_id), release_job_id(saved.task_id)
    batch.job_record(lambda p: p.hset(key, "release_job", job_id))


def load_task(r: redis.Redis, task_id: str) -> dict[str, str]:
    """A task with its recordings (for agents, reports and tests)."""
    raw = r.hgetall(TASK.format(id=task_id))
    task = {k.decode(): v.decode() for k, v in raw.items()}
    if not task:
        return {}
    rec_ids = [x.decode() for x in r.lrange(TASK_RECORDINGS.format(id=task_id), 0, -1)]
    task["recordings"] = json.dumps(
        [
            {k.decode(): v.decode() for k, v in r.hgetall(RECORDING.format(id=rid)).items()}
            | {"id": rid}
            for rid in rec_ids
        ]
    )
    return task
