"""Staffing models against the simulated day: Erlang C, Erlang A with the cut-off, `ivr plan`.

For 5, 6 and 8 advisors all day on the weekday profile (profiles/weekday.yaml, 9-17, the real
journey through the webhooks: menus, whisper, wrap-up, exponential patience, the 120 s limit
to voicemail), over ``--seeds`` simulated days each, prints: the simulated service level
(answered within 120 s / offered), shares hung up and taken to voicemail, the median wait of
answered callers and the advisor time per answered caller measured from the events (with its
set-up and wrap-up, as ``ivr plan`` measures them: what ``SIM_OVERHEAD_SECONDS`` should be);
beside them Erlang C's and Erlang A's service level for the day (each hour's figure weighted by its
calls), with the handle time `ivr simulate --agents-for` plans with (talk + set-up and
wrap-up) and with the one measured in the simulation. Then the advisors per hour `ivr plan`
recommends for the same profile at 80% and 90% (Erlang A and Erlang C), and a simulated day
staffed by each Erlang A plan. Prints figures; asserts nothing.

    .venv/bin/python bench/staffing.py --redis-url redis://127.0.0.1:6379/12

The Redis database is flushed before each simulated day and after; database 0 is refused.
About 15 s per simulated day on a 2-core machine (fifteen days in all: ~4 minutes).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import _common as c
import redis

from ivr import erlang, events
from ivr.cli_plan import build
from ivr.config import load_config
from ivr.sim.profile import Profile
from ivr.sim.simulate_cli import simulate_once
from ivr.sim.theory import SIM_OVERHEAD_SECONDS, handle_seconds
from ivr.staffing.measure import handling
from ivr.staffing.recommend import SLOT_SECONDS, by_hour

PROFILE = c.ROOT / "profiles" / "weekday.yaml"
HOURS = range(9, 17)


def day_level(profile: Profile, agents: int, aht: float,
              limit: int) -> tuple[float, float, float, float]:
    """Erlang C's and Erlang A's service level for the day, and Erlang A's shares hanging up
    and reaching voicemail: each hour's figure weighted by its calls."""
    calls = {h: profile.calls_per_hour.get(h, 0.0) for h in HOURS}
    total = sum(calls.values())
    c_sl = a_sl = a_ab = a_vm = 0.0
    for n in calls.values():
        load = erlang.erlangs(n, aht)
        c_sl += n * erlang.service_level(agents, load, limit, aht)
        a = erlang.erlang_a(agents, load, aht, profile.patience_seconds, limit, limit)
        a_sl += n * a.answered_within
        a_ab += n * a.abandoned
        a_vm += n * a.voicemail
    return c_sl / total, a_sl / total, a_ab / total, a_vm / total


def simulated(config, url: str, profile: Profile, staffing: dict[int, int],
              seeds: list[int]) -> dict[str, list[float]]:
    runs: dict[str, list[float]] = {k: [] for k in ("sl", "ab", "vm", "median", "handle",
                                                    "talk", "calls", "wall", "setup",
                                                    "wrap")}
    for seed in seeds:
        started = time.monotonic()
        out = simulate_once(config, url, profile, staffing, HOURS, seed, quiet=True)
        r = out.report
        split = handling(events.read_all(redis.Redis.from_url(url)))  # as `ivr plan` measures
        runs["setup"].append(split.setup or 0.0)
        runs["wrap"].append(split.wrap_up or 0.0)
        runs["sl"].append(r.service_level or 0.0)
        runs["ab"].append(r.abandoned / r.offered)
        runs["vm"].append((r.timed_out + r.full + r.errors) / r.offered)
        runs["median"].append(statistics.median(out.waits) if out.waits else 0.0)
        runs["handle"].append(out.holding or 0.0)
        runs["talk"].append(statistics.mean(out.handles))
        runs["calls"].append(r.offered)
        runs["wall"].append(time.monotonic() - started)
    return runs


def pct(values: list[float]) -> str:
    mean = 100 * statistics.fmean(values)
    spread = (f" ({100 * min(values):.1f}-{100 * max(values):.1f})" if len(values) > 1 else "")
    return f"{mean:5.1f}%{spread}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--agents", default="5,6,8")
    p.add_argument("--seeds", default="1,2,3", help="simulated days per setting (seeds)")
    c.redis_arg(p)
    args = p.parse_args()
    c.exit_on_sigterm()
    c.bench_redis(args.redis_url)
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"machine: {platform.node()} {platform.machine()} nproc={os.cpu_count()} "
          f"python {platform.python_version()} load {os.getloadavg()[0]:.2f}")
    config = load_config(c.ROOT / "config.yaml")
    limit = config.queue.voicemail_after
    profile = Profile.load(PROFILE, departments=config.departments)
    planned = handle_seconds(profile)
    print(f"profile {PROFILE.name}: {sum(profile.calls_per_hour.values()):g} calls 9-17, talk "
          f"{profile.handle_seconds:g} s, patience {profile.patience_seconds:g} s; Erlang "
          f"models with handle time {planned:g} s (talk + set-up and wrap-up, "
          f"SIM_OVERHEAD_SECONDS {SIM_OVERHEAD_SECONDS:g} s), limit {limit} s; "
          f"{len(seeds)} simulated day(s) per setting (mean, and range)")
    print("advisors | simulated SL | hung up | voicemail | median wait | handle measured "
          "| Erlang C SL | Erlang A SL, hung up, voicemail | (Erlang C / A SL with the measured "
          "handle time)")
    for n in (int(x) for x in args.agents.split(",")):
        runs = simulated(config, args.redis_url, profile, {h: n for h in HOURS}, seeds)
        measured = statistics.fmean(runs["handle"])
        c_sl, a_sl, a_ab, a_vm = day_level(profile, n, planned, limit)
        c_m, a_m, _, _ = day_level(profile, n, measured, limit)
        print(f"{n:8d} | {pct(runs['sl'])} | {pct(runs['ab'])} | {pct(runs['vm'])} | "
              f"{statistics.fmean(runs['median']):5.1f} s | {measured:5.1f} s (talk drawn "
              f"{statistics.fmean(runs['talk']):.0f}) | {100 * c_sl:5.1f}% | {100 * a_sl:5.1f}%, "
              f"{100 * a_ab:.1f}%, {100 * a_vm:.1f}% | {100 * c_m:.1f}% / {100 * a_m:.1f}%  "
              f"[{statistics.fmean(runs['calls']):.0f} "
              f"callers, {statistics.fmean(runs['wall']):.0f} s wall per day]", flush=True)
        setup, wrap = statistics.fmean(runs["setup"]), statistics.fmean(runs["wrap"])
        over = [s + w for s, w in zip(runs["setup"], runs["wrap"], strict=True)]
        print(f"         | overhead from the events (ivr.staffing.measure.handling): set-up "
              f"{setup:.1f} s + wrap-up {wrap:.1f} s = {setup + wrap:.1f} s "
              f"({min(over):.1f}-{max(over):.1f})", flush=True)
    for target in ("0.8", "0.9"):
        ns = argparse.Namespace(weeks=4, until=None, profile=str(PROFILE), target=target,
                                max_abandoned=None, max_voicemail=None, output=None,
                                simulate=False, redis_url=None, seed=1)
        plan = build(ns, config)
        day = plan.days[0]
        a_hours = by_hour(day.plans)
        c_hours: dict[int, int] = {}
        for s in day.plans:
            hour = s.slot * SLOT_SECONDS // 3600
            c_hours[hour] = max(c_hours.get(hour, 0), s.erlang_c)
        runs = simulated(config, args.redis_url, profile, {h: a_hours.get(h, 0) for h in HOURS},
                         seeds)
        print(f"ivr plan --profile {PROFILE.relative_to(c.ROOT)} --target {target}: advisors "
              "per hour")
        print("  hour      " + " ".join(f"{h:02d}:00" for h in HOURS))
        print("  Erlang A  " + " ".join(f"{a_hours.get(h, 0):5d}" for h in HOURS)
              + f"   ({sum(a_hours.values())} advisor-hours)")
        print("  Erlang C  " + " ".join(f"{c_hours.get(h, 0):5d}" for h in HOURS)
              + f"   ({sum(c_hours.values())} advisor-hours)")
        print(f"  simulated with Erlang A's staffing: SL {pct(runs['sl'])}, hung up "
              f"{pct(runs['ab'])}, voicemail {pct(runs['vm'])}", flush=True)
    c.bench_redis(args.redis_url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
