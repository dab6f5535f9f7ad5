"""``ivr simulate``: a day (or an hour) of calls through the real webhooks, to plan staffing.

Why simulate rather than just use Erlang C: the real journey has menus, a 2-minute limit to
voicemail, callers who give up, an agent line with a whisper and a wrap-up prompt, and the
Customer Service Standard figures that the council is judged on come from ``ivr.report`` over
the events the app itself writes. So the simulation drives the app in-process in virtual time
(``ivr.sim.world.in_process``) with Poisson callers and advisors on the agent line, then reads
the figures from the same report code the console uses.

``theory=True`` switches off everything Erlang C does not model (the 2-minute limit, the
whisper, caller patience, the menu mix) and makes each advisor's whole handle time the drawn
one, so the queue can be checked against ``ivr.erlang`` (see ``ivr.sim.theory``).

A profile (JSON or YAML)::

    calls_per_hour: {9: 60, 10: 80, 11: 70}   # or one number for every hour
    mix: {"2": 0.5, "3": 0.2, "4": 0.1, "5": 0.1, "0": 0.1}   # menu key -> share
    handle_seconds: 240      # mean talk time (exponential); theory: the whole handle time
    patience_seconds: 180    # mean patience in the queue (exponential); null: infinite
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from ivr import agents, events
from ivr.report import Report, compute, settings
from ivr.sim.engine import Fidelity
from ivr.sim.legs import SILENCE, GatherPrompt, Leg, Notice, Reply
from ivr.sim.scenario import Agent, Caller, press, steps
from ivr.sim.world import World, in_process

DAY = datetime(2026, 12, 1, tzinfo=UTC)  # a Tuesday, GMT (London = UTC in December)
AGENT_PHONE = "+4477009{:05d}"
CALLER_PHONE = "+4479110{:05d}"
LATE = 600  # theory: advisors stay this long after the last hour for callers still in the menu


@dataclass
class Profile:
    calls_per_hour: dict[int, float]
    mix: dict[str, float] = field(default_factory=lambda: {"2": 1.0})
    handle_seconds: float = 240.0
    patience_seconds: float | None = 180.0

    @classmethod
    def load(cls, path: str | Path) -> Profile:
        data = yaml.safe_load(Path(path).read_text()) if str(path).endswith(
            (".yaml", ".yml")) else json.loads(Path(path).read_text())
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        rate = data["calls_per_hour"]
        per_hour = ({int(h): float(v) for h, v in rate.items()} if isinstance(rate, dict)
                    else {h: float(rate) for h in range(24)})
        mix = {str(k): float(v) for k, v in (data.get("mix") or {"2": 1.0}).items()}
        patience = data.get("patience_seconds", 180.0)
        return cls(per_hour, mix, float(data.get("handle_seconds", 240.0)),
                   None if patience is None else float(patience))


@dataclass
class EagerAgent(Agent):
    """A practised advisor, for the theory check. Takes a waiting caller the moment the menu
    says one waits; when none does, stays silent and lets the push bring the next caller.
    Ends each call with * so as to be ready for the next caller exactly the caller's handle
    time X after taking them (right after the bridge if X is shorter than the fixed part, the
    caller's introduction), and presses the wrap-up key at once (barge-in). At ``until`` signs
    out only once told no one is waiting, so no queued caller is left behind (Erlang C has no
    closing time). Taking is the agent leg's ``<Dial><Queue>`` (theory mode has no whisper)."""

    taken_at: float | None = None

    def notice(self, leg: Leg, notice: Notice) -> None:
        super().notice(leg, notice)
        if notice.kind == "dial":
            self.taken_at = notice.at

    def star(self, leg: Leg) -> float | None:
        bridge = leg.bridge
        handle = getattr(bridge.b.actor, "handle", None) if bridge is not None else None
        if handle is None or self.taken_at is None or bridge.started_at is None:
            return None
        return max(0.0, self.taken_at + handle - bridge.started_at)

    def gather(self, leg: Leg, prompt: GatherPrompt) -> Reply:
        path = urlsplit(prompt.action).path
        if path.endswith("/agent/wrap-up"):
            return press(self.wrap_up, after=0.0)
        if not path.endswith("/agent/menu/choice"):
            return super().gather(leg, prompt)
        if any(self.waiting_marker in text for text in prompt.heard):
            return press("1", after=0.0)
        if self.until is not None and self.last_heard_at >= self.until:
            return press("9")
        return SILENCE


@dataclass
class TheoryCaller(Caller):
    """A caller who holds and talks as long as the advisor takes: ``handle`` is the advisor's
    whole handle time for them (Erlang C's holding time), drawn in arrival order."""

    handle: float | None = None


@dataclass
class Outcome:
    report: Report
    calls: int
    agents: int
    occupancy: float | None  # talking / signed in, over all advisors
    waits: list[float]  # seconds queued, answered callers (theory mode: all of them)
    holding: float | None = None  # advisor time per caller answered: take to available
    wall_seconds: float = 0.0
    arrivals: list[float] = field(default_factory=list)  # callers who queued: s from start
    handles: list[float] = field(default_factory=list)  # their drawn handle times

    def within(self, t: float) -> float | None:
        return sum(w <= t for w in self.waits) / len(self.waits) if self.waits else None


def arrivals(rng: random.Random, profile: Profile, hours: range) -> list[float]:
    """Poisson arrivals (seconds after midnight), hour by hour at that hour's rate."""
    out: list[float] = []
    for hour in hours:
        rate = profile.calls_per_hour.get(hour, 0.0) / 3600.0
        t = hour * 3600.0
        while rate > 0:
            t += rng.expovariate(rate)
            if t >= (hour + 1) * 3600.0:
                break
            out.append(t)
    return out


def staff(redis: Any, config: Any, count: int, now: float) -> list[str]:
    """``count`` advisors serving every department, recognised by their phones."""
    depts = list(config.departments)
    phones = []
    for i in range(count):
        phone = AGENT_PHONE.format(i)
        agents.add(redis, name=f"Sim Advisor{i}", departments=depts, phone=phone,
                   role=agents.Role.AGENT, now=now)
        phones.append(phone)
    return phones


def run(app: Any, profile: Profile, *, agents_per_hour: dict[int, int], hours: range,
        seed: int = 1, theory: bool = False, progress: Callable[[str], None] | None = None,
        ) -> Outcome:
    """Simulate ``hours`` of ``profile`` with ``agents_per_hour`` advisors, on ``app``.

    Each advisor signs in a minute before the first hour they are needed and signs out at the
    end of the last (shifts are contiguous: an hour needing N uses advisors 0..N-1)."""
    started = time.monotonic()
    ivr = app.extensions["ivr"]
    redis, config = ivr.redis, ivr.config
    rng = random.Random(seed)
    base = DAY.timestamp()
    start, end = base + hours.start * 3600, base + hours.stop * 3600
    world = in_process(app, start=start - 120,  # an advisor on the line all day: no loop
                       fidelity=Fidelity(max_requests_per_call=10**7) if theory else None,
                       rest=app.extensions.get("ivr_sim_rest"))
    world.engine.keep_requests = False  # a day is hundreds of thousands of requests
    most = max(agents_per_hour.get(h, 0) for h in hours)
    desk: list[Agent] = []
    for i, phone in enumerate(staff(redis, config, most, start - 120)):
        on = [h for h in hours if agents_per_hour.get(h, 0) > i]
        first, last = min(on), max(on)
        kind = EagerAgent if theory else Agent
        actor = kind(until=base + (last + 1) * 3600 + (LATE if theory else 0))
        desk.append(actor)
        world.agent(actor, phone=phone, at=base + first * 3600 - 60 + i * 0.1)
    keys, weights = list(profile.mix), list(profile.mix.values())
    times = arrivals(rng, profile, hours)
    handles, legs = [], []
    for i, t in enumerate(times):
        key = "2" if theory else rng.choices(keys, weights)[0]
        patience = (None if theory or profile.patience_seconds is None
                    else rng.expovariate(1 / profile.patience_seconds))
        handle = rng.expovariate(1 / profile.handle_seconds)
        handles.append(handle)
        caller = (TheoryCaller(steps("2 -"), talk_seconds=None, handle=handle) if theory
                  else Caller(steps(f"{key} -"), patience=patience, talk_seconds=handle))
        legs.append(world.call(caller, from_=CALLER_PHONE.format(i), at=base + t))
    _run(world, end, len(times), progress)
    log = events.read_all(redis)
    report = compute(log, **settings(config), start=start)
    waits = [float(v.wait) for v in report.visits if v.wait is not None
             and (theory or v.outcome == "answered")]
    queued = {v.call for v in report.visits}  # (not those who reached it after closing)
    signed = sum(max(0.0, a.last_heard_at - start) for a in desk)
    talking = sum(_talk_time(a) for a in desk)
    return Outcome(report, len(times), most, talking / signed if signed else None, waits,
                   holding=holding_time(log), wall_seconds=time.monotonic() - started,
                   arrivals=[base + t - start for t, leg in zip(times, legs, strict=True)
                             if leg.sid in queued],
                   handles=[x for x, leg in zip(handles, legs, strict=True) if leg.sid in queued])


def _run(world: World, end: float, calls: int, progress: Callable[[str], None] | None) -> None:
    """Run to ``end`` and then until the last caller is done, reporting each 15 minutes."""
    step = 900.0
    while world.now < end:
        world.run(until=min(end, world.now + step))
        if progress:
            clock = datetime.fromtimestamp(world.now, UTC).strftime("%H:%M")
            progress(f"simulated to {clock} ({calls} calls in all): "
                     f"{len(world.engine.requests)} webhook requests")
    world.run(until=end + 3 * 3600)  # the last callers finish; sign-outs; nothing after


def _talk_time(agent: Agent) -> float:
    total, since = 0.0, None
    for notice in agent.heard:
        if notice.kind == "bridge":
            since = notice.at
        elif since is not None and notice.kind in ("dial-result", "end"):
            total, since = total + notice.at - since, None
    return total


def holding_time(log: list[dict[str, Any]]) -> float | None:
    """Mean advisor time per caller answered, from the events: from taking a caller (on_call)
    to available again, wrap-up included, over the callers answered (a take that found the
    caller gone counts as time, not as a caller). This is the holding time the queue sees
    (Erlang C's AHT, the industry's handle time)."""
    taken: dict[str, float] = {}
    total, count = 0.0, 0
    for ev in log:
        if ev["event"] == str(events.Event.CONNECT):
            count += 1
        if ev["event"] != str(events.Event.AGENT_STATE):
            continue
        data = ev["data"]
        agent, state = data.get("agent", ""), data.get("state")
        if state == "on_call" and str(data.get("reason", "")).startswith("taking"):
            taken[agent] = ev["ts"]
        elif state in ("available", "signed_out") and agent in taken:
            total += ev["ts"] - taken.pop(agent)
    return total / count if count else None


def stderr_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def figures(out: Outcome) -> list[str]:
    """The Customer Service Standard figures, as the simulate command prints them."""
    r = out.report

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.1f}%"

    rate = out.calls / out.wall_seconds if out.wall_seconds else 0.0
    return [
        f"calls simulated: {out.calls} ({rate:.0f} per second of wall time); advisors: "
        f"{out.agents}",
        f"offered to a queue: {r.offered}; answered: {r.answered}",
        f"service level (answered within {r.limit} s): {pct(r.service_level)} "
        f"({r.answered_within} of {r.offered})",
        f"2-minute promise kept: {pct(r.promise_share)}",
        f"voicemails (queue timeouts): {r.timed_out}; callbacks due: {r.callbacks}",
        f"abandoned: {r.abandoned} ({r.abandoned_within} within {r.limit} s)",
        f"mean wait of answered callers: "
        f"{'-' if r.mean_wait is None else f'{r.mean_wait:.0f} s'}",
        f"agent occupancy (talking / signed in): {pct(out.occupancy)}",
    ]
