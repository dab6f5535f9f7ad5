"""The simulator checked against queueing theory (Erlang C), and staffing by Erlang C.

With the 2-minute limit switched off (``queue.voicemail_after`` = 3600, the most validation
allows), infinite patience, one department, Poisson arrivals, exponential talk times and N
advisors, the app's queue is an M/M/N queue, and Erlang C gives its waiting-time distribution.

Two columns of theory are printed, because the real agent line is not a bare server:

* **Erlang C** at the offered load (profile handle time): the textbook answer.
* **Erlang C, agent line**: the same formula with the holding time the advisors really spend
  per caller (talk + whisper + connection + wrap-up prompt, measured in the run), and every
  wait lengthened by the measured connection time (taking a caller to the bridge), which the
  caller spends queued while the advisor is already committed. This is the closest M/M/N
  model of what the app actually does (approximate: the overheads are fixed, not exponential,
  and an idle advisor's menu cycle adds up to ~3 s), so a large gap from it means the queue
  itself misbehaves (not FIFO, callers lost, advisors idle while callers wait).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ivr import erlang
from ivr.sim.simulate import Outcome, Profile

TIMES = (20, 60, 120)


def theory_config(config: Any) -> Any:
    """``config`` with the 2-minute limit effectively off (an hour, the validated maximum)."""
    return config.model_copy(update={"queue": config.queue.model_copy(
        update={"voicemail_after": 3600})})


def theory_profile(erlangs: float, aht: float) -> Profile:
    """Every hour offering ``erlangs``, talk times exponential with mean ``aht``, no giving up."""
    return Profile({h: erlangs * 3600 / aht for h in range(24)}, {"2": 1.0}, aht, None)


@dataclass(frozen=True)
class Row:
    t: int
    simulated: float | None
    erlang_c: float
    agent_line: float | None


def compare(out: Outcome, agents: int, erlangs: float, aht: float,
            times: tuple[int, ...] = TIMES) -> list[Row]:
    rows = []
    for t in times:
        line = None
        if out.busy_per_call and out.connect is not None:
            load = erlangs * out.busy_per_call / aht
            line = erlang.service_level(agents, load, max(0.0, t - out.connect),
                                        out.busy_per_call)
        rows.append(Row(t, out.within(t), erlang.service_level(agents, erlangs, t, aht), line))
    return rows


def table(rows: list[Row], title: str = "") -> list[str]:
    def pct(x: float | None) -> str:
        return "     -" if x is None else f"{100 * x:5.1f}%"

    head = [title] if title else []
    return head + ["  within  simulated  Erlang C  Erlang C (agent line)"] + [
        f"  {r.t:4d} s     {pct(r.simulated)}    {pct(r.erlang_c)}     {pct(r.agent_line)}"
        for r in rows]


def agents_per_hour(profile: Profile, hours: range, target: float, limit: float) -> dict[int, int]:
    """Erlang C's fewest advisors per hour answering ``target`` within ``limit`` seconds."""
    return {h: erlang.agents_for(target, limit,
                                 erlang.erlangs(profile.calls_per_hour.get(h, 0.0),
                                                profile.handle_seconds),
                                 profile.handle_seconds) for h in hours}
