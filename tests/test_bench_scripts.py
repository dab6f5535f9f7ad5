"""The benchmark scripts still run: each answers ``--help``, and the quick ones run through.

A bench is run by hand, rarely, so a change to the app can break one unnoticed
(``bench/round_trips.py`` once did: its journey expected a text offer the department no
longer makes with an advisor free). Their figures are never asserted here beyond what makes
the run meaningful; timings stay out of tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, TEST_REDIS_URL, real_clock_env

BENCH = ROOT / "bench"
SCRIPTS = sorted(p.name for p in BENCH.glob("*.py")
                 if not p.name.startswith("_") and "argparse" in p.read_text())


def run(*argv: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *argv], cwd=ROOT, env=real_clock_env(),
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_bench_answers_help(script):
    done = run(str(Path("bench") / script), "--help", timeout=60)
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout


def test_round_trips_runs_the_whole_journey(redis_client):
    """Every webhook of the journey answers 200, and none takes more than 2 round trips."""
    done = run("bench/round_trips.py", "--redis-url", TEST_REDIS_URL)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "warning:" not in done.stdout, done.stdout
    assert "; 0 over 2" in done.stdout, done.stdout[-2000:]


def test_sim_speed_repeats_a_day_and_counts_its_round_trips(redis_client):
    """``--repeat 2``: two lines for the same day, then the least, median and most; the round
    trips per request (``ivr.sim.link``) are the same in both runs, since they do not move
    with the machine's pace as CPU time does."""
    done = run("bench/sim_speed.py", "--redis-url", TEST_REDIS_URL, "--calls", "10",
               "--repeat", "2")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    lines = done.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("calls "))
    runs, summary = lines[header + 2:header + 4], lines[header + 4:header + 7]
    assert [line.split()[0] for line in summary] == ["least", "median", "most"]
    trips = {line.split()[-1] for line in runs}
    assert len(trips) == 1 and float(trips.pop()) > 1.0, runs
    assert len({line.split()[1] for line in runs}) == 1  # the same webhook requests
