"""The callbacks worklist as the console shows it, and logging an attempt made from the console.

Reads the tasks the voicemail flow stores (``voicemail.tasks``) in two pipelined round trips,
whatever the number of tasks, and sorts them into sections: overdue, due, scheduled (not yet
released) and recently closed (done or unreachable). Each open card says what the viewer may do
now: call back, or record by hand a call made from another phone; neither while another
advisor holds it (a supervisor may still record), while a call of it is on, or before the
retry gap. ``voicemail.callbacks`` enforces the same rules; the card only shows them.
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
from ivr.console.base import department_name, elapsed, ivr, may_see, phone_display, when
from ivr.twiml import Call, Speaker
from voicemail import callbacks
from voicemail.callbacks import ATTEMPTS, CLAIM, DIAL_ANSWERED, DIALLING, SCAN_LIMIT, Outcome
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
    note: str = ""  # recorded by hand; by a supervisor (over whose claim)


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
    made: int = 0  # attempts so far (a manual outcome is attempt ``made + 1``)
    holder: str = ""  # the agent id holding the claim
    dialling: str = ""  # the agent id whose call of it is on
    dial_call: str = ""  # that dial's call (the advisor's phone)
    answered_call: str = ""  # the dial call whose resident answered
    digits: str = ""  # the number's digits, national and international (for search)
    attempts: list[Attempt] = field(default_factory=list)
    recordings: list[Recording] = field(default_factory=list)
    # For the viewer (``worklist``): who else has it, and what they may do now.
    claimed_by: str = ""  # another advisor's name
    holder_name: str = ""  # who holds the claim ("you" for the viewer)
    dialling_by: str = ""  # whose call is on ("you" for the viewer)
    overdue_by: str = ""  # how long past its due time (open tasks)
    progress: str = ""  # the call's progress or the last attempt's result, in words
    can_call: bool = False
    can_record: bool = False
    over_claim: bool = False  # recording would be a supervisor's, over another's claim


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


def _name(names: dict[str, str], agent_id: str) -> str:
    return names.get(agent_id, f"agent {agent_id}")


def _attempt(raw: bytes, names: dict[str, str]) -> Attempt | None:
    try:
        a: dict[str, Any] = json.loads(raw)
        who = str(a.get("agent", ""))
        outcome = str(a.get("outcome", ""))
        notes = ["recorded by hand, no dial result"] if a.get("manual") else []
        if a.get("claimed_by"):
            notes.append(f"by a supervisor, over {_name(names, str(a['claimed_by']))}'s claim")
        elif a.get("supervisor"):
            notes.append("by a supervisor")
        return Attempt(who=_name(names, who), at=when(a.get("at")),
                       outcome=OUTCOME_LABELS.get(outcome, outcome), note="; ".join(notes))
    except (ValueError, TypeError, AttributeError):
        return None


PER_TASK = 6  # replies per task in ``load_rows``' first pipeline


def load_rows(ids: list[str], at: float, names: dict[str, str]) -> list[Row]:
    """Tasks with their attempts, recordings, claim and call in progress, in two round trips
    (not one per task); ``names``: agent id -> name."""
    r = ivr().redis
    pipe = r.pipeline(transaction=False)
    for task_id in ids:
        pipe.hgetall(TASK.format(id=task_id))
        pipe.lrange(TASK_RECORDINGS.format(id=task_id), 0, -1)
        pipe.lrange(ATTEMPTS.format(id=task_id), 0, -1)
        pipe.get(CLAIM.format(id=task_id))
        pipe.hmget(DIALLING.format(id=task_id), "agent", "call")
        pipe.get(DIAL_ANSWERED.format(id=task_id))
    raw = pipe.execute()
    found = [(task_id, *raw[PER_TASK * i:PER_TASK * (i + 1)])
             for i, task_id in enumerate(ids) if raw[PER_TASK * i]]
    pipe = r.pipeline(transaction=False)
    for _, _, rec_ids, _, _, _, _ in found:
        for rec_id in rec_ids:
            pipe.hgetall(RECORDING.format(id=rec_id.decode()))
    recs = iter(pipe.execute())
    rows = []
    for task_id, raw_task, raw_recs, attempts, holder, dialling, answered in found:
        t = _text(raw_task)
        rec_ids = [x.decode() for x in raw_recs]
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
            made=int(_float(t.get("attempts"))),
            holder=holder.decode() if holder else "",
            dialling=dialling[0].decode() if dialling[0] else "",
            dial_call=dialling[1].decode() if dialling[1] else "",
            answered_call=answered.decode() if answered else "",
            digits=search_digits(number),
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


def search_digits(number: str) -> str:
    """'447911123456 07911123456': what a number search is matched against."""
    digits = "".join(ch for ch in number if ch.isdigit())
    national = "0" + digits[2:] if digits.startswith("44") else digits
    return f"{digits} {national}"


def on_calls(staff: list[Agent]) -> dict[str, str]:
    """Advisor id -> the call they are on (those on a call)."""
    return {a.id: a.call_sid for a in staff if a.state is agents.State.ON_CALL and a.call_sid}


def progress(row: Row, viewer_id: str, names: dict[str, str], calls: dict[str, str]) -> str:
    """Where a callback's call is: ringing the advisor (their phone not yet answered), calling
    the resident (the advisor answered: on a call on the dial's call, as the bridge sets
    them), the resident answered (their leg's announcement noted it); else how the last
    attempt ended ("" before any). ``calls``: ``on_calls``."""
    if row.dialling:
        whose = "your" if row.dialling == viewer_id else f"{_name(names, row.dialling)}'s"
        if row.dial_call and row.answered_call == row.dial_call:
            return "The resident answered: the call is on"
        if row.dial_call and calls.get(row.dialling) == row.dial_call:
            return f"Calling the resident ({whose} phone answered)"
        return f"Ringing {whose} phone"
    if row.attempts:
        last = row.attempts[-1]
        return f"Last attempt: {last.outcome} ({last.who}, {last.at})"
    return ""


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
    staff = agents.all_agents(r)
    names = {a.id: a.name for a in staff}
    calls = on_calls(staff)
    out = Worklist()
    for row in load_rows(ids, at, names):
        if not may_see(app.config, viewer, row.department):
            continue
        if row.status == "open":
            for_viewer(row, viewer, names, at)
            row.progress = progress(row, viewer.id, names, calls)
            (out.overdue if row.due_ts < at else out.due).append(row)
        elif row.status == "scheduled":
            out.scheduled.append(row)
        elif row.status in ("done", "unreachable") and row.id in closed_ids:
            out.closed.append(row)
    order = {task_id: i for i, task_id in enumerate(ids)}
    for section in (out.overdue, out.due, out.scheduled, out.closed):
        section.sort(key=lambda row: order[row.id])
    return out


def for_viewer(row: Row, viewer: Agent, names: dict[str, str], at: float) -> None:
    """What the viewer may do with an open task now (the scripts decide again, atomically)."""
    others = bool(row.holder) and row.holder != viewer.id
    row.claimed_by = _name(names, row.holder) if others else ""
    row.holder_name = "" if not row.holder else "you" if not others else row.claimed_by
    row.overdue_by = elapsed(at - row.due_ts) if row.due_ts and row.due_ts < at else ""
    if row.dialling:
        row.dialling_by = "you" if row.dialling == viewer.id else _name(names, row.dialling)
    free = not row.dialling and not row.next_attempt  # no call on, the retry gap passed
    row.can_call = free and row.callable and not others
    row.can_record = free and (not others or viewer.supervisor)
    row.over_claim = row.can_record and others


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


def log_manual_outcome(turn: Turn, agent: Agent, task_id: str, outcome: Outcome,
                       expected: int) -> callbacks.Attempt:
    """Log an outcome recorded by hand from the console (a call from another phone; the task
    had ``expected`` attempts when the advisor saw it): the agent line's ``log_attempt``
    (same events, audit entry and unreachable SMS), marked manual. Refused, with its reason,
    unless the agent holds the claim or it is free (a supervisor: anyway), no call of the task
    is on, the retry gap has passed and no attempt was logged since."""
    return shared_log_attempt(turn, agent, task_id, outcome, manual=True, expected=expected)
