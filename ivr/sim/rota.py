"""Who is on the agent line when, in a simulation, and how busy they were.

A ``Seat`` is one simulated advisor's day: when they ring the agent line, when they sign out
(at the first menu after it, so a call in progress is finished first), their departments and
breaks. Seats come from the profile's ``shifts`` or, without shifts, from a count per hour
(an hour needing N uses advisors 0..N-1, so each advisor's hours are contiguous).

Occupancy is measured from the app's own AGENTSTATE events, not from the simulated people, so
it is what the console would see: time handling calls (on a call or in wrap-up) over time
signed in and not on a break.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ivr import events
from ivr.sim.profile import Shift

HOUR = 3600.0
HANDLING = ("on_call", "wrap_up")


@dataclass(frozen=True)
class Seat:
    sign_in: float  # epoch seconds: rings the agent line
    until: float  # signs out at the first menu after this
    departments: tuple[str, ...] | None = None  # None: every department
    breaks: tuple[tuple[float, float], ...] = ()  # (from epoch seconds, seconds), in order
    shift: int = -1  # its shift's index in the profile (-1 when staffed per hour)


def seats_by_hour(agents_per_hour: dict[int, int], hours: range, base: float,
                  late: float = 0.0) -> list[Seat]:
    """Advisor i signs in a minute before the first hour needing more than i advisors and
    leaves at the end of the last (``late`` seconds after, for theory mode)."""
    most = max((agents_per_hour.get(h, 0) for h in hours), default=0)
    seats = []
    for i in range(most):
        on = [h for h in hours if agents_per_hour.get(h, 0) > i]
        seats.append(Seat(base + min(on) * HOUR - 60 + i * 0.1,
                          base + (max(on) + 1) * HOUR + late))
    return seats


def seats_from_shifts(shifts: Iterable[Shift], base: float) -> list[Seat]:
    """Each shift's advisors sign in at its start (a tenth of a second apart, as people do)
    and leave at its end; advisor k takes each break k x its stagger later."""
    seats = []
    for index, shift in enumerate(shifts):
        for k in range(shift.advisors):
            breaks = tuple((base + b.start(k) * 60, b.minutes * 60) for b in shift.breaks)
            seats.append(Seat(base + shift.start * 60 + k * 0.1, base + shift.end * 60,
                              shift.departments, tuple(sorted(breaks)), index))
    return seats


@dataclass
class Busy:
    """Seconds an advisor (or a group of them) spent in each state."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, state: str, seconds: float) -> None:
        self.seconds[state] += seconds

    @property
    def handling(self) -> float:
        return sum(self.seconds.get(s, 0.0) for s in HANDLING)

    @property
    def staffed(self) -> float:
        """Signed in and not on a break: time an advisor could take calls."""
        return self.handling + self.seconds.get("available", 0.0)

    @property
    def signed_in(self) -> float:
        return self.staffed + self.seconds.get("on_break", 0.0)

    @property
    def occupancy(self) -> float | None:
        return self.handling / self.staffed if self.staffed else None


def intervals(log: list[dict[str, Any]], agent_ids: Iterable[str], until: float,
              ) -> dict[str, list[tuple[float, float, str]]]:
    """Each advisor's states as (from, to, state), from the AGENTSTATE events; a state still
    open at ``until`` ends there."""
    wanted = set(agent_ids)
    open_: dict[str, tuple[float, str]] = {}
    out: dict[str, list[tuple[float, float, str]]] = {a: [] for a in wanted}
    for ev in log:
        if ev["event"] != str(events.Event.AGENT_STATE):
            continue
        agent = ev["data"].get("agent", "")
        if agent not in wanted:
            continue
        if agent in open_:
            since, state = open_[agent]
            out[agent].append((since, ev["ts"], state))
        open_[agent] = (ev["ts"], ev["data"].get("state", ""))
    for agent, (since, state) in open_.items():
        if state != "signed_out" and until > since:
            out[agent].append((since, until, state))
    return out


def by_hour(spans: Iterable[tuple[float, float, str]], base: float) -> dict[int, Busy]:
    """Split states at the hour (hours of the day from ``base``, midnight)."""
    hours: dict[int, Busy] = defaultdict(Busy)
    for start, stop, state in spans:
        t = start
        while t < stop:
            hour = int((t - base) // HOUR)
            cut = min(stop, base + (hour + 1) * HOUR)
            hours[hour].add(state, cut - t)
            t = cut
    return dict(hours)


@dataclass
class Staffing:
    """How busy the advisors were: overall, per hour of the day, per shift."""

    total: Busy
    hours: dict[int, Busy]
    shifts: dict[int, Busy]  # by shift index in the profile (-1: staffed per hour)
    advisors: dict[int, int]  # advisors per shift index


def staffing(log: list[dict[str, Any]], seats: dict[str, Seat], base: float,
             until: float) -> Staffing:
    """Occupancy overall, by hour and by shift, for the advisors ``seats`` (by agent id)."""
    total, hours = Busy(), defaultdict(Busy)
    shifts: dict[int, Busy] = {}
    advisors: dict[int, int] = defaultdict(int)
    for agent, spans in intervals(log, seats, until).items():
        advisors[seats[agent].shift] += 1
        shift = shifts.setdefault(seats[agent].shift, Busy())
        for start, stop, state in spans:
            total.add(state, stop - start)
            shift.add(state, stop - start)
        for hour, busy in by_hour(spans, base).items():
            for state, seconds in busy.seconds.items():
                hours[hour].add(state, seconds)
    return Staffing(total, dict(sorted(hours.items())), shifts, dict(advisors))
