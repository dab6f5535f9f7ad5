"""The ``ivr`` command: run the service, check the configuration, replay the spool."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from ivr import connections
from ivr.app import create_app
from ivr.cli_agents import redis_and_config
from ivr.config import ConfigError, config_path, load_config
from ivr.output import deliver, output_problem
from ivr.serve import scheduler_command, serve


def check_config(args: argparse.Namespace) -> int:
    try:
        load_config(args.path)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.path}: OK")
    return 0


def replay_spool(args: argparse.Namespace) -> int:
    """Write spooled voicemails and events into Redis, each once, whoever else is replaying
    (the web workers do it on their next call). Exit 1 only when Redis failed."""
    app = create_app(webhooks=False)
    spool = app.extensions["ivr"].spool
    result = spool.replay(wait=args.wait)
    if result.busy:
        who = f"process {result.holder}" if result.holder else "another process"
        print(f"{who} is replaying the spool ({spool.directory}); "
              f"{spool.size()} item(s) left to it")
        return 0
    left = spool.size()
    if result.error is not None:
        import redis

        unreachable = isinstance(result.error, (redis.ConnectionError, redis.TimeoutError))
        print(f"error: {'cannot reach Redis' if unreachable else 'Redis refused a write'} "
              f"({result.error}); replayed {result.done} item(s), {left} left in "
              f"{spool.directory} for the next replay", file=sys.stderr)
        return 1
    print(f"replayed {result.done} spooled item(s); {left} left")
    if result.set_aside:
        print(f"warning: {result.set_aside} item(s) could not be replayed and were kept as "
              f"*.json.failed in {spool.directory} for a person to check", file=sys.stderr)
    return 0


def reconcile_command(args: argparse.Namespace) -> int:
    """Find and mend what crashes and outages left behind (``ivr.reconcile``): once, or every
    ``--every`` seconds until stopped (as ``ivr serve`` runs it)."""
    from redis.exceptions import RedisError

    from ivr import reconcile

    if args.every is not None and not 1 <= args.every <= 3600:
        print("error: --every takes seconds from 1 to 3600", file=sys.stderr)
        return 2
    ivr = create_app(webhooks=False).extensions["ivr"]
    stopping = False

    def stop(signum, frame):  # noqa: ARG001
        nonlocal stopping
        stopping = True

    if args.every is not None:
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    while True:
        status = 0
        try:
            results = reconcile.run_once(
                ivr, lock_seconds=0 if args.every is None else args.every * 0.8)
        except RedisError as exc:
            print(f"reconcile: Redis unavailable ({exc}); nothing checked", file=sys.stderr,
                  flush=True)
            status = 1
        else:
            if results and (args.every is None or any(m.fixed or m.errors
                                                      for m in results.values())):
                print("reconcile: " + ", ".join(
                    f"{name} {m.fixed} mended" + (f" ({m.errors} not checked)" if m.errors
                                                  else "")
                    for name, m in results.items()), flush=True)
            status = 1 if any(m.errors for m in results.values()) else 0
        if args.every is None:
            return status
        deadline = time.monotonic() + args.every
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.2)
        if stopping:
            return 0


def audit_command(args: argparse.Namespace) -> int:
    """The audit trail, newest first: who signed in, played, recorded or changed what."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from redis.exceptions import RedisError

    from ivr import audit

    try:
        since = (datetime.fromisoformat(args.since).replace(tzinfo=ZoneInfo("Europe/London"))
                 .timestamp() if args.since else None)
    except ValueError:
        print(f"error: --since takes a date, YYYY-MM-DD (got {args.since!r})", file=sys.stderr)
        return 2
    if not 1 <= args.limit <= 100_000:
        print("error: --limit takes 1 to 100000", file=sys.stderr)
        return 2
    r, config = redis_and_config()
    try:
        found = audit.read(r, since=since, actor=args.actor, action=args.action,
                           limit=args.limit)
    except RedisError as exc:
        print(f"error: Redis unavailable ({exc})", file=sys.stderr)
        return 1
    zone = ZoneInfo(config.hours.timezone)
    for e in found:
        when = datetime.fromtimestamp(e.ts, zone).strftime("%Y-%m-%d %H:%M:%S")
        detail = " ".join(f"{k}={v}" for k, v in sorted(e.detail.items()))
        print(f"{when}  {e.actor:<10} {e.action:<22} {e.target} {detail}".rstrip())
    return 0


def report_command(args: argparse.Namespace) -> int:
    """The Customer Service Standard report for whole days (inclusive, local time)."""
    from datetime import date

    import redis

    from ivr import report
    from ivr.events import decode
    from ivr.report import demo as report_demo

    config = load_config(config_path())
    options = report.settings(config)
    tz = options["hours"].tz
    days = {}
    for flag, text in (("--from", args.date_from), ("--to", args.date_to)):
        try:
            days[flag] = date.fromisoformat(text)
        except ValueError as exc:
            print(f"error: {flag} takes a date, YYYY-MM-DD (got {text!r}: {exc})",
                  file=sys.stderr)
            return 2
    first, last = days["--from"], days["--to"]
    if problem := output_problem(args.output):
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if last < first:
        print("error: --to is before --from", file=sys.stderr)
        return 2
    if args.department and args.department not in config.departments:
        print(f"error: unknown department {args.department!r}; choose from "
              f"{', '.join(sorted(config.departments))}", file=sys.stderr)
        return 2
    start, end = report.day_bounds(first, last, tz)
    now = time.time()
    # Outcomes come later than the calls (a callback is due up to weeks after a voicemail).
    until = end + args.lookahead_days * 86400
    if args.demo:
        entries = report_demo.sample_week(first, options["hours"], days=(last - first).days + 1)
        found = [e for e in map(decode, entries) if start <= e["ts"] < until]
        as_of = None
    else:
        r = connections.connect(connections.find_redis_url(os.environ, os.getcwd()),
                                cluster=connections.cluster_mode(os.environ))
        try:
            found = report.load_events(r, start, min(until, now), whole=args.whole_stream)
        except redis.RedisError as exc:
            print(f"error: cannot read events from Redis: {exc}", file=sys.stderr)
            return 1
        as_of = min(until, now)
        if not found and not args.whole_stream:
            print("note: no events in this period. If the stream was written with a simulated "
                  "clock or imported, try --whole-stream.", file=sys.stderr)
    result = report.compute(found, start=start, end=end, as_of=as_of,
                            department=args.department, **options)
    names = {k: d.name for k, d in config.departments.items()}
    if args.format == "html":
        from ivr.report.html import render_html

        text = render_html(result, names, tz, generated=now)
    else:
        from ivr.report.text import render_csv, render_text

        text = (render_csv if args.format == "csv" else render_text)(result, names, tz)
    return deliver(text, args.output, f"{args.format}, {len(found)} events")


def call_command(args: argparse.Namespace) -> int:
    """Call the IVR from the terminal through the Twilio stand-in: the local Twilio that
    ``ivr serve`` runs (``ivr.sim.phone_cli``), else one of its own (``ivr.sim.cli_call``)."""
    from ivr.sim.phone_cli import run

    return run(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ivr", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="run the webhooks, the RQ worker and its scheduler")
    p.add_argument("--bind", default=os.environ.get("IVR_BIND", "127.0.0.1:5000"))
    p.add_argument("--workers", type=int, default=int(os.environ.get("IVR_WORKERS", "2")))
    p.set_defaults(func=serve)
    p = sub.add_parser("scheduler", help="RQ's scheduler alone (ivr serve runs and restarts it)")
    p.add_argument("--url", required=True, help="RQ's Redis")
    p.add_argument("--name", default="", help="the scheduler's RQ name (keep it across restarts)")
    p.add_argument("queues", nargs="+")
    p.set_defaults(func=scheduler_command)
    p = sub.add_parser("check-config", help="validate config.yaml")
    p.add_argument("path", nargs="?", default=config_path())
    p.set_defaults(func=check_config)
    p = sub.add_parser("replay-spool", help="write spooled voicemails/events into Redis")
    p.add_argument("--wait", type=float, default=10.0,
                   help="seconds to wait for another process's replay to finish (default 10)")
    p.set_defaults(func=replay_spool)
    p = sub.add_parser("reconcile", help="find and mend what crashes and outages left behind")
    p.add_argument("--every", type=float, metavar="SECONDS",
                   help="run every SECONDS until stopped (default: once)")
    p.set_defaults(func=reconcile_command)
    p = sub.add_parser("audit", help="the audit trail: who signed in, played, recorded, changed")
    p.add_argument("--since", help="from this day (YYYY-MM-DD, Europe/London)")
    p.add_argument("--actor", help="one advisor's agent number (or cli, anonymous)")
    p.add_argument("--action", help="one action, e.g. voicemail_played")
    p.add_argument("--limit", type=int, default=200, help="entries at most (default 200)")
    p.set_defaults(func=audit_command)
    from ivr.cli_agents import add_parser as add_agents  # argparse only: light

    add_agents(sub)
    from ivr.cli_kiosk import add_parser as add_kiosk  # argparse only: light

    add_kiosk(sub)
    from ivr.cli_controls import add_parser as add_controls  # argparse only: light

    add_controls(sub)
    p = sub.add_parser("report", help="the Customer Service Standard report, from the events")
    p.add_argument("--from", dest="date_from", required=True, help="first day, YYYY-MM-DD")
    p.add_argument("--to", dest="date_to", required=True, help="last day (inclusive)")
    p.add_argument("--department", help="one department id (default: all)")
    p.add_argument("--format", choices=["text", "csv", "html"], default="text")
    p.add_argument("--output", help="write to this file instead of standard output")
    p.add_argument("--lookahead-days", type=int, default=31,
                   help="days after --to still read for outcomes such as callbacks")
    p.add_argument("--whole-stream", action="store_true",
                   help="read every stream entry, not only ids in the period")
    p.add_argument("--demo", action="store_true",
                   help="report on a generated sample week instead of Redis (nothing written)")
    p.set_defaults(func=report_command)
    from ivr.cli_deploy import add_parsers as add_deploy  # argparse only: light

    add_deploy(sub)
    from ivr.sim.cli_call import add_arguments as call_arguments  # argparse only: light

    p = sub.add_parser("call", help="call the IVR from the terminal (Twilio stand-in)")
    call_arguments(p)
    p.set_defaults(func=call_command)
    from ivr.sim.simulate_cli import add_parser as add_simulate  # argparse only: light

    add_simulate(sub)
    from ivr.cli_plan import add_parser as add_plan  # argparse only: light

    add_plan(sub)
    from ivr.sim.phone_cli import add_parser as add_local_twilio

    add_local_twilio(sub)
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # as parse_args does, but said by the subcommand's parser when it has its own
        getattr(args, "parser", parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return args.func(args)
    except connections.NoRedis as exc:  # raised before any work: one line, and how to fix it
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C: one line, the shell's code for SIGINT, no traceback
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
