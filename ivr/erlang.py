"""Erlang C and Erlang A with the cut-off: "how many advisors for this many calls?".

Erlang C (below) keeps every caller waiting until answered; Erlang A with the cut-off
(``erlang_a``, further down) lets callers give up and takes those still waiting at the limit
to voicemail, as the service does, and is what ``ivr simulate --agents-for`` and ``ivr plan``
staff by (Erlang C beside it). Erlang C is used two ways: a staffing level per hour, and the
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
from collections.abc import Callable
from dataclasses import dataclass


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


# -- Erlang A with the cut-off to voicemail ------------------------------------------------
#
# Erlang C assumes nobody hangs up and nobody is taken out of the queue. The council's queue
# has both: callers give up (patience, assumed exponential with mean ``patience``: Palm's
# M/M/N+M, "Erlang A", abandonment rate theta = 1/patience) and a caller still waiting at
# ``limit`` seconds (120) is taken to voicemail. Both exits free the queue, so Erlang C,
# which keeps every caller waiting, over-states the waits and over-staffs.
#
# Exact method (Baccelli & Hebuterne 1981; Zeltyn & Mandelbaum 2005, "M/M/n+G"). In a FIFO
# queue the *offered wait* V (how long a caller who never left would wait) is what matters: a
# caller is answered iff their patience outlasts V and V < limit. V is a Markov process: with
# k < N advisors busy V = 0 (birth-death, p_k = p_0 A^k / k!); with all busy V falls at rate 1
# and jumps by Exp(N mu) at each arrival who will be answered. Level crossing gives, with
# Gbar(x) = P(a caller is still willing to wait at x) = exp(-theta x) for x < limit, 0 after,
# and H(x) = integral of Gbar from 0 to x:
#
#     P(V in dx) = lambda p_{N-1} exp(lambda H(x) - N mu x) dx,  x > 0
#     p_{N-1} (E + lambda J) = 1,  E = sum_{k<N} A^k/k! / (A^{N-1}/(N-1)!),  J = int exp(...)
#
# and every figure follows by conditioning on V = x: answered (wait x) with probability
# exp(-theta x) if x < limit; otherwise gives up (exponential patience below min(x, limit))
# or reaches voicemail at the limit. theta = 0 with no limit is Erlang C exactly; the
# integrals are closed-form when theta = 0 and Gauss-Legendre quadrature otherwise (the
# integrand is smooth; panels narrow enough that each spans under half an e-fold).

_GL_X = (-0.9061798459386640, -0.5384693101056831, 0.0, 0.5384693101056831,
         0.9061798459386640)
_GL_W = (0.2369268850561891, 0.4786286704993665, 0.5688888888888889, 0.4786286704993665,
         0.2369268850561891)


@dataclass(frozen=True)
class QueueFigures:
    """What happens to callers offered to the queue (shares of all of them)."""

    answered_within: float  # answered with a wait of at most ``t`` (the service level)
    answered: float  # answered at all (before giving up and before the limit)
    abandoned: float  # hung up while queuing
    abandoned_within: float  # hung up within ``t``
    voicemail: float  # still waiting at the limit: taken to voicemail
    waited: float  # P(wait > 0): found every advisor busy
    mean_wait: float  # seconds in the queue, over every caller (answered or not)
    mean_answered_wait: float  # seconds in the queue, over answered callers (ASA)
    t: float


def _log_e(agents: int, erlangs: float) -> float:
    """log E, E = sum_{k<N} A^k/k! over A^{N-1}/(N-1)! = 1 / ErlangB(N-1, A)."""
    return -math.log(erlang_b(agents - 1, erlangs)) if erlangs > 0 else 0.0


def erlang_a(agents: int, erlangs: float, aht: float, patience: float | None,
             limit: float | None, t: float) -> QueueFigures:
    """The M/M/N+M queue (mean patience ``patience`` s, None: infinite) with a cut-off to
    voicemail at ``limit`` s (None: none), ``erlangs`` offered, mean handle time ``aht`` s.
    The service level is ``answered_within`` for ``t`` (at most ``limit``)."""
    if agents < 1 or erlangs < 0 or aht <= 0 or t < 0:
        raise ValueError("need agents >= 1, erlangs >= 0, aht > 0 and t >= 0")
    if patience is not None and patience <= 0:
        raise ValueError("patience must be positive (None: infinite)")
    if limit is not None and limit <= 0:
        raise ValueError("limit must be positive (None: no cut-off)")
    if limit is not None:
        t = min(t, limit)
    if erlangs == 0:
        return QueueFigures(1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, t)
    lam, nmu = erlangs / aht, agents / aht
    theta = 0.0 if patience is None else 1.0 / patience
    if theta == 0.0 and limit is None:  # Erlang C: nobody leaves the queue but to an advisor
        c, overloaded = erlang_c(agents, erlangs), agents <= erlangs
        wait = mean_wait(agents, erlangs, aht)
        return QueueFigures(service_level(agents, erlangs, t, aht), 0.0 if overloaded else 1.0,
                            0.0, 0.0, 0.0, c, wait, wait, t)
    end = limit if limit is not None else _horizon(lam, nmu, theta)
    v = _OfferedWait(lam, nmu, theta, end)
    log_zero = _log_e(agents, erlangs) - v.peak  # P(V = 0), relative to the same exp(peak)
    log_busy = math.log(lam * v.total)
    top = max(log_zero, log_busy)
    zero, busy = math.exp(log_zero - top), math.exp(log_busy - top)
    zero, scale = zero / (zero + busy), lam * math.exp(-top) / (zero + busy)
    answered = zero + scale * v.served(end)
    voicemail = scale * v.beyond * math.exp(-theta * end) if limit is not None else 0.0
    answered_wait = scale * v.served_wait()
    return QueueFigures(
        answered_within=zero + scale * v.served(t), answered=answered,
        abandoned=max(0.0, 1.0 - answered - voicemail),
        abandoned_within=scale * v.abandoned_by(t), voicemail=voicemail,
        waited=1.0 - zero, mean_wait=scale * v.time_queued(),
        mean_answered_wait=answered_wait / answered if answered > 0 else math.inf, t=t)


def _horizon(lam: float, nmu: float, theta: float) -> float:
    """No limit (theta > 0): an offered wait past which nothing measurable remains: the density
    has passed its peak and fallen exp(-60) below it (phi is concave, so it only falls on), or
    the patience survival is below exp(-60). Beyond it the figures count nobody answered."""
    peak_at = max(0.0, math.log(lam / nmu) / theta) if lam > nmu else 0.0

    def phi(x: float) -> float:
        return lam * -math.expm1(-theta * x) / theta - nmu * x

    x = peak_at + 1.0 / nmu
    while theta * x < 60 and phi(x) > phi(peak_at) - 60:
        x *= 2
    return x


class _OfferedWait:
    """Integrals of the offered wait's density (without its constant lambda p_{N-1}) against
    what happens to a caller facing each wait, all relative to exp(peak) to avoid overflow:
    exp(phi(x)), phi(x) = lambda H(x) - N mu x on [0, end], and exp(phi(end) - N mu (x - end))
    beyond ``end`` (only answered callers push V up, and beyond it nobody is answered)."""

    def __init__(self, lam: float, nmu: float, theta: float, end: float) -> None:
        self.lam, self.nmu, self.theta, self.end = lam, nmu, theta, end
        self.width = 0.5 / (lam + nmu + theta)  # each panel spans at most half an e-fold
        top = min(end, max(0.0, math.log(lam / nmu) / theta)) if theta > 0 and lam > nmu \
            else 0.0  # phi is concave (theta > 0) or linear: its peak is here or at an end
        self.peak = max(0.0, self.phi(top), self.phi(end))
        self.beyond = math.exp(self.phi(end) - self.peak) / nmu  # int_end^inf
        self.total = self.integral(lambda x: 1.0, 0.0, end) + self.beyond

    def h(self, x: float) -> float:
        """H(x): the integral of the patience survival exp(-theta u) from 0 to x."""
        return x if self.theta == 0 else -math.expm1(-self.theta * x) / self.theta

    def phi(self, x: float) -> float:
        return self.lam * self.h(x) - self.nmu * x

    def integral(self, f: Callable[[float], float], a: float, b: float) -> float:
        """int_a^b f(x) exp(phi(x) - peak) dx, by 5-point Gauss-Legendre panels."""
        if b <= a:
            return 0.0
        panels = min(200_000, max(8, math.ceil((b - a) / self.width)))
        h = (b - a) / panels
        total = 0.0
        for k in range(panels):
            mid = a + (k + 0.5) * h
            for x, w in zip(_GL_X, _GL_W, strict=True):
                u = mid + x * h / 2
                total += w * f(u) * math.exp(self.phi(u) - self.peak)
        return total * h / 2

    def served(self, t: float) -> float:
        """Answered within ``t``: offered wait x <= t (and below the end), patience beyond x."""
        return self.integral(lambda x: math.exp(-self.theta * x), 0.0, min(t, self.end))

    def served_wait(self) -> float:
        return self.integral(lambda x: x * math.exp(-self.theta * x), 0.0, self.end)

    def abandoned_by(self, t: float) -> float:
        """Gave up within ``t``: patience below min(x, t, end), x the offered wait."""
        t = min(t, self.end)
        gave_up = -math.expm1(-self.theta * t)
        return (self.integral(lambda x: -math.expm1(-self.theta * x), 0.0, t)
                + gave_up * (self.integral(lambda x: 1.0, t, self.end) + self.beyond))

    def time_queued(self) -> float:
        """Time in the queue, min(x, patience, end), summed over the density."""
        return self.integral(self.h, 0.0, self.end) + self.beyond * self.h(self.end)


def agents_for_a(target: float, t: float, erlangs: float, aht: float, patience: float | None,
                 limit: float | None, *, max_abandoned: float | None = None,
                 max_voicemail: float | None = None, limit_agents: int = 10_000) -> int:
    """The fewest agents for which Erlang A with the cut-off answers at least ``target`` within
    ``t`` s and, when given, abandons at most ``max_abandoned`` and sends at most
    ``max_voicemail`` to voicemail (each share falls as agents are added)."""
    if not 0.0 <= target < 1.0:
        raise ValueError("target must be a share in [0, 1)")
    if erlangs <= 0:
        return 0
    n = max(1, math.ceil(target * erlangs))  # answered <= N/A: advisors answer N mu at most
    while True:
        f = erlang_a(n, erlangs, aht, patience, limit, t)
        if (f.answered_within >= target
                and (max_abandoned is None or f.abandoned <= max_abandoned)
                and (max_voicemail is None or f.voicemail <= max_voicemail)):
            return n
        n += 1
        if n > limit_agents:
            raise ValueError(f"more than {limit_agents} agents needed")
