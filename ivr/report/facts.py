"""Facts: call events folded into the things the report counts (queue visits, callback tasks...).

Each fact is anchored at one time (``ts``) and one department (``dept``, "" when the call was
never routed to one), so a report for a period, an hour of the day or a department keeps the
facts anchored there and still sees every later outcome (a callback made days after the
voicemail, a transfer's result). Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any

from ivr.calendar import OpeningHours, callback_window
from ivr.events import Event

# Why a caller left a queue, by the event that recorded it.
LEAVE_OUTCOMES = {
    Event.CONNECT: "answered",
    Event.ABANDON: "abandoned",
    Event.EXIT_TIMEOUT: "timed_out",
    Event.FULL: "full",
    Event.EXIT_ERROR: "error",
}
TO_VOICEMAIL = frozenset({"timed_out", "full", "error"})  # left the queue for voicemail


@dataclass(frozen=True)
class QueueVisit:
    call: str
    dept: str
    ts: float  # entered the queue
    outcome: str = ""  # a LEAVE_OUTCOMES value, or "" while no leave event was seen
    wait: int | None = None  # seconds queued (Twilio's QueueTime), when left
    agent: str = ""


@dataclass(frozen=True)
class CallbackTask:
    task: str
    dept: str
    ts: float  # created (first voicemail)
    due_at: float
    call: str = ""
    voicemails: int = 1
    attempts: int = 0
    status: str = "open"  # open, answered, unreachable
    closed_at: float | None = None
    by_hand: bool = False  # answered by an outcome recorded by hand (no dial result)


@dataclass(frozen=True)
class Inbound:
    call: str
    dept: str
    ts: float
    notice: bool
    out_of_hours: bool


@dataclass(frozen=True)
class Transfer:
    call: str
    dept: str
    ts: float
    line: str  # payment or text_phone
    status: str = ""  # DialCallStatus; "" when no result was recorded
    duration: int = 0


@dataclass(frozen=True)
class Simple:
    """A counted occurrence: an online message, SMS link, no-agents offer, voicemail, fail-safe."""

    call: str
    dept: str
    ts: float
    detail: str = ""


@dataclass(frozen=True)
class WrapUp:
    call: str  # the caller's call SID (or the callback leg)
    dept: str
    ts: float
    agent: str
    resolved: bool


@dataclass(frozen=True)
class Feedback:
    call: str
    dept: str
    ts: float
    score: int
    agent: str
    comment: str = ""  # recording id of the spoken comment, if any


@dataclass(frozen=True)
class AgentTime:
    """A stretch an advisor spent in one state, ending at ``ts`` (from AGENTSTATE's
    ``previous`` and ``seconds_in_previous``); ``dept`` is always "" (advisors serve several)."""

    call: str
    dept: str
    ts: float  # the stretch ended (the state changed)
    agent: str
    state: str
    seconds: float

    @property
    def began(self) -> float:
        return self.ts - self.seconds


@dataclass(frozen=True)
class CallbackCall:
    """One callback attempt (CALLBACKATTEMPT) and who made it."""

    call: str
    dept: str
    ts: float
    agent: str
    task: str
    outcome: str
    manual: bool = False


# Facts about advisors rather than calls: ``Facts.all`` (hours and departments of the call
# figures) leaves them out.
ADVISOR_FACTS = frozenset({"agent_time", "callback_calls"})


@dataclass(frozen=True)
class Facts:
    visits: tuple[QueueVisit, ...] = ()
    tasks: tuple[CallbackTask, ...] = ()
    inbound: tuple[Inbound, ...] = ()
    transfers: tuple[Transfer, ...] = ()
    online: tuple[Simple, ...] = ()  # detail: "sms_offered" when a text was offered
    sms_links: tuple[Simple, ...] = ()  # a text asked for (its job queued)
    sms_sent: tuple[Simple, ...] = ()  # Twilio accepted it (SMSSENT), not reported undelivered
    sms_delivered: tuple[Simple, ...] = ()  # Twilio reported it on the handset (SMSDELIVERED)
    # never reached the caller: every try failed (SMSFAILED final), or Twilio reported it
    # undelivered (SMSUNDELIVERED)
    sms_failed: tuple[Simple, ...] = ()
    no_agents: tuple[Simple, ...] = ()
    voicemails: tuple[Simple, ...] = ()  # detail: "merged" when it joined an open task
    failsafes: tuple[Simple, ...] = ()
    wrapups: tuple[WrapUp, ...] = ()
    feedback: tuple[Feedback, ...] = ()
    agent_time: tuple[AgentTime, ...] = ()
    callback_calls: tuple[CallbackCall, ...] = ()

    def keep(self, predicate) -> Facts:
        """The facts whose anchor (``ts``, ``dept``) satisfies ``predicate(fact)``."""
        return Facts(**{f.name: tuple(x for x in getattr(self, f.name) if predicate(x))
                        for f in fields(self)})

    def all(self) -> Iterable[Any]:
        """Every call fact (advisors' own, ``ADVISOR_FACTS``, are not calls)."""
        for f in fields(self):
            if f.name not in ADVISOR_FACTS:
                yield from getattr(self, f.name)


@dataclass(frozen=True)
class Miss:
    """A queued caller for whom the 2-minute promise was broken, and what happened."""

    visit: QueueVisit
    what: str


@dataclass(frozen=True)
class Overdue:
    """A callback not made (or not properly closed) by its due time, and what happened."""

    task: CallbackTask
    what: str


def miss_text(v: QueueVisit, promise: int) -> str:
    if not v.outcome:
        return f"no outcome recorded after {promise} s in the queue"
    return {
        "answered": f"answered after {v.wait} s",
        "abandoned": f"hung up after {v.wait} s, still queuing past the limit",
        "timed_out": f"taken to voicemail after {v.wait} s",
        "full": f"queue full, voicemail after {v.wait} s",
        "error": f"queue error, voicemail after {v.wait} s",
    }[v.outcome]


def overdue_text(t: CallbackTask, attempts: int) -> str:
    if t.status == "open":
        return f"still open after its due time ({t.attempts} attempt(s))"
    if t.status == "unreachable" and t.attempts < attempts:
        return f"closed unreachable after only {t.attempts} of {attempts} attempts"
    late = int((t.closed_at - t.due_at) // 60) if t.closed_at is not None else 0
    what = "answered" if t.status == "answered" else "closed unreachable"
    return f"{what} {late} min after the due time" if late else f"{what} after the due time"


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):  # "inf" in an old event, say
        return default


def collect(events: Iterable[dict[str, Any]], hours: OpeningHours | None = None) -> Facts:
    """Fold decoded events (``ivr.events.decode``) into facts, in time order.

    Leave events are paired with the caller's open queue visit; a repeated leave (a replayed
    spool) is ignored, and a leave whose ENTERQUEUE is missing makes a visit that began
    ``wait`` seconds earlier. ``hours`` supplies a callback's due time when an old event lacks it.
    """
    ordered = sorted(events, key=lambda e: e["ts"])
    dept_of: dict[str, str] = {}
    for e in ordered:
        if e.get("dept") and e.get("call"):
            dept_of.setdefault(e["call"], e["dept"])

    def dept(e: dict[str, Any]) -> str:
        return e.get("dept") or dept_of.get(e.get("call", ""), "")

    open_visits: dict[str, QueueVisit] = {}
    visits: list[QueueVisit] = []
    tasks: dict[str, CallbackTask] = {}
    transfers: list[Transfer] = []
    feedback: list[Feedback] = []
    wrapups: list[WrapUp] = []
    agent_time: list[AgentTime] = []
    callback_calls: list[CallbackCall] = []
    attempts_seen: set[tuple[str, float]] = set()
    incoming: list[dict[str, Any]] = []
    noticed: set[str] = set()
    closed_calls: set[str] = set()
    out_of_hours: set[str] = set()
    vm_tasks: set[str] = set()
    agent_call_dept: dict[str, str] = {}  # agent-line call -> department of its last callback
    numbered: dict[str, set[int]] = {}  # task -> its attempt numbers seen
    simple: dict[str, list[Simple]] = {
        k: [] for k in ("online", "sms_links", "no_agents", "voicemails", "failsafes")}
    sms_sent: dict[str, Simple] = {}  # call -> its text accepted (one per call, however retried)
    sms_failed: dict[str, Simple] = {}
    sms_delivered: dict[str, Simple] = {}
    sms_undelivered: dict[str, Simple] = {}
    for e in ordered:
        kind, call, ts, data = e["event"], e.get("call", ""), e["ts"], e.get("data") or {}
        if kind == Event.ENTER_QUEUE:
            if call not in open_visits:
                open_visits[call] = QueueVisit(call, dept(e), ts)
        elif kind in LEAVE_OUTCOMES:
            wait = _int(data.get("wait"), -1)
            visit = open_visits.pop(call, None)
            if visit is None:
                if call in closed_calls:
                    continue  # the same departure reported again
                wait = max(wait, 0)
                visit = QueueVisit(call, dept(e), ts - wait)
            if wait < 0:
                wait = round(ts - visit.ts)
            visits.append(replace(visit, outcome=LEAVE_OUTCOMES[Event(kind)], wait=wait,
                                  agent=str(data.get("agent", ""))))
            closed_calls.add(call)
        elif kind == Event.CALLBACK_CREATED:
            task = str(data.get("task", ""))
            due = float(data.get("due_at") or 0)
            if not due and hours is not None:
                due = callback_window(datetime.fromtimestamp(ts, UTC), hours).due_at.timestamp()
            if task and task not in tasks:
                tasks[task] = CallbackTask(task, dept(e), ts, due, call)
        elif kind == Event.CALLBACK_MERGED:
            task = tasks.get(str(data.get("task", "")))
            if task:
                tasks[task.task] = replace(task, voicemails=task.voicemails + 1)
        elif kind in (Event.CALLBACK_ATTEMPT, Event.CALLBACK_DONE, Event.CALLBACK_UNREACHABLE):
            if e.get("dept"):
                agent_call_dept[call] = e["dept"]
            if kind == Event.CALLBACK_ATTEMPT:  # made today, whenever its task was created
                made = (str(data.get("task", "")), _int(data.get("attempt")) or ts)
                if made not in attempts_seen:
                    attempts_seen.add(made)
                    callback_calls.append(CallbackCall(
                        call, dept(e), ts, str(data.get("agent", "")), made[0],
                        str(data.get("outcome", "")), bool(data.get("manual"))))
            task = tasks.get(str(data.get("task", "")))
            if task is None or task.status != "open":
                continue
            if kind == Event.CALLBACK_ATTEMPT:
                n = _int(data.get("attempt"))
                seen = numbered.setdefault(task.task, set())
                if n and n in seen:
                    continue  # the same attempt reported again: one attempt, counted once
                seen.add(n)
                task = replace(task, attempts=max(task.attempts + 1, n),
                               by_hand=data.get("outcome") == "answered"
                               and bool(data.get("manual")))
            else:
                status = "answered" if kind == Event.CALLBACK_DONE else "unreachable"
                task = replace(task, status=status, closed_at=ts,
                               attempts=max(task.attempts, _int(data.get("attempts"))))
            tasks[task.task] = task
        elif kind == Event.INCOMING:
            incoming.append(e)
        elif kind == Event.AGENT_STATE:
            seconds = max(0.0, float(data.get("seconds_in_previous") or 0))
            if data.get("agent") and data.get("previous") and seconds:
                agent_time.append(AgentTime(call, "", ts, str(data["agent"]),
                                            str(data["previous"]), seconds))
        elif kind == Event.NOTICE:
            noticed.add(call)
        elif kind == Event.OUT_OF_HOURS:
            out_of_hours.add(call)
        elif kind == Event.TRANSFER:
            transfers.append(Transfer(call, dept(e), ts, str(data.get("line", ""))))
        elif kind == Event.TRANSFER_RESULT:
            line = str(data.get("line", ""))
            for i in range(len(transfers) - 1, -1, -1):
                t = transfers[i]
                if t.call == call and t.line == line and not t.status:
                    transfers[i] = replace(t, status=str(data.get("status", "")),
                                           duration=_int(data.get("duration")))
                    break
            else:
                transfers.append(Transfer(call, dept(e), ts, line, str(data.get("status", "")),
                                          _int(data.get("duration"))))
        elif kind == Event.ONLINE:
            detail = "sms_offered" if data.get("sms_offered") else ""
            simple["online"].append(Simple(call, dept(e), ts, detail))
        elif kind == Event.SMS_LINK:
            simple["sms_links"].append(Simple(call, dept(e), ts))
        elif kind == Event.SMS_SENT:
            sms_sent.setdefault(call, Simple(call, dept(e), ts))
        elif kind == Event.SMS_FAILED and data.get("final"):
            sms_failed.setdefault(call, Simple(call, dept(e), ts))
        elif kind == Event.SMS_DELIVERED:
            sms_delivered.setdefault(call, Simple(call, dept(e), ts))
        elif kind == Event.SMS_UNDELIVERED:
            sms_undelivered.setdefault(call, Simple(call, dept(e), ts))
        elif kind == Event.NO_AGENTS:
            simple["no_agents"].append(Simple(call, dept(e), ts))
        elif kind == Event.VOICEMAIL:
            task_id = str(data.get("task", ""))
            merged = bool(task_id) and task_id in vm_tasks
            vm_tasks.add(task_id)
            simple["voicemails"].append(Simple(call, dept(e), ts, "merged" if merged else ""))
        elif kind == Event.FAILSAFE:
            simple["failsafes"].append(Simple(call, dept(e), ts, str(data.get("endpoint", ""))))
        elif kind == Event.WRAP_UP:
            caller = str(data.get("caller", ""))
            where = dept_of.get(caller) or agent_call_dept.get(call, "")
            wrapups.append(WrapUp(caller or call, where, ts, str(data.get("agent", "")),
                                  bool(data.get("resolved"))))
        elif kind == Event.FEEDBACK:
            score = _int(data.get("score"))
            if 1 <= score <= 5:
                feedback.append(Feedback(call, dept(e), ts, score, str(data.get("agent", "")),
                                         str(data.get("comment") or "")))
        elif kind == Event.FEEDBACK_COMMENT:
            for i in range(len(feedback) - 1, -1, -1):
                if feedback[i].call == call:
                    feedback[i] = replace(feedback[i], comment=str(data.get("recording", "")))
                    break
    inbound = [Inbound(e["call"], dept(e), e["ts"], e["call"] in noticed,
                       e["call"] in out_of_hours or (e.get("data") or {}).get("open") is False)
               for e in incoming]
    visits.extend(open_visits.values())
    return Facts(
        visits=tuple(sorted(visits, key=lambda v: v.ts)), tasks=tuple(tasks.values()),
        inbound=tuple(inbound), transfers=tuple(transfers), online=tuple(simple["online"]),
        sms_links=tuple(simple["sms_links"]),
        sms_sent=tuple(v for k, v in sms_sent.items()
                       if k not in sms_undelivered or k in sms_delivered),
        sms_delivered=tuple(sms_delivered.values()),
        sms_failed=tuple({**{k: v for k, v in sms_failed.items() if k not in sms_sent},
                          **{k: v for k, v in sms_undelivered.items()
                             if k not in sms_delivered}}.values()),
        no_agents=tuple(simple["no_agents"]),
        voicemails=tuple(simple["voicemails"]), failsafes=tuple(simple["failsafes"]),
        wrapups=tuple(wrapups), feedback=tuple(feedback), agent_time=tuple(agent_time),
        callback_calls=tuple(callback_calls),
    )
