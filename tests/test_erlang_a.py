"""Erlang A with the cut-off to voicemail (``ivr.erlang.erlang_a``) against independent answers.

* Erlang C when nobody gives up and there is no limit (theta -> 0, limit -> infinity).
* No limit: a brute-force birth-death chain of M/M/N+M (states 0..K, death rate
  min(k, N) mu + max(k - N, 0) theta), with the waiting time of a caller who arrives to j
  others queuing worked out from a small chain of their own (uniformised), and M/M/1+M with
  theta = mu, whose number in system is Poisson(lambda/mu): closed forms.
* With the limit: Little's law for the queue (abandonment rate = theta x time queued) and a
  plain event simulation of a FIFO queue whose callers leave at min(patience, limit), over
  hundreds of thousands of callers, within four standard errors.
"""

from __future__ import annotations

import heapq
import math
import random

import pytest

from ivr import erlang


def birth_death(n: int, lam: float, mu: float, theta: float, k_max: int = 400) -> list[float]:
    """Stationary distribution of the number in an M/M/n+M system (truncated far out)."""
    weights = [1.0]
    for k in range(1, k_max):
        weights.append(weights[-1] * lam / (min(k, n) * mu + max(k - n, 0) * theta))
    total = sum(weights)
    return [w / total for w in weights]


def served_by(j: int, t: float, n: int, mu: float, theta: float) -> float:
    """P(a caller arriving to n busy and j queuing is answered within t): their own chain,
    state i = callers ahead, to 'answered' at rate n mu from i = 0, 'gone' at rate theta."""
    rate = n * mu + (j + 1) * theta
    p = [0.0] * (j + 1)
    p[j] = 1.0
    served, term, k = 0.0, math.exp(-rate * t), 0
    poisson_tail = 1.0
    # uniformisation: sum over k jumps of Poisson(rate t) weights times P(answered by jump k)
    while poisson_tail > 1e-14 and k < 20_000:
        poisson_tail -= term
        k += 1
        nxt = [0.0] * (j + 1)
        for i, q in enumerate(p):
            if q == 0.0:
                continue
            move = n * mu + i * theta  # an advisor frees up or someone ahead gives up
            if i == 0:
                served += q * n * mu / rate * poisson_tail
            else:
                nxt[i - 1] += q * move / rate
            nxt[i] += q * (rate - move - theta) / rate  # a fictitious jump: stays
        p = nxt
        term *= rate * t / k
    return served


@pytest.mark.parametrize(("n", "a"), [(11, 10.0), (12, 10.0), (14, 10.0), (3, 2.0), (30, 25.0)])
def test_without_patience_or_limit_it_is_erlang_c(n, a):
    for t in (0, 20, 120):
        f = erlang.erlang_a(n, a, 180, None, None, t)
        assert f.answered_within == pytest.approx(erlang.service_level(n, a, t, 180), abs=1e-12)
        near = erlang.erlang_a(n, a, 180, 1e9, None, t)  # theta -> 0
        assert near.answered_within == pytest.approx(erlang.service_level(n, a, t, 180),
                                                     abs=1e-5)
        far = erlang.erlang_a(n, a, 180, None, 3e4, t)  # limit far beyond any wait
        assert far.answered_within == pytest.approx(erlang.service_level(n, a, t, 180),
                                                    abs=1e-9)
    assert near.waited == pytest.approx(erlang.erlang_c(n, a), abs=1e-5)
    assert near.mean_wait == pytest.approx(erlang.mean_wait(n, a, 180), rel=1e-4)


@pytest.mark.parametrize(("n", "a", "patience"), [(5, 6.5, 180), (6, 6.5, 180), (8, 6.5, 180),
                                                   (11, 10.0, 300), (2, 3.0, 60), (1, 0.5, 900)])
def test_without_a_limit_it_matches_the_birth_death_chain(n, a, patience):
    aht = 240.0
    lam, mu, theta = a / aht, 1 / aht, 1 / patience
    pi = birth_death(n, lam, mu, theta)
    queued = sum((k - n) * p for k, p in enumerate(pi) if k > n)
    f = erlang.erlang_a(n, a, aht, patience, None, 20)
    assert f.waited == pytest.approx(sum(pi[n:]), abs=1e-9)  # PASTA
    assert f.abandoned == pytest.approx(theta * queued / lam, abs=1e-9)  # abandons per arrival
    assert f.mean_wait == pytest.approx(queued / lam, rel=1e-7)  # Little
    assert f.voicemail == 0.0
    for t in (20, 120):
        expected = sum(pi[:n]) + sum(pi[n + j] * served_by(j, t, n, mu, theta)
                                     for j in range(60) if pi[n + j] > 1e-16)
        got = erlang.erlang_a(n, a, aht, patience, None, t).answered_within
        assert got == pytest.approx(expected, abs=1e-8), t


@pytest.mark.parametrize("rho", [0.3, 1.0, 2.5])
def test_one_advisor_with_patience_equal_to_the_handle_time_is_poisson(rho):
    """M/M/1+M with theta = mu: death rate k mu in every state, so N ~ Poisson(rho): nobody
    waits with probability exp(-rho), and abandons are theta E[queue] / lambda."""
    f = erlang.erlang_a(1, rho, 100, 100, None, 60)
    assert 1 - f.waited == pytest.approx(math.exp(-rho), abs=1e-10)
    assert f.abandoned == pytest.approx((rho - 1 + math.exp(-rho)) / rho, abs=1e-9)


def ideal_queue(n: int, a: float, aht: float, patience: float, limit: float, callers: int,
                seed: int) -> tuple[list[int], list[float]]:
    """FIFO queue, n servers, callers leaving at min(patience, limit) unless answered first:
    outcome counts (answered within t=limit, abandoned, voicemail) and each caller's queue
    time. A caller's start is max(arrival, first free server); only answered callers take one."""
    rng = random.Random(seed)
    free = [0.0] * n
    now, counts, queued = 0.0, [0, 0, 0], []
    for _ in range(callers):
        now += rng.expovariate(a / aht)
        patience_drawn = rng.expovariate(1 / patience)
        handle = rng.expovariate(1 / aht)
        start = max(now, free[0])
        wait = start - now
        if wait < min(patience_drawn, limit):
            heapq.heapreplace(free, start + handle)
            counts[0] += 1
            queued.append(wait)
        elif patience_drawn < limit:
            counts[1] += 1
            queued.append(patience_drawn)
        else:
            counts[2] += 1
            queued.append(limit)
    return counts, queued


@pytest.mark.parametrize(("n", "a"), [(5, 6.5), (6, 6.5), (8, 6.5)])
def test_with_the_limit_it_matches_an_event_simulation(n, a):
    """120,000 callers of the weekday's busiest hour (90 calls an hour, 260 s): each share is
    a mean of correlated outcomes, so its standard error comes from 12 batches of 10,000."""
    aht, patience, limit = 260.0, 180.0, 120.0
    f = erlang.erlang_a(n, a, aht, patience, limit, limit)
    assert f.answered + f.abandoned + f.voicemail == pytest.approx(1.0, abs=1e-12)
    assert f.answered_within == f.answered  # nobody is answered after the limit
    # Little's law for the queue: callers give up at rate theta while queued
    assert f.abandoned == pytest.approx(f.mean_wait / patience, rel=1e-9)
    batches = [ideal_queue(n, a, aht, patience, limit, 10_000, seed) for seed in range(12)]
    for i, share in enumerate((f.answered, f.abandoned, f.voicemail)):
        means = [c[i] / 10_000 for c, _ in batches]
        mean = sum(means) / len(means)
        se = math.sqrt(sum((m - mean) ** 2 for m in means) / (len(means) - 1) / len(means))
        assert mean == pytest.approx(share, abs=4 * se + 1e-4), (i, mean, share, se)
    waits = [w for _, q in batches for w in q]
    assert sum(waits) / len(waits) == pytest.approx(f.mean_wait, rel=0.03)


def test_nobody_gives_up_but_the_limit_still_takes_callers_to_voicemail():
    f = erlang.erlang_a(5, 6.5, 260, None, 120, 120)  # overloaded, yet finite with the limit
    assert f.abandoned == pytest.approx(0.0, abs=1e-12) and f.voicemail > 0.1
    assert f.answered + f.voicemail == pytest.approx(1.0)
    assert erlang.erlang_a(5, 6.5, 260, None, 120, 20).answered_within < f.answered_within


def test_agents_for_a_is_the_fewest_meeting_every_target():
    a, aht = 6.5, 260.0
    n = erlang.agents_for_a(0.8, 120, a, aht, 180, 120)
    assert erlang.erlang_a(n, a, aht, 180, 120, 120).answered_within >= 0.8
    assert erlang.erlang_a(n - 1, a, aht, 180, 120, 120).answered_within < 0.8
    assert n < erlang.agents_for(0.8, 120, a, aht)  # Erlang C keeps every caller waiting
    strict = erlang.agents_for_a(0.8, 120, a, aht, 180, 120, max_abandoned=0.02)
    assert strict > n
    assert erlang.erlang_a(strict, a, aht, 180, 120, 120).abandoned <= 0.02
    assert erlang.agents_for_a(0.8, 120, 0, aht, 180, 120) == 0


def test_bad_arguments_are_refused():
    for args in ((0, 1, 100, None, None, 0), (2, 1, 0, None, None, 0),
                 (2, 1, 100, -5, None, 0), (2, 1, 100, None, 0, 0)):
        with pytest.raises(ValueError):
            erlang.erlang_a(*args)


def test_the_simulated_queue_matches_erlang_a_with_the_cut_off(redis_client):
    """The app's queue through the real webhooks (theory mode with the 2-minute limit kept and
    exponential patience: 6.5 Erlangs, AHT 260 s, patience 180 s, 6 advisors, 4 hours, ~360
    callers). Against the ideal queue fed with the same arrivals, handle times and patiences
    it may differ by whole-second waits, the push's delay and the hold document's up to 5 s
    past the limit: 3 points. Against Erlang A, three standard deviations of the share over
    4 hours of the ideal queue (40 runs): a run this short is a noisy estimate."""
    from conftest import ROOT, TEST_REDIS_URL

    from ivr.config import load_config
    from ivr.sim import theory
    from ivr.sim.simulate_cli import simulate_once

    a, aht, patience, limit, n = 6.5, 260.0, 180.0, 120, 6
    config = theory.theory_config(load_config(ROOT / "config.yaml"), limit=limit)
    hours = range(9, 13)
    out = simulate_once(config, TEST_REDIS_URL, theory.theory_profile(a, aht, patience),
                        {h: n for h in hours}, hours, seed=3, quiet=True, theory_mode=True)
    r = out.report
    assert 250 <= r.offered == len(out.arrivals) == len(out.patiences) <= 480
    assert r.abandoned > 0 and r.timed_out > 0
    simulated = (r.answered_within / r.offered, r.abandoned / r.offered,
                 r.timed_out / r.offered)
    ideal = theory.ideal_outcomes(out.arrivals, out.handles, out.patiences, n, limit)
    for got, same_draws in zip(simulated, ideal, strict=True):
        assert got == pytest.approx(same_draws, abs=0.03), (simulated, ideal)
    f = erlang.erlang_a(n, a, aht, patience, limit, limit)
    sd = theory.mmn_a_spread(n, a, aht, patience, limit, len(hours))
    assert simulated[0] == pytest.approx(f.answered_within, abs=3 * sd), (simulated, f, sd)
