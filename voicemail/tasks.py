"""Callback tasks: each voicemail becomes (or joins) one task due by the next working day.

Stored by one Lua script: the task, its indexes and the voicemail's events are written in one
atomic step, so a crash leaves all of it or nothing. Twilio delivering the same recording twice
yields one task, and a second voicemail from a number with an open callback joins that task.

A task's place in the worklist follows from its own state and the clock, not from a job having
run: a task whose release time has passed is released (status ``open``, moved from
``SCHEDULED`` to ``WORKLIST``, one ``CALLBACKRELEASED`` event) by whichever comes first: its
RQ release job at the opening of its callback day, an advisor asking for the next callback,
the console's worklist, or the reconciler (``LUA_RELEASE``). The job only makes it prompt.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import redis
from rq import Queue, Retry

from ivr import events, keys
from ivr.calendar import CallbackWindow
from ivr.events import Event
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
# number), the new task's hash and recordings list, the scheduled set, the event stream. A task
# found from the index or the number is built from ARGV[2..4] (``TASK``'s prefix,
# ``TASK_RECORDINGS``'s suffix), in the same ``{ivr}`` slot (``ivr.keys``). ARGV[5] is the
# events' JSON: the fields common to both, the stream's trim MINID, and each event's details;
# the task id is added here, since only the script knows whether the voicemail joins a task.
_SAVE = events.LUA_ADD + """
local a = cjson.decode(ARGV[1])
local function task_key(task) return ARGV[2] .. task .. ARGV[3] end
local function recordings_key(task) return ARGV[2] .. task .. ARGV[4] end
local function result(task, outcome)
  local h = redis.call('HMGET', task_key(task), 'status', 'release_at', 'due_at', 'release_job')
  local needs_job = 0
  if h[1] == 'scheduled' and not h[4] then needs_job = 1 end
  return {task, outcome, h[1] or '', h[2] or '', h[3] or '', needs_job}
end
local function event(e, kind, details, task)
  details.task = task
  add_event(KEYS[7], e.ms, e.minid, {'event', kind, 'call', e.call, 'ts', e.ts, 'dept', e.dept,
                                     'data', cjson.encode(details)})
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
local e = cjson.decode(ARGV[5])
if outcome ~= 'created' then e.callback.due_at = tonumber(redis.call('HGET', t, 'due_at')) end
event(e, e.voicemail_kind, e.voicemail, task)
event(e, outcome == 'created' and e.created_kind or e.merged_kind, e.callback, task)
return result(task, outcome)
"""


def release_job_id(task_id: str) -> str:
    return f"callback-release-{task_id}"


def save_voicemail(r: redis.Redis, vm: Voicemail, window: CallbackWindow,
                   retention_days: int | None = None) -> Saved:
    """Create or join the caller's callback task with its events, in one atomic script (one
    round trip); ``needs_job`` says whether ``schedule_release`` should follow.

    Once this returns, the voicemail is safe: the task is released from its release time by
    whoever looks first (``LUA_RELEASE``), with or without its job. ``retention_days`` trims
    the event stream as every other writer does.

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
    own_ms = int(vm.left_at * 1000)
    evs = {
        "call": vm.call_sid, "ts": f"{vm.left_at:.3f}", "dept": vm.department, "ms": own_ms,
        "minid": events.min_id(own_ms, retention_days),
        "voicemail_kind": str(Event.VOICEMAIL), "created_kind": str(Event.CALLBACK_CREATED),
        "merged_kind": str(Event.CALLBACK_MERGED),
        "voicemail": {"recording": vm.recording_id, "duration": vm.duration,
                      "status": vm.recording_status, "source": vm.source},
        "callback": {"relay": vm.relay, "has_number": bool(vm.number),
                     "due_at": float(int(window.due_at.timestamp()))},
    }
    task_head, task_tail = keys.around(TASK)
    reply = keys.eval_script(r, _SAVE, 7, RECORDING_TASK.format(id=vm.recording_id),
                   RECORDING.format(id=vm.recording_id), OPEN_BY_NUMBER.format(number=vm.number),
                   TASK.format(id=task_id), TASK_RECORDINGS.format(id=task_id), SCHEDULED,
                   events.STREAM, json.dumps(args), task_head, task_tail,
                   keys.around(TASK_RECORDINGS)[1], json.dumps(evs))
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


# Lua: release(task, now, ms, minid) puts one scheduled task on the worklist (status open,
# scored by its due time) with its CALLBACKRELEASED event, and returns whether it did (a task
# released, closed or gone is left alone, so every path may call it any number of times);
# release_due(now, ms, minid, limit) releases every task whose release time has passed.
# Scripts that include it pass the scheduled set, the worklist and the stream as
# ``RELEASE_KEYS`` and define nothing else under these names; task keys are built from
# ``TASK``'s prefix (generated here, never written in Lua).
_TASK_HEAD, _TASK_TAIL = keys.around(TASK)
LUA_RELEASE = f"""
local function release_task_key(id) return '{_TASK_HEAD}' .. id .. '{_TASK_TAIL}' end
local RELEASED = '{Event.CALLBACK_RELEASED}'
""" + events.LUA_ADD + """
local function release(rk, task, now, ms, minid)
  local t = release_task_key(task)
  local f = redis.call('HMGET', t, 'status', 'due_at', 'department', 'release_at')
  redis.call('ZREM', rk.scheduled, task)
  if f[1] ~= 'scheduled' then return false end
  redis.call('HSET', t, 'status', 'open', 'released_at', now)
  redis.call('ZADD', rk.worklist, f[2], task)
  local data = cjson.encode({task = task, release_at = tonumber(f[4])})
  add_event(rk.stream, ms, minid,
            {'event', RELEASED, 'call', '', 'ts', now, 'dept', f[3] or '', 'data', data})
  return true
end
local function release_due(rk, now, ms, minid, limit)
  local n = 0
  for _, task in ipairs(redis.call('ZRANGEBYSCORE', rk.scheduled, '-inf', now,
                                   'LIMIT', 0, limit)) do
    if release(rk, task, now, ms, minid) then n = n + 1 end
  end
  return n
end
"""
RELEASE_LIMIT = 500  # tasks released by one call at most (the rest by the next)


def release_args(now: float, retention_days: int | None) -> list[str | int]:
    """ARGV for ``LUA_RELEASE``'s functions: the time, its ms and the stream's trim MINID."""
    own = int(now * 1000)
    return [f"{now:.3f}", own, events.min_id(own, retention_days)]


RELEASE_KEYS = (SCHEDULED, WORKLIST, events.STREAM)

# KEYS: RELEASE_KEYS, then the task to release whatever its time (the job's own; UNUSED for
# none). ARGV: release_args, the limit.
_RELEASE_DUE = LUA_RELEASE + """
local rk = {scheduled = KEYS[1], worklist = KEYS[2], stream = KEYS[3]}
local now, ms, minid = ARGV[1], ARGV[2], ARGV[3]
local own = 0
if ARGV[5] ~= '' and release(rk, ARGV[5], now, ms, minid) then own = 1 end
return {own, release_due(rk, now, ms, minid, tonumber(ARGV[4]))}
"""


def release_due(target: Any, now: float, retention_days: int | None = None,
                task_id: str = "") -> Any:
    """Release every task whose release time has passed (and ``task_id`` whatever its time):
    on a client, returns (1 if ``task_id`` was released now, others released); on a
    pipeline, queues it. Idempotent: a task is released once, with one event."""
    own = TASK.format(id=task_id) if task_id else keys.UNUSED
    return keys.eval_script(target, _RELEASE_DUE, 4, *RELEASE_KEYS, own,
                            *release_args(now, retention_days), RELEASE_LIMIT, task_id)


# KEYS: the worklist, the stream. ARGV: release_args, the limit. Each open task past its due
# time gets ``overdue_at`` and one CALLBACKOVERDUE event, once.
_NOTE_OVERDUE = LUA_RELEASE + f"""
local OVERDUE = '{Event.CALLBACK_OVERDUE}'
""" + """
local n = 0
for _, task in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0,
                                 tonumber(ARGV[4]))) do
  local t = release_task_key(task)
  local f = redis.call('HMGET', t, 'status', 'overdue_at', 'department', 'due_at', 'attempts')
  if f[1] == 'open' and not f[2] then
    redis.call('HSET', t, 'overdue_at', ARGV[1])
    local data = cjson.encode({task = task, due_at = tonumber(f[4]),
                               attempts = tonumber(f[5]) or 0})
    add_event(KEYS[2], ARGV[2], ARGV[3],
              {'event', OVERDUE, 'call', '', 'ts', ARGV[1], 'dept', f[3] or '', 'data', data})
    n = n + 1
  end
end
return n
"""


def note_overdue(r: Any, now: float, retention_days: int | None = None) -> int:
    """Note each open task past its due time once (``overdue_at``, a CALLBACKOVERDUE event):
    the next-working-day promise broken is an event, not only an absence. Returns how many."""
    return int(keys.eval_script(r, _NOTE_OVERDUE, 2, WORKLIST, events.STREAM,
                                *release_args(now, retention_days), RELEASE_LIMIT))


def commit_release(batch: Batch, queue: Queue, saved: Saved) -> bool:
    """Send the task's release job (``schedule_release``) in its own round trip. Its loss
    costs nothing: the task is released from its release time by whoever looks first, so
    it is never spooled. False when Redis failed."""
    schedule_release(batch, queue, saved)
    return batch.commit("voicemail release job") is not None


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
