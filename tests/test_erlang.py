"""Erlang C against an independent computation and against published textbook figures.

``ivr.erlang`` computes Erlang C through the Erlang B recursion; the expected values here come
from the direct definition (the sum of A^k/k! terms, with exact fractions), so a slip in either
method shows up as a mismatch rather than agreeing with itself.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from ivr import erlang


def direct_erlang_c(n: int, a: int) -> float:
    """C(N, A) = (A^N/N! · N/(N-A)) / (sum_{k<N} A^k/k! + A^N/N! · N/(N-A)), exactly."""
    top = Fraction(a ** n, math.factorial(n)) * Fraction(n, n - a)
    bottom = sum(Fraction(a ** k, math.factorial(k)) for k in range(n)) + top
    return float(top / bottom)


def direct_service_level(n: int, a: int, t: float, aht: float) -> float:
    return 1 - direct_erlang_c(n, a) * math.exp(-(n - a) * t / aht)


@pytest.mark.parametrize("n", [11, 12, 13, 14, 20])
@pytest.mark.parametrize("t", [0, 20, 60, 120])
def test_ten_erlangs_at_three_minutes_matches_the_direct_sum(n, t):
    assert erlang.erlang_c(n, 10) == pytest.approx(direct_erlang_c(n, 10), rel=1e-12)
    assert erlang.service_level(n, 10, t, 180) == pytest.approx(
        direct_service_level(n, 10, t, 180), abs=1e-12)


@pytest.mark.parametrize(("n", "a"), [(1, 0), (2, 1), (3, 2), (5, 4), (30, 25), (105, 100)])
def test_other_loads_match_the_direct_sum(n, a):
    expected = 0.0 if a == 0 else direct_erlang_c(n, a)
    assert erlang.erlang_c(n, a) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_published_values_for_ten_erlangs():
    """Call Centre Helper's worked example ("Erlang C formula - made simple"): 100 calls in
    30 minutes at 3 minutes each is 10 Erlangs; 11 agents give P(wait) = 68.21% and 39% within
    20 s; 14 agents give about 89% within 20 s with an average speed of answer near 8 s."""
    assert erlang.erlang_c(11, 10) == pytest.approx(0.6821, abs=5e-5)
    assert erlang.service_level(11, 10, 20, 180) == pytest.approx(0.390, abs=5e-4)
    assert erlang.service_level(14, 10, 20, 180) == pytest.approx(0.888, abs=1e-3)
    assert erlang.mean_wait(14, 10, 180) == pytest.approx(7.8, abs=0.05)
    assert erlang.agents_for(0.8, 20, 10, 180) == 14


def test_single_server_reduces_to_mm1():
    """M/M/1: P(wait) = rho, P(W <= t) = 1 - rho·exp(-(1 - rho)·t/s)."""
    assert erlang.erlang_c(1, 0.7) == pytest.approx(0.7)
    assert erlang.service_level(1, 0.7, 60, 100) == pytest.approx(1 - 0.7 * math.exp(-0.3 * 0.6))


def test_overload_and_edges():
    assert erlang.erlang_c(10, 10) == 1.0
    assert erlang.service_level(9, 10, 120, 180) == 0.0
    assert erlang.mean_wait(10, 10, 180) == math.inf
    assert erlang.erlang_b(0, 5) == 1.0
    assert erlang.agents_for(0.8, 120, 0, 180) == 0
    with pytest.raises(ValueError):
        erlang.agents_for(1.0, 20, 10, 180)


def test_agents_for_is_the_fewest_meeting_the_target():
    for a in (0.5, 2, 10, 37.5):
        n = erlang.agents_for(0.8, 120, a, 300)
        assert erlang.service_level(n, a, 120, 300) >= 0.8
        assert n - 1 <= a or erlang.service_level(n - 1, a, 120, 300) < 0.8
    assert erlang.erlangs(200, 180) == 10


@pytest.mark.parametrize("agents", [11, 12, 14])
def test_an_ideal_fifo_queue_matches_erlang_c_over_a_long_run(agents):
    """The ideal M/M/N queue the simulator is compared with (ivr.sim.theory.fifo_waits) agrees
    with this module's Erlang C within 1 point at 20/60/120 s over 100 continuous days
    (~480,000 callers; the spread of such a run is ~0.7 points at 11 advisors)."""
    from ivr.sim import theory

    calls, shares = theory.long_run(agents, 10.0, 180.0, days=100, seed=1)
    assert calls > 450_000
    for t, share in zip(theory.TIMES, shares, strict=True):
        assert share == pytest.approx(erlang.service_level(agents, 10.0, t, 180.0), abs=0.01)
