"""Erlang C: the textbook answer to "how many advisors for this many calls?".

Used two ways: ``ivr simulate --agents-for`` proposes a staffing level per hour from it, and the
simulator is checked against it (Poisson arrivals, exponential handle times, FIFO, N agents,
nobody hangs up: the M/M/N queue, whose waiting-time distribution Erlang C gives exactly).
If the simulated service level drifts from these figures, the simulator (or the app's queue)
is wrong, not the theory.

Formulas (A = offered load in Erlangs = arrival rate x mean handle time, N agents, N > A):

* Erlang B by the stable recursion B(0) = 1, B(n) = A·B(n-1) / (n + A·B(n-1)).
* Erlang C from it: C(N, A) = N·B / (N - A·(1 - B)) = P(a caller waits at all).
* Service level P(W <= t) = 1 - C(N, A)·exp(-(N - A)·t / AHT).

The recursion avoids the factorials and powers of the direct sum, which overflow or lose
precision for the hundreds of Erlangs a big contact centre sees.
"""

from __future__ import annotations

import math


def erlang_b(agents: int, erlangs: float) -> float:
    """Blocking probability of an M/M/N/N system (Erlang B), by the stable recursion."""
    if agents < 0 or erlangs < 0:
        raise ValueError("agents and erlangs must be non-negative")
    b = 1.0
    for n in range(1, agents + 1):
        b = erlangs * b / (n + erlangs * b)
    return b


def erlang_c(agents: int, erlangs: float) -> float:
    """P(W > 0): the chance a caller has to wait, for ``agents`` serving ``erlangs`` of load.

    With N <= A the queue grows without limit, so every caller waits: 1.0."""
    if erlangs <= 0:
        return 0.0
    if agents <= erlangs:
        return 1.0
    b = erlang_b(agents, erlangs)
    return agents * b / (agents - erlangs * (1.0 - b))


def service_level(agents: int, erlangs: float, t: float, aht: float) -> float:
    """P(W <= t): the share answered within ``t`` seconds, mean handle time ``aht`` seconds."""
    if erlangs <= 0:
        return 1.0
    if agents <= erlangs:
        return 0.0
    return 1.0 - erlang_c(agents, erlangs) * math.exp(-(agents - erlangs) * t / aht)


def mean_wait(agents: int, erlangs: float, aht: float) -> float:
    """Average speed of answer over all callers: C(N, A)·AHT / (N - A) (infinite if N <= A)."""
    if agents <= erlangs:
        return math.inf
    return erlang_c(agents, erlangs) * aht / (agents - erlangs)


def agents_for(target: float, t: float, erlangs: float, aht: float,
               limit: int = 10_000) -> int:
    """The fewest agents for which at least ``target`` of callers are answered within ``t`` s."""
    if not 0.0 <= target < 1.0:
        raise ValueError("target must be a share in [0, 1)")
    if erlangs <= 0:
        return 0
    n = max(1, math.floor(erlangs) + 1)
    while service_level(n, erlangs, t, aht) < target:
        n += 1
        if n > limit:
            raise ValueError(f"more than {limit} agents needed")
    return n


def erlangs(calls_per_hour: float, aht: float) -> float:
    """Offered load: calls per hour times mean handle time (seconds) over 3600."""
    return calls_per_hour * aht / 3600.0
