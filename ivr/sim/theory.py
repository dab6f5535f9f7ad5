"""The simulator checked against queueing theory (Erlang C), and staffing by Erlang C.

Theory mode makes the app's queue an M/M/N queue: the 2-minute limit off
(``queue.voicemail_after`` = 3600, the most validation allows), no whisper
(``agents.whisper: false``), infinite patience, one department, Poisson arrivals and N advisors
whose whole handle time (talk, connection and after-call work: Erlang C's holding time, the
industry's AHT) is exponential with mean AHT. The advisors (``simulate.EagerAgent``) end each
call with * so as to be ready X ~ Exp(AHT) after taking the caller, an idle advisor is offered
each new caller at once (the push, ``ivr.agents.offer``), and one waiting is taken the moment an
advisor is ready, so the offered load is exactly the profile's Erlangs. The wait is measured as
the report measures it: ``QueueTime`` (whole seconds, as Twilio gives it) from joining the
queue to being dequeued by an advisor.

Printed side by side, per time limit:

* **simulated**: the share answered within the limit, from the report over the app's events;
* **Erlang C**: the textbook answer (``ivr.erlang``);
* **ideal queue**: a plain FIFO M/M/N queue (``fifo_waits``) fed with the *same* arrivals and
  handle times. The share answered within 20 s is a noisy estimate: callers' waits are strongly
  correlated (they share busy periods), so over one simulated day the share itself varies by
  several points from one seed to another (e.g. ~7 points standard deviation at 11 advisors,
  10 Erlangs). The ideal queue on the same draws carries the same sampling error, so
  ``simulated - ideal`` isolates what the app adds (its whole-second waits, the push job's
  delay), and ``Erlang C + simulated - ideal`` (a control-variate estimate) is the simulated
  share with that sampling error removed.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ivr import erlang
from ivr.sim.simulate import Outcome, Profile

TIMES = (20, 60, 120)


def theory_config(config: Any, limit: int = 3600) -> Any:
    """``config`` with the 2-minute limit effectively off (an hour, the validated maximum;
    ``limit`` to keep one, for Erlang A) and no whisper (Erlang C's server starts serving a
    caller the moment it takes them)."""
    return config.model_copy(update={
        "queue": config.queue.model_copy(update={"voicemail_after": limit}),
        "agents": config.agents.model_copy(update={"whisper": False}),
    })


def theory_profile(erlangs: float, aht: float, patience: float | None = None) -> Profile:
    """Every hour offering ``erlangs``, handle times exponential with mean ``aht``, no giving
    up (or exponential patience with mean ``patience``: Erlang A)."""
    return Profile({h: erlangs * 3600 / aht for h in range(24)}, {"2": 1.0}, aht, patience)


def fifo_waits(arrivals: Sequence[float], handles: Sequence[float], agents: int) -> list[float]:
    """Waits in a first-come-first-served queue with ``agents`` servers, caller i arriving at
    ``arrivals[i]`` (ascending) and holding a server ``handles[i]`` (pure; the ideal queue)."""
    free = [0.0] * agents  # when each server is next free
    waits = []
    for t, x in zip(arrivals, handles, strict=True):
        start = max(t, heapq.heappop(free))
        waits.append(start - t)
        heapq.heappush(free, start + x)
    return waits


def ideal_outcomes(arrivals: Sequence[float], handles: Sequence[float],
                   patiences: Sequence[float | None], agents: int, limit: float,
                   ) -> tuple[float, float, float]:
    """Shares answered, abandoned and taken to voicemail in a FIFO queue with ``agents``
    servers whose callers leave at min(patience, ``limit``) unless answered first (the ideal
    M/M/N+M queue with the cut-off, pure): a caller's offered wait is the first server's free
    time, and only answered callers take a server."""
    free = [0.0] * agents
    counts = [0, 0, 0]
    for t, x, p in zip(arrivals, handles, patiences, strict=True):
        start = max(t, free[0])
        leave = limit if p is None else min(p, limit)
        if start - t < leave:
            heapq.heapreplace(free, start + x)
            counts[0] += 1
        else:
            counts[1 if p is not None and p < limit else 2] += 1
    n = max(1, len(arrivals))
    return counts[0] / n, counts[1] / n, counts[2] / n


def mmn_a_spread(agents: int, erlangs: float, aht: float, patience: float, limit: float,
                 hours: float, runs: int = 40, seed: int = 1) -> float:
    """Standard deviation of the share answered over ``hours`` of the ideal M/M/N+M queue with
    the cut-off, across ``runs`` runs: how far one short simulation may land by chance."""
    rng = random.Random(seed)
    shares = []
    for _ in range(runs):
        arrivals, now = [], 0.0
        while True:
            now += rng.expovariate(erlangs / aht)
            if now > hours * 3600:
                break
            arrivals.append(now)
        handles = [rng.expovariate(1 / aht) for _ in arrivals]
        patiences = [rng.expovariate(1 / patience) for _ in arrivals]
        shares.append(ideal_outcomes(arrivals, handles, patiences, agents, limit)[0])
    mean = sum(shares) / len(shares)
    return math.sqrt(sum((s - mean) ** 2 for s in shares) / (len(shares) - 1))


def share_within(waits: Sequence[float], t: float, whole_seconds: bool = False) -> float | None:
    """Share of ``waits`` at most ``t``; ``whole_seconds`` truncates each wait first, as
    Twilio's ``QueueTime`` does."""
    if not waits:
        return None
    return sum((math.floor(w) if whole_seconds else w) <= t for w in waits) / len(waits)


def mmn_waits(rng: random.Random, agents: int, erlangs: float, aht: float,
              hours: float) -> list[float]:
    """Waits of ``hours`` of an ideal M/M/N queue (Poisson arrivals, exponential handles)."""
    arrivals, now = [], 0.0
    while True:
        now += rng.expovariate(erlangs / aht)
        if now > hours * 3600:
            break
        arrivals.append(now)
    handles = [rng.expovariate(1 / aht) for _ in arrivals]
    return fifo_waits(arrivals, handles, agents)


def long_run(agents: int, erlangs: float, aht: float, days: int, times: Sequence[float] = TIMES,
             seed: int = 1) -> tuple[int, list[float]]:
    """Callers and shares answered within each of ``times`` over ``days`` of one continuous
    ideal queue: long enough to average out the spread (and the empty start, which flatters
    short runs), so it checks the ideal queue and ``ivr.erlang`` against Erlang C on their own,
    without the app."""
    waits = mmn_waits(random.Random(seed), agents, erlangs, aht, 24 * days)
    return len(waits), [share_within(waits, t) or 0.0 for t in times]


def sampling_sd(agents: int, erlangs: float, aht: float, hours: float, t: float = 20,
                runs: int = 40, seed: int = 1) -> float:
    """Standard deviation of the share answered within ``t`` over ``hours`` of an ideal M/M/N
    queue, across ``runs`` independent runs: how far one simulation may honestly land from
    Erlang C by chance alone."""
    rng = random.Random(seed)
    shares = []
    for _ in range(runs):
        share = share_within(mmn_waits(rng, agents, erlangs, aht, hours), t)
        if share is not None:
            shares.append(share)
    mean = sum(shares) / len(shares)
    return math.sqrt(sum((s - mean) ** 2 for s in shares) / (len(shares) - 1))


@dataclass(frozen=True)
class Row:
    t: int
    simulated: float | None
    erlang_c: float
    ideal: float | None  # the ideal FIFO M/M/N queue on the same arrivals and handle times

    @property
    def adjusted(self) -> float | None:
        """The simulated share less this run's sampling error (control variate)."""
        if self.simulated is None or self.ideal is None:
            return None
        return self.erlang_c + self.simulated - self.ideal


def compare(out: Outcome, agents: int, erlangs: float, aht: float,
            times: tuple[int, ...] = TIMES) -> list[Row]:
    ideal = (fifo_waits(out.arrivals, out.handles, agents)
             if out.arrivals and len(out.arrivals) == len(out.handles) else [])
    return [Row(t, out.within(t), erlang.service_level(agents, erlangs, t, aht),
                share_within(ideal, t, whole_seconds=True)) for t in times]


def table(rows: list[Row], title: str = "") -> list[str]:
    def pct(x: float | None) -> str:
        return "     -" if x is None else f"{100 * x:5.1f}%"

    def pts(x: float | None) -> str:
        return "    -" if x is None else f"{100 * x:+5.1f}"

    head = [title] if title else []
    return head + ["  within  simulated  Erlang C   diff   ideal queue  sim-ideal  "
                   "sim, sampling error removed"] + [
        f"  {r.t:4d} s     {pct(r.simulated)}    {pct(r.erlang_c)}  "
        f"{pts(None if r.simulated is None else r.simulated - r.erlang_c)}     {pct(r.ideal)}"
        f"      {pts(None if r.simulated is None or r.ideal is None else r.simulated - r.ideal)}"
        f"       {pct(r.adjusted)}"
        for r in rows]


# Advisor time per answered caller beyond the talk in a simulated day (the claim made when the
# caller chooses the department, so the advisor waits out what is said before <Enqueue>; the
# agent line's Dial ringing, the whisper, the introduction, the wrap-up prompt and key):
# measured from the events of simulated weekdays by ``ivr.staffing.measure.handling``
# (set-up ~16 s, wrap-up ~8 s: 23-25 s at 5-8 advisors; it was 20 s, set-up ~12 s, before
# the claim moved to the department choice; bench/staffing.py prints it);
# ``overhead_seconds`` in a profile overrides it.
SIM_OVERHEAD_SECONDS = 24.0
MODELS = ("erlang-a", "erlang-c")


def handle_seconds(profile: Profile) -> float:
    """An advisor's whole time per caller: the profile's talk time plus the overhead."""
    overhead = profile.overhead_seconds
    return profile.handle_seconds + (SIM_OVERHEAD_SECONDS if overhead is None else overhead)


def model_name(model: str, profile: Profile, limit: float) -> str:
    """The model as the output names it, with what it assumes."""
    if model == "erlang-c":
        return "Erlang C (nobody hangs up, no limit)"
    patience = profile.patience_seconds
    return (f"Erlang A (mean patience {'infinite' if patience is None else f'{patience:g} s'}"
            f", to voicemail at {limit:g} s)")


def agents_per_hour(profile: Profile, hours: range, target: float, limit: float,
                    model: str = "erlang-a") -> dict[int, int]:
    """The fewest advisors per hour answering ``target`` within ``limit`` seconds, by Erlang A
    with the cut-off (callers' patience from the profile, the limit to voicemail) or Erlang C,
    with the advisors' whole handle time (``handle_seconds``), not the talk time alone."""
    aht = handle_seconds(profile)
    out = {}
    for h in hours:
        load = erlang.erlangs(profile.calls_per_hour.get(h, 0.0), aht)
        out[h] = (erlang.agents_for(target, limit, load, aht) if model == "erlang-c" else
                  erlang.agents_for_a(target, limit, load, aht, profile.patience_seconds, limit))
    return out
