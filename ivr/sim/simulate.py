"""``ivr simulate``: a day (or an hour) of calls through the real webhooks, to plan staffing.

Why simulate rather than just use Erlang C: the real journey has menus, a 2-minute limit to
voicemail, callers who give up, an agent line with a whisper and a wrap-up prompt, and the
Customer Service Standard figures that the council is judged on come from ``ivr.report`` over
the events the app itself writes. So the simulation drives the app in-process in virtual time
(``ivr.sim.world.in_process``) with Poisson callers and advisors on the agent line, then reads
the figures from the same report code the console uses.

``theory=True`` switches off everything Erlang C does not model (the whisper, the menu mix;
with ``theory.theory_config`` and ``theory.theory_profile``'s defaults also the 2-minute limit
and caller patience) and makes each advisor's whole handle time the drawn one, so the queue
can be checked against ``ivr.erlang``: Erlang C, or Erlang A with the cut-off when the profile
has a patience and the config its limit (see ``ivr.sim.theory``).

The profile (calls per hour, menu mix, handle time, patience, shifts) is ``ivr.sim.profile``;
who is on the agent line when, and how busy they were, is ``ivr.sim.rota``.
"""

from __future__ import annotations

import bisect
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import urlsplit

from ivr import agents, events
from ivr.report import Report, compute, settings
from ivr.sim.engine import Fidelity
from ivr.sim.legs import SILENCE, GatherPrompt, Leg, Notice, Reply
from ivr.sim.profile import Profile, ProfileError, Shift  # noqa: F401  (re-exported)
from ivr.sim.rota import Seat, Staffing, seats_by_hour, seats_from_shifts, staffing
from ivr.sim.scenario import Agent, Caller, press, steps
from ivr.sim.world import World, in_process

DAY = datetime(2026, 12, 1, tzinfo=UTC)  # a Tuesday, GMT (London = UTC in December)
AGENT_PHONE = "+4477009{:05d}"
AGENT_PIN = "730519"  # every simulated advisor's agent line PIN (ivr.credentials' rules)
# Its hash's cost: scrypt as the app stores secrets, at n=2**10 rather than 2**15. The app
# checks a PIN at the cost its hash names, so each simulated sign-in costs about 3 ms of CPU
# rather than about 100 (a 3,000-call day has dozens); real advisors' hashes are unchanged.
SIM_PIN_METHOD = "scrypt:1024:8:1"
CALLER_PHONE = "+4479110{:05d}"
LATE = 600  # theory: advisors stay this long after the last hour for callers still in the menu
DRAIN = 3 * 3600  # after the last hour and shift: the last callers finish; nothing after


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
    agents: int  # advisors in all (per hour: the most needed in any hour)
    occupancy: float | None  # handling (on a call, wrap-up) / signed in and not on a break
    waits: list[float]  # seconds queued, answered callers (theory mode: all of them)
    holding: float | None = None  # advisor time per caller answered: take to available
    wall_seconds: float = 0.0
    arrivals: list[float] = field(default_factory=list)  # callers who queued: s from start
    handles: list[float] = field(default_factory=list)  # their drawn handle times
    patiences: list[float | None] = field(default_factory=list)  # and patience (None: for ever)
    staffing: Staffing | None = None  # occupancy by hour and by shift
    requests: int = 0  # webhook requests made
    shifts: tuple[Shift, ...] = ()  # the profile's shifts, when they staffed the day
    erlang_c: dict[int, int] | None = None  # the model's advisors per hour (--agents-for)
    model: str = "Erlang C"  # which model staffed it (the column's title)

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


def staff(redis: Any, config: Any, seats: list[Seat], now: float) -> list[tuple[str, str]]:
    """An advisor for each seat, serving its departments (default all), ringing from their
    own phone (which saves keying the agent number; the PIN, ``AGENT_PIN``, is still asked);
    returns (phone, agent id) per seat. One hash serves them all, at ``SIM_PIN_METHOD``'s cost:
    scrypt is slow on purpose, and a simulated advisor guards nothing."""
    out = []
    hashed = agents.hash_secret(AGENT_PIN, method=SIM_PIN_METHOD) if seats else ""
    for i, seat in enumerate(seats):
        phone = AGENT_PHONE.format(i)
        agent = agents.add(redis, name=f"Sim Advisor{i}",
                           departments=list(seat.departments or config.departments),
                           phone=phone, role=agents.Role.AGENT, now=now)
        agents.set_secret(redis, agent.id, "pin_hash", AGENT_PIN, hashed=hashed)
        out.append((phone, agent.id))
    return out


def seats_for(profile: Profile, agents_per_hour: dict[int, int] | None, hours: range,
              base: float, theory: bool) -> list[Seat]:
    """Advisors per hour when given (``--agents``, Erlang C), else the profile's shifts."""
    if agents_per_hour is not None:
        return seats_by_hour(agents_per_hour, hours, base, LATE if theory else 0.0)
    if not profile.shifts:
        raise ProfileError("no advisors: give advisors per hour (--agents N, --agents-for) or "
                           "shifts in the profile")
    return seats_from_shifts(profile.shifts, base)


def run(app: Any, profile: Profile, *, agents_per_hour: dict[int, int] | None = None,
        hours: range, seed: int = 1, theory: bool = False,
        progress: Callable[[str], None] | None = None) -> Outcome:
    """Simulate ``hours`` of ``profile`` on ``app``, staffed with ``agents_per_hour`` advisors
    (see ``ivr.sim.rota.seats_by_hour``) or, without it, with the profile's shifts."""
    started = time.monotonic()
    ivr = app.extensions["ivr"]
    redis, config = ivr.redis, ivr.config
    rng = random.Random(seed)
    base = DAY.timestamp()
    start, end = base + hours.start * 3600, base + hours.stop * 3600
    if agents_per_hour is None:
        profile.check_departments(config.departments)
    seats = seats_for(profile, agents_per_hour, hours, base, theory)
    first = min([start] + [s.sign_in for s in seats])
    world = in_process(app, start=first - 120,  # an advisor on the line all day: no loop guard
                       fidelity=Fidelity(max_requests_per_call=10**7 if theory else 20_000),
                       rest=app.extensions.get("ivr_sim_rest"))
    world.engine.keep_requests = False  # a day is hundreds of thousands of requests
    requests = count_requests(world)
    desk = sign_in(world, seats, staff(redis, config, seats, first - 120), theory)
    times = arrivals(rng, profile, hours)
    starts = [base + t for t in times]
    handles, patiences, legs = place_calls(world, rng, profile, starts, theory)
    try:
        _run(world, max([end] + [s.until for s in seats]), starts, legs, requests, progress)
    finally:
        if world.jobs is not None:
            world.jobs.close()
    log = events.read_all(redis)
    report = compute(log, **settings(config), start=start)
    waits = [float(v.wait) for v in report.visits if v.wait is not None
             and (theory or v.outcome == "answered")]
    queued = {v.call for v in report.visits}  # (not those who reached it after closing)
    busy = staffing(log, desk, base, world.now)
    return Outcome(report, len(times), len(seats), busy.total.occupancy, waits,
                   holding=holding_time(log), wall_seconds=time.monotonic() - started,
                   arrivals=[base + t - start for t, leg in zip(times, legs, strict=True)
                             if leg.sid in queued],
                   handles=[x for x, leg in zip(handles, legs, strict=True) if leg.sid in queued],
                   patiences=[x for x, leg in zip(patiences, legs, strict=True)
                              if leg.sid in queued],
                   staffing=busy, requests=requests[0],
                   shifts=profile.shifts if agents_per_hour is None else ())


def count_requests(world: World) -> list[int]:
    """A running count of webhook requests (the engine keeps no list of them on long runs)."""
    counter = [0]

    def count() -> None:
        counter[0] += 1

    world.engine.after_request.append(count)
    return counter


def sign_in(world: World, seats: list[Seat], staffed: list[tuple[str, str]], theory: bool,
            ) -> dict[str, Seat]:
    """Each advisor rings the agent line at their seat's time; returns the seats by agent id."""
    keys, said = world.config.keys, world.config.messages.agent
    for seat, (phone, _) in zip(seats, staffed, strict=True):
        actor = (EagerAgent(pin=AGENT_PIN, until=seat.until) if theory else
                 Agent(pin=AGENT_PIN, until=seat.until, breaks=list(seat.breaks),
                       break_key=keys.agent_break, break_marker=said.on_break))
        world.agent(actor, phone=phone, at=seat.sign_in)
    return {agent_id: seat for seat, (_, agent_id) in zip(seats, staffed, strict=True)}


def place_calls(world: World, rng: random.Random, profile: Profile, times: list[float],
                theory: bool) -> tuple[list[float], list[float | None], list[Leg]]:
    """A caller at each time (epoch seconds), with a menu choice, patience and handle time
    drawn from the profile; returns the handle times, patiences and legs, in arrival order."""
    keys, weights = list(profile.mix), list(profile.mix.values())
    handles: list[float] = []
    patiences: list[float | None] = []
    legs = []
    for i, t in enumerate(times):
        key = "2" if theory else rng.choices(keys, weights)[0]
        patience = (None if profile.patience_seconds is None
                    else rng.expovariate(1 / profile.patience_seconds))
        handle = rng.expovariate(1 / profile.handle_seconds)
        handles.append(handle)
        patiences.append(patience)
        caller = (TheoryCaller(steps("2 -"), patience=patience, talk_seconds=None, handle=handle)
                  if theory else
                  Caller(steps(f"{key} -"), patience=patience, talk_seconds=handle))
        legs.append(world.call(caller, from_=CALLER_PHONE.format(i), at=t))
    return handles, patiences, legs


def _run(world: World, end: float, starts: list[float], legs: list[Leg], requests: list[int],
         progress: Callable[[str], None] | None) -> None:
    """Run to ``end`` (the last hour and shift), then until the last caller is done (at most
    ``DRAIN`` more), reporting progress every ``progress.every`` simulated seconds. ``starts``
    are the callers' arrival times, in order, ``legs`` their calls."""
    step = float(getattr(progress, "every", 900.0))
    wall = time.monotonic()
    while True:
        before = world.now
        world.run(until=min(end + DRAIN, (world.now // step + 1) * step))  # on the quarter
        if progress:
            progress(progress_line(world.now, starts, legs, requests[0],
                                   time.monotonic() - wall))
        if world.now >= end + DRAIN or world.now <= before or (
                world.now >= end and not any(leg.live for leg in world.engine.legs.values())):
            break  # (every call over: callers, advisors, callbacks)
    close = getattr(progress, "close", None)
    if close is not None:
        close()


def progress_line(now: float, starts: list[float], legs: list[Leg], requests: int,
                  wall: float) -> str:
    """``simulated to 10:15: 120 of 480 calls started, 112 finished; 3,402 webhook requests
    (41 s)``: the virtual clock, the callers and the requests so far."""
    clock = datetime.fromtimestamp(now, UTC).strftime("%H:%M")
    begun = bisect.bisect_right(starts, now)
    done = sum(1 for leg in legs[:begun] if leg.ended.fired)
    return (f"simulated to {clock}: {begun} of {len(legs)} calls started, {done} finished; "
            f"{requests:,} webhook requests ({wall:.0f} s)")


class ProgressLine:
    """Progress on ``stream``: one line rewritten in place (``\\r``) on a terminal, every
    simulated minute; plain lines every 15 simulated minutes otherwise (logs, pipes)."""

    def __init__(self, stream: TextIO | None = None, tty: bool | None = None) -> None:
        self.stream = stream
        self.tty = tty
        self.width = 0

    @property
    def out(self) -> TextIO:
        return self.stream or sys.stderr

    @property
    def on_tty(self) -> bool:
        return self.tty if self.tty is not None else self.out.isatty()

    @property
    def every(self) -> float:
        return 60.0 if self.on_tty else 900.0

    def __call__(self, line: str) -> None:
        if not self.on_tty:
            print(line, file=self.out, flush=True)
            return
        self.out.write("\r" + line.ljust(self.width))
        self.out.flush()
        self.width = len(line)

    def close(self) -> None:
        """End the rewritten line, so what is printed next starts on a line of its own."""
        if self.on_tty and self.width:
            self.out.write("\n")
            self.out.flush()
        self.width = 0


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


stderr_progress = ProgressLine()  # on sys.stderr, as it is when each line is written


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def figures(out: Outcome) -> list[str]:
    """The Customer Service Standard figures, as the simulate command prints them, then each
    hour's and each shift's (service level per hour, advisors and their occupancy)."""
    r = out.report
    rate = out.calls / out.wall_seconds if out.wall_seconds else 0.0
    staffed = (f"{out.agents} in {len(out.shifts)} shift{'s' if len(out.shifts) != 1 else ''}"
               if out.shifts else f"{out.agents}")
    return [
        f"calls simulated: {out.calls} ({rate:.0f} per second of wall time, "
        f"{out.requests:,} webhook requests); advisors: {staffed}",
        f"offered to a queue: {r.offered}; answered: {r.answered}",
        f"service level (answered within {r.limit} s): {pct(r.service_level)} "
        f"({r.answered_within} of {r.offered})",
        f"2-minute promise kept: {pct(r.promise_share)}",
        f"voicemails (queue timeouts): {r.timed_out}; callbacks due: {r.callbacks}",
        f"abandoned: {r.abandoned} ({r.abandoned_within} within {r.limit} s)",
        f"mean wait of answered callers: "
        f"{'-' if r.mean_wait is None else f'{r.mean_wait:.0f} s'}; median: "
        f"{'-' if not out.waits else f'{statistics.median(out.waits):.1f} s'}",
        f"agent occupancy (on calls and wrap-up / signed in, breaks excluded): "
        f"{pct(out.occupancy)}",
    ] + hour_lines(out) + shift_lines(out)


def hour_lines(out: Outcome) -> list[str]:
    """Per hour: callers offered, service level, advisors signed in (on average, breaks
    included) beside the model's advisors when it staffed the day, and their occupancy."""
    hours = out.staffing.hours if out.staffing else {}
    shown = sorted(set(out.report.by_hour) | {h for h, b in hours.items() if b.signed_in >= 180})
    planned = out.erlang_c
    lines = [f"by hour:  offered  within {out.report.limit} s  advisors"
             + (f"  {out.model:>8}" if planned is not None else "")
             + "  on break  occupancy  (advisors signed in, on average)"]
    for h in shown:
        r, busy = out.report.by_hour.get(h), hours.get(h)
        erlang = ("" if planned is None else
                  f"  {planned.get(h, '-'):>8}")
        lines.append(f"  {h:02d}:00  {r.offered if r else 0:7d}  {pct(r and r.service_level):>12}"
                     f"  {(busy.signed_in / 3600 if busy else 0):8.1f}{erlang}"
                     f"  {(busy.seconds.get('on_break', 0) / 3600 if busy else 0):8.1f}"
                     f"  {pct(busy and busy.occupancy):>9}")
    return lines if shown else []


def shift_lines(out: Outcome) -> list[str]:
    """Per shift: its advisors, hours each signed in and on a break (on average), occupancy."""
    if not out.shifts or out.staffing is None:
        return []
    width = max(len(shift.label) for shift in out.shifts)
    lines = [f"by shift: {' ' * (width - 7)}advisors  signed in  on break  occupancy  "
             "(hours each, on average)"]
    for i, shift in enumerate(out.shifts):
        busy, n = out.staffing.shifts.get(i), out.staffing.advisors.get(i, 0)
        signed = busy.signed_in / 3600 / n if busy and n else 0.0
        rest = busy.seconds.get("on_break", 0.0) / 3600 / n if busy and n else 0.0
        lines.append(f"  {shift.label:<{width}} {shift.advisors:8d}  {signed:7.2f} h  {rest:6.2f} h"
                     f"  {pct(busy and busy.occupancy):>9}")
    return lines
