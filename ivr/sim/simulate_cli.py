"""``ivr simulate``: the command, and the throw-away app a simulation runs against.

A simulation writes agents, queues and call events into Redis, so it gets a database of its
own (``--redis-url`` or ``IVR_SIM_REDIS_URL``), flushed before it starts: it must never share
the live service's database, and database 0 is refused.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the command's parser stays light: the simulator loads when it runs
    from ivr.sim.simulate import Outcome, Profile

MARK = "ivr-sim:database"  # written by every simulation: only such a database is flushed
SIM_TOKEN = "sim-auth-token-" + "0" * 17
SIM_SID = "AC" + "5" * 32


def sim_app(config: Any, redis_url: str, spool_dir: str | Path) -> Any:
    """The app on a flushed ``redis_url``, its REST calls served by the Twilio stand-in."""
    import redis

    from ivr import twilio_rest
    from ivr.app import create_app
    from ivr.sim.rest import TwilioRestStandIn

    client = redis.Redis.from_url(redis_url)
    if int(client.connection_pool.connection_kwargs.get("db", 0) or 0) == 0:
        raise SystemExit("error: --redis-url: refusing to simulate in Redis database 0 "
                         "(flushed first); give another, e.g. redis://127.0.0.1:6379/11")
    problem = not_ours(client)
    if problem:
        raise SystemExit(f"error: --redis-url: {problem}")
    client.flushdb()
    client.set(MARK, "ivr simulate")  # the next simulation may flush this database again
    stand_in = TwilioRestStandIn()
    twilio_rest.use_http_client(lambda: stand_in)
    app = create_app({"config": config, "REDIS_URL": redis_url, "TWILIO_AUTH_TOKEN": SIM_TOKEN,
                      "TWILIO_ACCOUNT_SID": SIM_SID, "PUBLIC_BASE_URL": "",
                      "IVR_SPOOL_DIR": str(spool_dir), "IVR_INSECURE_SKIP_SIGNATURE": False})
    app.extensions["ivr_sim_rest"] = stand_in  # the simulation serves calls.update from it
    return app


def not_ours(client: Any) -> str | None:
    """Why this database must not be flushed for a simulation (None when it is empty or a
    simulation wrote it): a database shared with the service, or anything else, is refused."""
    keys = client.dbsize()
    if keys == 0 or client.exists(MARK):
        return None
    return (f"the database holds {keys:,} key(s) no simulation wrote, and a simulation "
            "flushes its database first: give an empty database of its own, e.g. "
            "IVR_SIM_REDIS_URL=redis://127.0.0.1:6379/9")


def html_problem(path: str | None) -> str | None:
    """Why ``--html`` cannot be written (its folder is made when missing), or None."""
    if not path:
        return None
    target = Path(path)
    if target.is_dir() or path.endswith(("/", os.sep)):
        return f"--html {path}: a folder; give the report's file name, e.g. {target / 'day.html'}"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"--html {path}: cannot make its folder ({exc.strerror or exc})"
    if not os.access(target.parent, os.W_OK):
        return f"--html {path}: its folder {target.parent} is not writable"
    return None


@contextmanager
def sim_credentials() -> Iterator[None]:
    """The simulation's account for the app's REST calls (``ivr.twilio_rest`` reads them from
    the environment), restored afterwards; the stand-in answers, never Twilio."""
    names = {"TWILIO_ACCOUNT_SID": SIM_SID, "TWILIO_AUTH_TOKEN": SIM_TOKEN,
             "TWILIO_API_BASE": None}
    saved = {name: os.environ.get(name) for name in names}
    try:
        for name, value in names.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def parse_hours(text: str) -> range:
    first, _, last = text.partition("-")
    hours = range(int(first), int(last or int(first) + 1))
    if not hours or hours.start < 0 or hours.stop > 24:
        raise argparse.ArgumentTypeError(f"hours must look like 9-17, got {text!r}")
    return hours


def simulate_once(config: Any, redis_url: str, profile: Profile,
                  staffing: dict[int, int] | None, hours: range, seed: int, quiet: bool,
                  theory_mode: bool = False,
                  progress: Callable[[str], None] | None = None) -> Outcome:
    """One simulation on a fresh sim app; ``staffing`` None: the profile's shifts. Progress
    goes to ``progress`` if given, else to stderr unless ``quiet``."""
    from ivr import twilio_rest
    from ivr.sim.simulate import run, stderr_progress

    with tempfile.TemporaryDirectory(prefix="ivr-sim-") as spool, sim_credentials():
        app = sim_app(config, redis_url, spool)
        try:
            return run(app, profile, agents_per_hour=staffing, hours=hours, seed=seed,
                       theory=theory_mode,
                       progress=progress or (None if quiet else stderr_progress))
        finally:
            twilio_rest.use_http_client(None)  # the stand-in served this simulation only


def _without_virtual_time() -> str:
    """Why the simulation cannot run here ("" when it can): it needs time-machine, a tool
    installed with the dev lock or the ``[tools]`` extra, never on the server."""
    try:
        import time_machine  # noqa: F401
    except ImportError:
        return ("ivr simulate needs the time-machine package (virtual time), not part of the "
                "runtime install: pip install 'colchester-ivr[tools]' or use the dev lock")
    return ""


def command(args: argparse.Namespace) -> int:
    """Run ``ivr simulate`` (see ``add_parser``)."""
    from ivr.config import config_path, load_config
    from ivr.sim import theory
    from ivr.sim.simulate import Profile, ProfileError, figures

    problem = (staffing_problem(args.agents, args.agents_for) or html_problem(args.html)
               or _without_virtual_time())
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    config = load_config(config_path())
    url = args.redis_url or os.environ.get("IVR_SIM_REDIS_URL")
    if not url:
        print("error: give --redis-url (or IVR_SIM_REDIS_URL): a Redis database the "
              "simulation may flush", file=sys.stderr)
        return 2
    try:
        profile = Profile.load(args.profile, departments=config.departments)
    except ProfileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    hours = args.hours
    staffing: dict[int, int] | None
    if args.agents_for is not None:
        limit = config.queue.voicemail_after
        staffing = theory.agents_per_hour(profile, hours, args.agents_for, limit, args.model)
        aht = theory.handle_seconds(profile)
        print(f"{theory.model_name(args.model, profile, limit)}: fewest advisors per hour for "
              f"{100 * args.agents_for:.0f}% answered within {limit} s, handle time "
              f"{aht:g} s (talk {profile.handle_seconds:g} s + set-up and wrap-up "
              f"{aht - profile.handle_seconds:g} s):")
        for h in hours:
            print(f"  {h:02d}:00  {profile.calls_per_hour.get(h, 0):6.1f} calls  "
                  f"{staffing[h]:3d} advisors")
        print("Simulated check of that staffing:")
    elif args.agents is not None:
        staffing = {h: args.agents for h in hours}
    elif profile.shifts:
        staffing = None
        print(f"Shifts from {args.profile}:")
        for line in shift_plan(profile):
            print(line)
    else:
        print("error: give --agents N or --agents-for SHARE, or shifts in the profile",
              file=sys.stderr)
        return 2
    if staffing is not None and profile.shifts:
        print(f"(--agents/--agents-for given: the {len(profile.shifts)} shifts in the profile "
              "are not used)")
    import redis

    try:
        out = simulate_once(config, url, profile, staffing, hours, args.seed, args.quiet)
    except redis.ConnectionError as exc:
        print(f"error: --redis-url: cannot reach Redis ({exc})", file=sys.stderr)
        return 1
    if args.agents_for is not None:
        out.erlang_c = staffing  # by hour, beside the advisors the simulation had
        out.model = "Erlang A" if args.model == "erlang-a" else "Erlang C"
    for line in figures(out):
        print(line)
    if args.agents_for is not None:
        met = (out.report.service_level or 0.0) >= args.agents_for
        ignores = ("menus and the hourly change of load" if args.model == "erlang-a" else
                   "callers who hang up, the limit to voicemail and menus")
        print(f"simulated service level {'meets' if met else 'misses'} the target "
              f"{100 * args.agents_for:.0f}% ({out.model} ignores {ignores}); advisor time "
              f"per answered caller in this simulation: "
              f"{'-' if out.holding is None else f'{out.holding:.0f} s'} (planned with "
              f"{theory.handle_seconds(profile):g} s)")
    if args.html:
        from ivr.report.html import render_html

        names = {d: dept.name for d, dept in config.departments.items()}
        Path(args.html).write_text(render_html(out.report, names, config.hours.opening_hours().tz))
        print(f"HTML report: {args.html}")
    return 0


MAX_AGENTS = 1000  # more advisors than the council has; a typo, and hours of simulation


def staffing_problem(agents: int | None, agents_for: float | None) -> str | None:
    """What is wrong with ``--agents`` and ``--agents-for`` together, or None."""
    if agents is not None and agents_for is not None:
        return ("--agents-for cannot be given with --agents: choose the advisors (--agents) "
                "or the share to staff for (--agents-for)")
    if agents is not None and not 0 <= agents <= MAX_AGENTS:
        return f"--agents takes 0 to {MAX_AGENTS} advisors (got {agents})"
    if agents_for is not None and not 0 < agents_for < 1:
        return f"--agents-for takes a share above 0 and below 1, e.g. 0.8 (got {agents_for:g})"
    return None


def shift_plan(profile: Profile) -> list[str]:
    """The rota as read from the profile: one line per shift, with its breaks."""
    from ivr.sim.profile import clock

    lines = []
    for shift in profile.shifts:
        depts = ", ".join(shift.departments) if shift.departments else "all departments"
        rests = "; ".join(
            f"{b.minutes:g} min from {clock(b.at)}"
            + (f", each next advisor {b.stagger_minutes:g} min later" if b.stagger_minutes
               else "") for b in shift.breaks) or "no breaks"
        people = f"{shift.advisors} advisor{'s' if shift.advisors != 1 else ''}"
        lines.append(f"  {shift.label}: {people} ({depts}); {rests}")
    return lines


def add_parser(sub: Any) -> None:
    p = sub.add_parser("simulate", help="simulate a day of calls to plan the staffing")
    p.add_argument("--profile", required=True, help="calls per hour, menu mix, handle time "
                   "(JSON or YAML)")
    p.add_argument("--agents", type=int, help="advisors signed in every hour (else the "
                   "profile's shifts)")
    p.add_argument("--agents-for", type=float, metavar="SHARE",
                   help="staff each hour by --model for this share answered within the limit")
    p.add_argument("--model", choices=["erlang-a", "erlang-c"], default="erlang-a",
                   help="with --agents-for: Erlang A with the cut-off to voicemail and the "
                        "profile's patience (default), or Erlang C")
    p.add_argument("--hours", type=parse_hours, default=range(9, 17),
                   help="e.g. 9-17 (a Tuesday, with the council's opening hours)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--html", help="write the HTML report here")
    p.add_argument("--redis-url", help="a Redis database the simulation flushes")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=command)
