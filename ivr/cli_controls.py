"""``ivr controls``: the live controls (``ivr.controls``) from a terminal, as the console's
Controls page sets them. Stored in Redis and heard from the next call on, with no restart;
each change is in the audit trail, by ``cli``. Times are Europe/London wall-clock (the
``hours.timezone`` of the configuration). A mistake ends in one line naming the argument, exit
status 2; Redis unavailable is status 1.

    ivr controls list
    ivr controls close --date 2026-12-24 --message "..."           # a whole day
    ivr controls close --from 12:00 --to 14:00 --message "..."      # a span today
    ivr controls announce --message "..." [--department street_care] [--from ...] --to ...
    ivr controls emergency closed|aware --message "..."  /  ivr controls emergency off
    ivr controls queue council_tax closed [--message "..."]  /  ... queue council_tax open
    ivr controls end ID                                             # a closure or announcement
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from typing import Any

from ivr.cli_agents import CLI, OneLineParser, Refused, guarded, redis_and_config


def add_parser(sub: Any) -> None:
    """``ivr controls ...`` on the ``ivr`` command's subparsers."""
    p = sub.add_parser("controls", help="live closures, announcements, emergency, queues",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=controls_command)
    actions = p.add_subparsers(dest="action", required=True, parser_class=OneLineParser)

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        a = actions.add_parser(name, help=help_text, allow_abbrev=False)
        a.set_defaults(parser=a)
        return a

    action("list", "every live control in force or to come")
    a = action("close", "close the lines: a whole --date, or --from/--to today")
    a.add_argument("--date", help="a whole day, YYYY-MM-DD (not a working day: callbacks "
                   "move past it)")
    a.add_argument("--from", dest="start", help="today from HH:MM")
    a.add_argument("--to", dest="end", help="today until HH:MM")
    a.add_argument("--message", required=True, help="what callers hear instead of the usual "
                   "closed message")
    a = action("announce", "an announcement after the recording notice, or on choosing a "
               "department")
    a.add_argument("--message", required=True)
    a.add_argument("--department", default="", help="a department id (default: every caller)")
    a.add_argument("--from", dest="start", default="",
                   help="'YYYY-MM-DD HH:MM' (default: now)")
    a.add_argument("--to", dest="end", required=True, help="'YYYY-MM-DD HH:MM', or HH:MM today")
    a = action("emergency", "the emergency switch")
    a.add_argument("mode", choices=["closed", "aware", "off"])
    a.add_argument("--message", default="")
    a = action("queue", "close or open one department's queue")
    a.add_argument("department")
    a.add_argument("state", choices=["closed", "open"])
    a.add_argument("--message", default="", help="said instead of messages.queue_closed")
    a = action("end", "end a closure or announcement now")
    a.add_argument("id", metavar="ID", help="its id, as `ivr controls list` shows it")


def controls_command(args: argparse.Namespace) -> int:
    from ivr.controls import ControlError

    return guarded(lambda: _run(args), {ControlError: "--"})  # (it names the option)


def _run(args: argparse.Namespace) -> int:
    from zoneinfo import ZoneInfo

    from ivr import controls, controls_store
    from ivr.controls import ControlError

    r, config = redis_and_config()
    tz = ZoneInfo(config.hours.timezone)
    ts = time.time()
    now = datetime.fromtimestamp(ts, UTC)
    keep = config.audit.retention_days
    ident = controls_store.new_id()
    if args.action == "list":
        _print(controls_store.load(r), tz, now, config)
    elif args.action == "close":
        if args.date and (args.start or args.end):
            raise Refused("--date", "give a whole --date, or --from and --to today, not both")
        if args.date:
            c = controls.day_closure(ident, controls.parse_date(args.date), args.message, now,
                                     tz, set_by=CLI)
        elif args.start or args.end:
            if not (args.start and args.end):
                missing = "--to" if args.start else "--from"
                raise Refused(missing, "a closure today needs both --from and --to (HH:MM)")
            start, end = controls.span_today(args.start, args.end, now, tz)
            c = controls.span_closure(ident, start, end, args.message, now, set_by=CLI)
        else:
            raise Refused("--date", "give a whole --date, or --from and --to today")
        controls_store.put_closure(r, c, CLI, ts, keep)
        print(f"closure {c.id}: {controls.describe(c, tz)}: {c.message}")
    elif args.action == "announce":
        start = controls.parse_when(args.start, tz, "from") if args.start else now
        end = (controls.parse_when(args.end, tz, "to") if " " in args.end.strip()
               else controls.span_today("00:00", args.end, now, tz)[1])
        a = controls.announcement(ident, args.message, start, end, args.department,
                                  config.departments, now, set_by=CLI)
        controls_store.put_announcement(r, a, CLI, ts, keep)
        print(f"announcement {a.id} ({a.department or 'every caller'}): "
              f"{controls.describe(a, tz)}: {a.message}")
    elif args.action == "emergency":
        if args.mode == "off":
            done = controls_store.clear(r, "emergency", CLI, ts, keep)
            print("emergency switched off" if done else "no emergency was on")
        else:
            e = controls.Emergency(controls.EmergencyMode(args.mode),
                                   controls.check_message(args.message), now, CLI)
            controls_store.set_emergency(r, e, CLI, ts, keep)
            print(f"emergency on ({args.mode}): {e.message}")
    elif args.action == "queue":
        if args.department not in config.departments:
            raise Refused("department", f"{args.department!r} is not one of "
                          f"{', '.join(sorted(config.departments))}")
        if args.state == "open":
            done = controls_store.clear(r, f"queue:{args.department}", CLI, ts, keep)
            print(f"queue {args.department} open" + ("" if done else " (it was not closed)"))
        else:
            message = controls.check_message(args.message) if args.message.strip() else ""
            controls_store.close_queue(r, controls.QueueClosed(args.department, message, now,
                                                               CLI), CLI, ts, keep)
            print(f"queue {args.department} closed: callers are offered a voicemail at once")
    elif args.action == "end":
        live = controls_store.load(r)
        field = next((f"{kind}:{x.id}" for kind, items in
                      (("closure", live.closures), ("announcement", live.announcements))
                      for x in items if x.id == args.id), "")
        if not field:
            raise Refused("ID", f"no closure or announcement {args.id} "
                          "(see: ivr controls list)")
        controls_store.clear(r, field, CLI, ts, keep)
        print(f"{field.replace(':', ' ')} ended")
    else:  # pragma: no cover - argparse allows only the actions above
        raise ControlError(f"unknown action {args.action}")
    return 0


def _print(live: Any, tz: Any, now: datetime, config: Any) -> None:
    from ivr import controls

    if live.emergency:
        print(f"emergency ({live.emergency.mode}) since "
              f"{live.emergency.since.astimezone(tz):%Y-%m-%d %H:%M}: {live.emergency.message}")
    for c in live.closures:
        if c.end > now:
            print(f"closure {c.id}: {controls.describe(c, tz)}: {c.message}")
    for a in live.announcements:
        if a.end > now:
            print(f"announcement {a.id} ({a.department or 'every caller'}): "
                  f"{controls.describe(a, tz)}: {a.message}")
    for dept, q in sorted(live.queues_closed.items()):
        said = q.message or config.messages.queue_closed.format(
            department=config.departments[dept].name if dept in config.departments else dept)
        print(f"queue {dept} closed: {said}")
    if live.empty:
        print("no live controls: config.yaml's hours, closures and messages hold")
