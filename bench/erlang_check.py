"""Simulated vs Erlang C, side by side: 10 Erlangs offered to 11, 12 and 14 advisors.

Runs the real webhooks in-process in virtual time (``ivr.sim.simulate`` in theory mode: the
2-minute limit and the whisper off, infinite patience, one department, each advisor's whole
handle time exponential with mean AHT, idle advisors offered each caller at once) and prints,
for each setting and for 20, 60 and 120 s: the share answered within the limit from the
simulation (the report's figures), from Erlang C, their difference; the same share for an
ideal FIFO M/M/N queue fed with the same arrivals and handle times, the app's difference from
it, and the simulated share with that run's sampling error removed (see ``ivr.sim.theory``);
and the standard deviation a run of this length has by chance alone (ideal queue, 40 runs);
then the ideal queue alone over ``--ideal-days`` continuous days against Erlang C, which checks
the formula and the ideal queue without the app (a day is far too short for that at high
load: ~7 points of spread at 11 advisors). Prints figures; asserts nothing.

    .venv/bin/python bench/erlang_check.py --hours 24 --redis-url redis://127.0.0.1:6379/13

The Redis database (``--redis-url``, default ``BENCH_REDIS_URL`` or db 8) is flushed before
each setting and after; database 0 is refused. About 4 minutes per setting for 24 hours on a
2-core machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import _common as c

from ivr import erlang
from ivr.config import load_config
from ivr.sim import theory
from ivr.sim.simulate_cli import simulate_once


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--erlangs", type=float, default=10.0)
    p.add_argument("--aht", type=float, default=180.0, help="mean handle time, seconds")
    p.add_argument("--agents", default="11,12,14")
    p.add_argument("--hours", type=int, default=12, choices=range(1, 25), metavar="1..24",
                   help="simulated hours per setting (one day, lines open all day)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--ideal-days", type=int, default=100,
                   help="days of one continuous ideal M/M/N queue (no app) checked against "
                        "Erlang C on its own (default %(default)s; about a second)")
    c.redis_arg(p)
    args = p.parse_args()
    c.bench_redis(args.redis_url)  # refuses database 0; each setting flushes it again
    print(f"machine: {platform.node()} {platform.machine()} nproc={os.cpu_count()} "
          f"python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="erlang-check-") as work:
        config = theory.theory_config(load_config(c.open_all_day_config(Path(work))))
    profile = theory.theory_profile(args.erlangs, args.aht)
    hours = range(0, args.hours)
    for n in (int(x) for x in args.agents.split(",")):
        started = time.monotonic()
        out = simulate_once(config, args.redis_url, profile, {h: n for h in hours}, hours,
                            args.seed, quiet=True, theory_mode=True)
        rows = theory.compare(out, n, args.erlangs, args.aht)
        sd = theory.sampling_sd(n, args.erlangs, args.aht, args.hours, seed=args.seed)
        mean_handle = sum(out.handles) / len(out.handles) if out.handles else 0.0
        title = (f"{args.erlangs:g} Erlangs, {n} advisors, AHT {args.aht:g} s, {args.hours} h: "
                 f"{len(out.waits)} callers answered of {out.calls}; holding time per caller "
                 f"{out.holding or 0:.1f} s (drawn: {mean_handle:.1f} s); "
                 f"{time.monotonic() - started:.0f} s wall; sampling SD within 20 s at this "
                 f"length {100 * sd:.1f} points")
        print("\n".join(theory.table(rows, title)), flush=True)
        calls, shares = theory.long_run(n, args.erlangs, args.aht, args.ideal_days,
                                        seed=args.seed)
        theirs = [erlang.service_level(n, args.erlangs, t, args.aht) for t in theory.TIMES]
        print(f"  ideal queue alone, {args.ideal_days} days ({calls} callers, continuous "
              "waits) vs Erlang C: " + ", ".join(
                  f"{t} s {100 * s:.1f}% ({100 * (s - e):+.1f})"
                  for t, s, e in zip(theory.TIMES, shares, theirs, strict=True)), flush=True)
    c.bench_redis(args.redis_url)  # flushed after, as every bench leaves it
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
