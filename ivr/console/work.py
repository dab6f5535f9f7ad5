"""The callbacks worklist as the console shows it, and logging an attempt made from the console.

Reads the tasks the voicemail flow stores (``voicemail.tasks``) in two pipelined round trips,
whatever the number of tasks, and sorts them into sections: overdue, due, scheduled (not yet
released) and recently closed (done or unreachable).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from flows.agent_callbacks import log_attempt as shared_log_attempt
from flows.common import Turn
from ivr import agents, clock
from ivr.agents import Agent
from ivr.console.base import department_name, ivr, may_see, phone_display, when
from ivr.twiml import Call, Speaker
from voicemail.callbacks import ATTEMPTS, SCAN_LIMIT, Outcome
from voicemail.tasks import (
    RECORDING,
    SCHEDULED,
    TASK,
    TASK_RECORDINGS,
    WORKLIST,
    load_task,
    release_due,
)

CLOSED = "{ivr}:cb:closed"  # zset: task -> time closed (done or unreachable), recent first
RECENT_SECONDS = 7 * 86400
RECENT_SHOWN = 100
TASK_ID = re.compile(r"CB[0-9a-f]{20}")
RECORDING_SID = re.compile(r"RE[0-9a-fA-F]{32}")
E164 = re.compile(r"\+[1-9]\d{6,14}")
OUTCOME_LABELS = {
    Outcome.ANSWERED: "answered", Outcome.NO_ANSWER: "no answer", Outcome.BUSY: "busy",
    Outcome.FAILED: "failed", Outcome.CANCELED: "cancelled",
}
CONSOLE_OUTCOMES = (Outcome.ANSWERED, Outcome.NO_ANSWER, Outcome.BUSY)


@dataclass(frozen=True)
class Attempt:
    who: str
    at: str
    outcome: str


@dataclass(frozen=True)
class Recording:
    id: str
    playable: bool  # a Twilio recording we can stream through the console
    seconds: int
    left_at: str


@dataclass
class Row:
    id: str
    number: str  # national format for display
    callable: bool
    relay: bool
    department: str
    department_name: str
    status: str
    left_at: str
    due_by: str
    due_ts: float
    release_at: str
    closed_at: str
    next_attempt: str
    attempts: list[Attempt] = field(default_factory=list)
    recordings: list[Recording] = field(default_factory=list)


@dataclass
class Worklist:
    overdue: list[Row] = field(default_factory=list)
    due: list[Row] = field(default_factory=list)
    scheduled: list[Row] = field(default_factory=list)
    closed: list[Row] = field(default_factory=list)


def _text(raw: dict) -> dict[str, str]:
    return {k.decode(): v.decode(errors="replace") for k, v in raw.items()}


def _float(value: str | None) -> float:
    try:
        return float(value or 0)
    except ValueError:
        return 0.0


def _attempt(raw: bytes, names: dict[str, str]) -> Attempt | None:
    try:
        a: dict[str, Any] = json.loads(raw)
        who = str(a.get("agent", ""))
        outcome = str(a.get("outcome", ""))
        return Attempt(who=names.get(who, f"agent {who}"), at=when(a.get("at")),
                       outcome=OUTCOME_LABELS.get(outcome, outcome))
    except (ValueError, TypeError, AttributeError):
        return None


def load_rows(ids: list[str], at: float) -> list[Row]:
    """Tasks with their attempts and recordings, in two round trips (not one per task)."""
    r = ivr().redis
    names = {a.id: a.name for a in agents.all_agents(r)}
    pipe = r.pipeline(transaction=False)
    for task_id in ids:
        pipe.hgetall(TASK.format(id=task_id))
        pipe.lrange(TASK_RECORDINGS.format(id=task_id), 0, -1)
        pipe.lrange(ATTEMPTS.format(id=task_id), 0, -1)
    raw = pipe.execute()
    found = [(task_id, _text(raw[3 * i]), [x.decode() for x in raw[3 * i + 1]], raw[3 * i + 2])
             for i, task_id in enumerate(ids) if raw[3 * i]]
    pipe = r.pipeline(transaction=False)
    for _, _, rec_ids, _ in found:
        for rec_id in rec_ids:
            pipe.hgetall(RECORDING.format(id=rec_id))
    recs = iter(pipe.execute())
    rows = []
    for task_id, t, rec_ids, attempts in found:
        number = t.get("number", "")
        next_at = _float(t.get("next_attempt_at"))
        row = Row(
            id=task_id, number=phone_display(number), callable=bool(E164.fullmatch(number)),
            relay=t.get("relay") == "1", department=t.get("department", ""),
            department_name=department_name(t.get("department", "")),
            status=t.get("status", ""), left_at=when(t.get("created_at")),
            due_by=when(t.get("due_at")), due_ts=_float(t.get("due_at")),
            release_at=when(t.get("release_at")), closed_at=when(t.get("closed_at")),
            next_attempt=when(next_at) if next_at > at and t.get("status") == "open" else "",
        )
        row.attempts = [a for a in (_attempt(x, names) for x in attempts) if a]
        for rec_id in rec_ids:
            rec = _text(next(recs))
            row.recordings.append(Recording(
                id=rec_id, seconds=int(_float(rec.get("duration"))),
                left_at=when(rec.get("left_at")),
                playable=bool(RECORDING_SID.fullmatch(rec_id)) and rec.get("status") == "completed",
            ))
        rows.append(row)
    return rows


def worklist(viewer: Agent, at: float) -> Worklist:
    """The sections the viewer may see: tasks of their departments (supervisors: all)."""
    app = ivr()
    r = app.redis
    pipe = r.pipeline(transaction=False)
    # Tasks whose release time has passed are released first (job or no job), then read.
    release_due(pipe, at, app.config.events.retention_days)
    pipe.zrange(WORKLIST, 0, SCAN_LIMIT - 1)
    pipe.zrange(SCHEDULED, 0, SCAN_LIMIT - 1)
    pipe.zrevrangebyscore(CLOSED, "+inf", at - RECENT_SECONDS, start=0, num=RECENT_SHOWN)
    open_ids, scheduled_ids, closed_ids = ([x.decode() for x in ids]
                                           for ids in pipe.execute()[1:])
    ids = list(dict.fromkeys(open_ids + scheduled_ids + closed_ids))
    out = Worklist()
    for row in load_rows(ids, at):
        if not may_see(app.config, viewer, row.department):
            continue
        if row.status == "open":
            (out.overdue if row.due_ts < at else out.due).append(row)
        elif row.status == "scheduled":
            out.scheduled.append(row)
        elif row.status in ("done", "unreachable") and row.id in closed_ids:
            out.closed.append(row)
    order = {task_id: i for i, task_id in enumerate(ids)}
    for section in (out.overdue, out.due, out.scheduled, out.closed):
        section.sort(key=lambda row: order[row.id])
    return out


def visible_task(viewer: Agent, task_id: str) -> dict[str, str]:
    """The task if it exists and the viewer may work it, else {}."""
    if not TASK_ID.fullmatch(task_id):
        return {}
    task = load_task(ivr().redis, task_id)
    return task if task and may_see(ivr().config, viewer, task.get("department", "")) else {}


def console_turn() -> Turn:
    """A Turn for work done from the console: no call of its own, the council's voice."""
    app = ivr()
    return Turn(ivr=app, call=Call(sid="", from_="", to="", relay=False),
                speaker=Speaker(app.config), now=clock.now())


def log_attempt(turn: Turn, agent: Agent, task_id: str, outcome: Outcome,
                call_sid: str = "") -> tuple[str, int]:
    """Log one attempt from the console: the agent line's ``log_attempt`` (same events, same
    unreachable SMS). Returns the task's new status and attempt count."""
    found = shared_log_attempt(turn, agent, task_id, outcome, call_sid)
    return found.status, found.count
