"""Simulation speed: a day of calls through the real webhooks, in-process, per second of wall time.

Runs ``ivr.sim.simulate.run`` (the engine behind ``ivr simulate``): Poisson callers over the
opening hours (``--calls``, default 3,000, spread by a morning-peak shape), advisors on the
agent line staffed hour by hour by Erlang C (``ivr.erlang.agents_for``), virtual time, every
webhook a signed request to the app (called through WSGI) on Redis. Prints calls, webhook
requests, wall and CPU seconds, calls/s and requests/s, CPU per request split between the app
(its webhooks and RQ jobs, as ``ivr.sim.meter`` counts them) and the stand-in (Twilio's side:
the engine, the callers and advisors, TwiML checks, signing, the REST stand-in), and the day's
headline figures to show the simulated day was a sensible one.

The app's own Redis database (``--redis-url``) is flushed before and after; database 0 is
refused. This takes minutes: ``bench/run_all.sh --skip-sim`` leaves it out.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

import _common as c

# Share of the day's calls in each opening hour (a Tuesday, 09:00-17:00): a morning peak.
SHAPE = {9: 15, 10: 14, 11: 13, 12: 12, 13: 11, 14: 12, 15: 12, 16: 11}
HOURS = range(min(SHAPE), max(SHAPE) + 1)
MIX = {"2": 0.5, "3": 0.2, "4": 0.1, "5": 0.1, "0": 0.1}  # menu key -> share of callers
AGENT_LINE_SECONDS = 20.0  # whisper, connection and wrap-up prompt per answered call


def profile_for(calls: int, handle_seconds: float):
    """A profile whose hourly arrivals add up to ``calls`` over the opening hours."""
    from ivr.sim.simulate import Profile

    total = sum(SHAPE.values())
    per_hour = {h: calls * w / total for h, w in SHAPE.items()}
    return Profile(per_hour, dict(MIX), handle_seconds, 180.0)


def staffing(profile, target: float, limit: float) -> dict[int, int]:
    """Erlang C's fewest advisors per hour for ``target`` answered within ``limit`` seconds,
    counting the agent line's own seconds per call in the handle time."""
    from ivr import erlang

    aht = profile.handle_seconds + AGENT_LINE_SECONDS
    return {h: erlang.agents_for(target, limit, erlang.erlangs(rate, aht), aht)
            for h, rate in profile.calls_per_hour.items()}


def simulate(config, url: str, profile, agents: dict[int, int], seed: int, progress: bool,
             cprofile: str | None = None, sample: str | None = None):
    """One simulated day on a fresh sim app; returns (outcome, webhook requests, wall s,
    CPU s of this process, CPU s of it in the app, Redis round trips of the app and its jobs,
    counted by ``ivr.sim.link``). With ``cprofile``, the run is profiled
    (CPU time) and a text summary (top functions by own and by cumulative time) written there."""
    from ivr import twilio_rest
    from ivr.sim.link import attach
    from ivr.sim.meter import METER
    from ivr.sim.simulate import run, stderr_progress
    from ivr.sim.simulate_cli import sim_app, sim_credentials

    requests = 0

    def count() -> None:
        nonlocal requests
        requests += 1

    with tempfile.TemporaryDirectory(prefix="ivr-bench-sim-") as spool, sim_credentials():
        app = sim_app(config, url, spool)
        app.before_request(count)
        profiler = None
        sampler = Sampler() if sample else None
        if cprofile:
            import cProfile

            profiler = cProfile.Profile(time.process_time)  # CPU, not wall: a shared machine
        try:
            METER.reset()
            started, cpu = time.perf_counter(), time.process_time()
            if profiler is not None:
                profiler.enable()
            if sampler is not None:
                sampler.start()
            out = run(app, profile, agents_per_hour=agents, hours=HOURS, seed=seed,
                      progress=stderr_progress if progress else None)
            if profiler is not None:
                profiler.disable()
            if sampler is not None:
                sampler.stop()
            wall = time.perf_counter() - started
            cpu = time.process_time() - cpu
            app_cpu = METER.app_seconds()
            trips = attach(app.extensions["ivr"].redis).sends  # (the link the job pump made)
        finally:
            twilio_rest.use_http_client(None)
    if profiler is not None:
        write_profile(profiler, cprofile, f"{out.calls} calls, {requests} webhook requests, "
                      f"{wall:.1f} s wall, {cpu:.1f} s CPU (under the profiler)")
    if sampler is not None:
        sampler.write(sample, f"{out.calls} calls, {requests} webhook requests, {wall:.1f} s "
                      f"wall, {cpu:.1f} s CPU")
    return out, requests, wall, cpu, app_cpu, trips


class Sampler:
    """A statistical CPU profiler: every ``interval`` s of this process's CPU time (SIGPROF),
    the running stack is noted. Unlike cProfile it adds no cost per function call, so many small
    calls (redis-py's argument encoding, werkzeug's form parsing) are not inflated against
    few large ones."""

    def __init__(self, interval: float = 0.001) -> None:
        from collections import Counter

        self.interval = interval
        self.own: Counter[str] = Counter()
        self.total: Counter[str] = Counter()
        self.by_file: Counter[str] = Counter()
        self.callers: Counter[str] = Counter()  # own time by function and its caller
        self.samples = 0

    def _where(self, frame) -> str:
        code = frame.f_code
        return f"{code.co_filename.split('site-packages/')[-1]}:{code.co_name}"

    def _sample(self, signum, frame) -> None:
        self.samples += 1
        seen: set[str] = set()
        own = True
        while frame is not None:
            where = self._where(frame)
            if own:
                self.own[where] += 1
                parent = frame.f_back
                self.callers[f"{where} <- {self._where(parent) if parent else '-'}"] += 1
                self.by_file[frame.f_code.co_filename.split("site-packages/")[-1]] += 1
                own = False
            if where not in seen:
                seen.add(where)
                self.total[where] += 1
            frame = frame.f_back

    def start(self) -> None:
        import signal

        signal.signal(signal.SIGPROF, self._sample)
        signal.setitimer(signal.ITIMER_PROF, self.interval, self.interval)

    def stop(self) -> None:
        import signal

        signal.setitimer(signal.ITIMER_PROF, 0, 0)

    def write(self, path: str, headline: str) -> None:
        lines = [f"# bench/sim_speed.py --sample: {headline}",
                 f"# {self.samples} samples, one per {1000 * self.interval:.1f} ms of CPU", ""]
        for title, counter in (("own time by function", self.own),
                               ("own time by file", self.by_file),
                               ("own time by function and caller", self.callers),
                               ("cumulative time by function", self.total)):
            lines.append(f"## {title}")
            lines += [f"{100 * n / self.samples:6.1f}%  {where}"
                      for where, n in counter.most_common(150)]
            lines.append("")
        with open(path, "w") as fh:
            fh.write("\n".join(lines))
        print(f"samples: {path}")


def write_profile(profiler, path: str, headline: str) -> None:
    """The profile's top functions by own time and by cumulative time, as text."""
    import io
    import pstats

    buf = io.StringIO()
    buf.write(f"# bench/sim_speed.py --cprofile: {headline}\n\n")
    stats = pstats.Stats(profiler, stream=buf).strip_dirs()
    buf.write("## by own time (tottime)\n")
    stats.sort_stats("tottime").print_stats(45)
    buf.write("## by cumulative time\n")
    stats.sort_stats("cumulative").print_stats(70)
    with open(path, "w") as fh:
        fh.write(buf.getvalue())
    print(f"profile: {path}")


# The table's columns and how each figure is written.
COLUMNS = {"calls": "{:.0f}", "webhook requests": "{:.0f}", "wall s": "{:.1f}",
           "CPU s": "{:.1f}", "calls/s": "{:.1f}", "requests/s": "{:.0f}",
           "CPU ms/request": "{:.2f}", "app ms/request": "{:.2f}",
           "stand-in ms/request": "{:.2f}", "round trips/request": "{:.2f}"}


def figures(run: tuple) -> dict[str, float]:
    """One run's figures, by column (``run``: what ``simulate`` returns)."""
    out, requests, wall, cpu, app_cpu, trips = run
    return {"calls": out.calls, "webhook requests": requests, "wall s": wall, "CPU s": cpu,
            "calls/s": out.calls / wall, "requests/s": requests / wall,
            "CPU ms/request": 1000 * cpu / requests,
            "app ms/request": 1000 * app_cpu / requests,
            "stand-in ms/request": 1000 * (cpu - app_cpu) / requests,
            "round trips/request": trips / requests}


def rows(runs: list[tuple]) -> list[list[str]]:
    """A line per run; with more than one, the least, median and most of each figure after
    them (each column on its own: the least CPU and the least wall may come from different
    runs), named in the first column."""
    import statistics

    each = [figures(run) for run in runs]
    lines = [[fmt.format(f[name]) for name, fmt in COLUMNS.items()] for f in each]
    if len(each) > 1:
        for label, pick in (("least", min), ("median", statistics.median), ("most", max)):
            picked = [fmt.format(pick(f[name] for f in each)) for name, fmt in COLUMNS.items()]
            lines.append([label, *picked[1:]])
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    c.redis_arg(parser)
    parser.add_argument("--calls", type=int, default=3000,
                        help="calls over the day, on average (default %(default)s)")
    parser.add_argument("--handle-seconds", type=float, default=240.0,
                        help="mean talk time (default %(default)s)")
    parser.add_argument("--target", type=float, default=0.8,
                        help="share answered within the queue limit the staffing aims at")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="run the same day N times and add the least, median and most "
                             "CPU per request: on a shared machine others' work only ever "
                             "adds CPU time, so the least is the code's own cost "
                             "(default %(default)s)")
    parser.add_argument("--progress", action="store_true", help="a line per simulated 15 min")
    parser.add_argument("--cprofile", metavar="FILE",
                        help="profile the run (cProfile) and write a text summary to FILE")
    parser.add_argument("--sample", metavar="FILE",
                        help="sample the run's stacks every 1 ms of CPU (no per-call cost, "
                             "unlike --cprofile) and write the shares to FILE")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat: give 1 or more runs")
    if args.repeat > 1 and (args.cprofile or args.sample):
        parser.error("--repeat: profile one run at a time (--cprofile and --sample write "
                     "one file)")
    c.exit_on_sigterm()

    from ivr.config import load_config

    r = c.bench_redis(args.redis_url)
    try:
        config = load_config(c.ROOT / "config.yaml")
        profile = profile_for(args.calls, args.handle_seconds)
        agents = staffing(profile, args.target, config.queue.voicemail_after)
        print(c.machine(r))
        print(f"redis: {args.redis_url}")
        print(f"day: {sum(profile.calls_per_hour.values()):.0f} calls expected over "
              f"{HOURS.start:02d}:00-{HOURS.stop:02d}:00, "
              f"mean talk {args.handle_seconds:.0f} s")
        print(f"advisors per hour (Erlang C, {100 * args.target:.0f}% within "
              f"{config.queue.voicemail_after} s): "
              + " ".join(f"{h:02d}h={n}" for h, n in sorted(agents.items())))
        runs = []
        for _ in range(args.repeat):
            runs.append(simulate(config, args.redis_url, profile, agents, args.seed,
                                 args.progress, args.cprofile, args.sample))
    finally:
        r.flushdb()
    out = runs[0][0]
    report = out.report
    sl = "-" if report.service_level is None else f"{100 * report.service_level:.1f}%"
    print(f"simulated: offered to a queue {report.offered}, answered {report.answered}, "
          f"service level {sl} (within {report.limit} s)")
    print()
    print(c.table(list(COLUMNS), rows(runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
