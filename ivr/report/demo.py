"""A plausible week of call events, for the sample report in the README and for trying the
report without live traffic (``ivr report --demo``). Deterministic for a given seed.

The events follow the journeys the call flows record (same event names and data); the demand
curve, waits, patience and outcomes are invented but of a realistic shape: busiest at 10:00
and 14:00, most callers answered inside two minutes, a few hang up, a few reach voicemail.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta

from ivr import events
from ivr.calendar import OpeningHours, callback_window, is_open, is_working_day
from ivr.events import Event

DEPARTMENTS = {"council_tax": ("2", 0.27), "benefits": ("3", 0.2), "street_care": ("4", 0.2),
               "housing": ("5", 0.15), "general": ("0", 0.1)}
AGENTS = {"council_tax": ["1001", "1002", "1003"], "benefits": ["1004", "1005"],
          "street_care": ["1006", "1007"], "housing": ["1008", "1009"], "general": ["1010"]}
# Relative demand by local hour on a working day (the lines open 9 to 5).
DEMAND = {8: 0.3, 9: 1.2, 10: 1.6, 11: 1.3, 12: 0.9, 13: 1.1, 14: 1.4, 15: 1.1, 16: 0.8,
          17: 0.2, 18: 0.15, 19: 0.1}


class _Week:
    def __init__(self, rng: random.Random, hours: OpeningHours, retention: int) -> None:
        self.rng, self.hours, self.out = rng, hours, []
        self.task_seq = 0
        self.open_tasks: list[tuple[str, str, float]] = []  # task, department, closed at
        self.retention = retention

    def ev(self, kind: Event, call: str, ts: float, dept: str | None = None, **data) -> None:
        self.out.append(events.fields(kind, call, ts, dept, **data))

    def sid(self, prefix: str = "CA") -> str:
        return prefix + "".join(self.rng.choice("0123456789abcdef") for _ in range(32))

    def call(self, at: datetime) -> None:
        rng, t = self.rng, at.timestamp()
        sid = self.sid()
        open_now = is_open(at, self.hours)
        mobile = rng.random() < 0.7
        self.ev(Event.INCOMING, sid, t, relay=rng.random() < 0.01, callable=True, mobile=mobile,
                open=open_now)
        self.ev(Event.NOTICE, sid, t)
        t += 12
        if not open_now:
            self.ev(Event.OUT_OF_HOURS, sid, t - 12)
            pick = rng.random()
            if pick < 0.35:
                self.transfer(sid, t, "payment")
            elif pick < 0.8:
                self.voicemail(sid, t + 20, "general", "record_action")
            self.ev(Event.CALL_END, sid, t + 60, status="completed", duration=72)
            return
        pick, acc = rng.random(), 0.0
        if pick < 0.07:
            self.ev(Event.MENU, sid, t, key="1", action="payment_line", via="keys")
            self.transfer(sid, t + 2, "payment")
            self.ev(Event.CALL_END, sid, t + 200, status="completed", duration=212)
            return
        if pick < 0.085:
            self.ev(Event.MENU, sid, t, key="9", action="text_phone", via="keys")
            self.transfer(sid, t + 2, "text_phone")
            return
        dept = "general"
        pick = rng.random()
        for d, (_, share) in DEPARTMENTS.items():
            acc += share / sum(s for _, s in DEPARTMENTS.values())
            if pick < acc:
                dept = d
                break
        self.ev(Event.MENU, sid, t, dept, key=DEPARTMENTS[dept][0], action="queue",
                via="speech" if rng.random() < 0.3 else "keys")
        t += 15
        self.ev(Event.ONLINE, sid, t, dept, sms_offered=mobile)
        texted = mobile and rng.random() < 0.35
        if texted:
            self.ev(Event.SMS_LINK, sid, t + 5, dept)
            self.ev(Event.SMS_SENT, sid, t + 8, dept, message="SM" + sid[2:])
            self.ev(Event.SMS_DELIVERED, sid, t + 14, dept, message="SM" + sid[2:],
                    status="delivered")
        self.queue(sid, t + 8, dept, at, texted)

    def queue(self, sid: str, t: float, dept: str, at: datetime, texted: bool) -> None:
        rng = self.rng
        if at.hour == 9 and at.minute < 4 and rng.random() < 0.5:
            self.ev(Event.NO_AGENTS, sid, t, dept)
            self.voicemail(sid, t + 10, dept, "record_action")
            return
        self.ev(Event.ENTER_QUEUE, sid, t, dept)
        load = DEMAND.get(at.hour, 0.5) * {"council_tax": 1.2, "housing": 1.1}.get(dept, 0.9)
        wait = int(rng.expovariate(1 / (28 * load ** 2)))
        patience = 6 + rng.expovariate(1 / 15) if texted and rng.random() < 0.4 else (
            rng.expovariate(1 / 400))
        if patience < min(wait, 125):
            w = int(patience)
            self.ev(Event.ABANDON, sid, t + w, dept, reason="hung_up", wait=w)
            self.ev(Event.CALL_END, sid, t + w, dept, status="completed", duration=int(w + 40))
        elif wait <= 125:
            agent = rng.choice(AGENTS[dept])
            self.ev(Event.CONNECT, sid, t + wait, dept, reason="answered", wait=wait, agent=agent)
            talk = int(rng.gauss(300, 90)) + 60
            end = t + wait + talk
            self.ev(Event.COMPLETE_CALLER, sid, end, agent=agent, duration=talk, caller=sid)
            self.ev(Event.WRAP_UP, self.sid("CAagent"), end + 20, agent=agent, caller=sid,
                    resolved=rng.random() < 0.79)
            if rng.random() < 0.38:
                score = rng.choices([1, 2, 3, 4, 5], [4, 5, 12, 33, 46])[0]
                self.ev(Event.FEEDBACK, sid, end + 8, score=score, agent=agent)
                if rng.random() < 0.2:
                    self.ev(Event.FEEDBACK_COMMENT, sid, end + 30, recording=self.sid("RE"),
                            duration=rng.randint(4, 30))
            self.ev(Event.CALL_END, sid, end + 40, dept, status="completed",
                    duration=int(end + 40 - t + 35))
        else:
            w = 120 + (rng.randint(6, 9) if rng.random() < 0.02 else rng.randint(0, 4))
            self.ev(Event.EXIT_TIMEOUT, sid, t + w, dept, reason="timed_out", wait=w)
            if rng.random() < 0.85:
                self.voicemail(sid, t + w + 25, dept, "record_action")
            self.ev(Event.CALL_END, sid, t + w + 60, dept, status="completed", duration=w + 95)

    def transfer(self, sid: str, t: float, line: str) -> None:
        self.ev(Event.TRANSFER, sid, t, line=line)
        status = self.rng.choices(["completed", "busy", "no-answer", "failed"], [92, 4, 3, 1])[0]
        duration = self.rng.randint(60, 400) if status == "completed" else 0
        self.ev(Event.TRANSFER_RESULT, sid, t + 5 + duration, line=line, status=status,
                duration=duration)

    def voicemail(self, sid: str, t: float, dept: str, source: str) -> None:
        recent = [x for x in self.open_tasks if x[1] == dept and x[2] > t]
        if recent and self.rng.random() < 0.05:  # the same resident again: joins the task
            task = recent[-1][0]
            self.ev(Event.VOICEMAIL, sid, t, dept, recording=self.sid("RE"), duration=30,
                    status="completed", task=task, source=source)
            self.ev(Event.CALLBACK_MERGED, sid, t, dept, task=task, relay=False,
                    has_number=True, due_at=recent[-1][2])
            return
        self.task_seq += 1
        task = f"T{self.task_seq:05d}"
        window = callback_window(datetime.fromtimestamp(t, UTC), self.hours)
        due = window.due_at.timestamp()
        self.ev(Event.VOICEMAIL, sid, t, dept, recording=self.sid("RE"),
                duration=self.rng.randint(10, 90), status="completed", task=task, source=source)
        self.ev(Event.CALLBACK_CREATED, sid, t, dept, task=task, relay=False, has_number=True,
                due_at=due)
        self.open_tasks.append((task, dept, self.callbacks(task, dept,
                                                           window.release_at.timestamp(), due)))

    def callbacks(self, task: str, dept: str, release: float, due: float) -> float:
        """Attempts until answered or unreachable; returns when the task was closed."""
        rng = self.rng
        at = release + rng.uniform(600, 6.5 * 3600)
        if rng.random() < 0.04:
            at = due + rng.uniform(60, 1800)  # picked up too late
        agent_call = self.sid("CAagent")
        for attempt in range(1, 4):
            answered = rng.random() < 0.68
            outcome = "answered" if answered else rng.choice(["no-answer", "busy"])
            self.ev(Event.CALLBACK_ATTEMPT, agent_call, at, dept, task=task, agent=rng.choice(
                AGENTS[dept]), outcome=outcome, attempt=attempt)
            if answered:
                self.ev(Event.CALLBACK_DONE, agent_call, at, dept, task=task,
                        agent=AGENTS[dept][0], attempts=attempt)
                return at
            if attempt == 3:
                self.ev(Event.CALLBACK_UNREACHABLE, agent_call, at, dept, task=task,
                        attempts=attempt)
                return at
            at += 3600 + rng.uniform(0, 1800)
        return at


def sample_week(first: date, hours: OpeningHours, *, days: int = 7, seed: int = 1,
                calls_per_day: int = 150, retention_days: int = 400) -> list[dict[str, str]]:
    """Stream entries (``events.fields`` mappings) for ``days`` days from ``first``."""
    week = _Week(random.Random(seed), hours, retention_days)
    total = sum(DEMAND.values())
    for n in range(days):
        day = first + timedelta(days=n)
        working = is_working_day(day, hours)
        for hour, weight in DEMAND.items():
            expected = calls_per_day * weight / total * (1 if working else 0.08)
            count = max(0, round(week.rng.gauss(expected, expected ** 0.5)))
            for _ in range(count if expected >= 1 else int(week.rng.random() < expected)):
                second = week.rng.uniform(0, 3600)
                local = datetime.combine(day, time(hour), tzinfo=hours.tz)
                week.call((local + timedelta(seconds=second)).astimezone(UTC))
    week.out.sort(key=lambda f: float(f["ts"]))
    return week.out


def write(redis, entries: list[dict[str, str]], retention_days: int = 400) -> int:
    """Add ``entries`` to the event stream with ids at their own times, as if they had been
    written live (so the report's id window finds them); returns how many were added.

    Ids must grow, so write into a stream with nothing newer (a spare Redis database): an entry
    older than the newest takes the newest's id (``events.add``).
    """
    pipe = redis.pipeline(transaction=False)
    for entry in sorted(entries, key=lambda e: float(e["ts"])):
        events.add(pipe, entry, retention_days)
    pipe.execute()
    return len(entries)
