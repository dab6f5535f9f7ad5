"""``ivr plan``: advisors per half hour for next week, from the centre's own call events.

It measures, from the last ``--weeks`` weeks of the event stream (``ivr.staffing.measure``):
callers queued per weekday and half hour, the advisors' handle time (set-up + talk + wrap-up)
and the callers' patience; forecasts next week as the mean of the same weekday and half hour
(``ivr.staffing.forecast``); and staffs each half hour for the target by Erlang C and by
Erlang A with the cut-off to voicemail (``ivr.staffing.recommend``), side by side, with
``--simulate`` also a simulated day through the real webhooks staffed by Erlang A. A new
centre with no history gives ``--profile`` (``ivr simulate``'s profile) instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from ivr.output import deliver, output_problem
from ivr.staffing.text import DayPlan, Plan, render_text


class Refused(Exception):
    """A bad argument: one line naming it."""


def share(text: str, flag: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise Refused(f"{flag} takes a share above 0 and below 1, e.g. 0.8 (got {text!r})"
                      ) from None
    if not 0 < value < 1:
        raise Refused(f"{flag} takes a share above 0 and below 1, e.g. 0.8 (got {text})")
    return value


def command(args: argparse.Namespace) -> int:
    """Run ``ivr plan``; every mistake is one line naming the argument, exit 2."""
    from ivr.config import load_for_command

    config = load_for_command()
    if config is None:
        return 2
    try:
        plan = build(args, config)
    except Refused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if plan is None:
        return 1
    if args.format == "html":
        from ivr.staffing.html import render

        text = render(plan, generated=time.time())
    else:
        text = "\n".join(render_text(plan)) + "\n"
    return deliver(text, args.output, args.format)


def check(args: argparse.Namespace) -> Any:
    """The arguments, checked before any work; returns the target."""
    from ivr.staffing.recommend import Target

    if not 1 <= args.weeks <= 52:
        raise Refused(f"--weeks takes 1 to 52 weeks (got {args.weeks})")
    target = Target(share(args.target, "--target"), 0,
                    None if args.max_abandoned is None
                    else share(args.max_abandoned, "--max-abandoned"),
                    None if args.max_voicemail is None
                    else share(args.max_voicemail, "--max-voicemail"))
    if problem := output_problem(args.output):
        raise Refused(problem)
    if args.simulate and not (args.redis_url or os.environ.get("IVR_SIM_REDIS_URL")):
        raise Refused("--simulate needs --redis-url (or IVR_SIM_REDIS_URL): a Redis database "
                      "the simulation may flush, never the live one")
    return target


def build(args: argparse.Namespace, config: Any) -> Plan | None:
    from dataclasses import replace

    target = replace(check(args), limit=config.queue.voicemail_after)
    if args.profile:
        plan = from_profile(args, config, target)
    else:
        plan = from_history(args, config, target)
    if plan is not None and args.simulate:
        simulate(plan, config, args.redis_url or os.environ["IVR_SIM_REDIS_URL"], args.seed)
    return plan


def from_profile(args: argparse.Namespace, config: Any, target: Any) -> Plan:
    """A new centre: the profile's calls per hour, half in each half hour; its talk time plus
    the set-up and wrap-up; its patience."""
    from ivr.sim.profile import Profile, ProfileError
    from ivr.sim.theory import handle_seconds
    from ivr.staffing.recommend import plan_day

    if args.until is not None:
        raise Refused("--until reads the events: not with --profile")
    try:
        profile = Profile.load(args.profile, departments=config.departments)
    except ProfileError as exc:
        raise Refused(f"--profile: {exc}") from None
    aht = handle_seconds(profile)
    calls = {2 * h + half: n / 2 for h, n in profile.calls_per_hour.items() for half in (0, 1)
             if n > 0}
    measured = [f"calls per hour from the profile, half in each half hour; handle time {aht:g} s "
                f"(talk {profile.handle_seconds:g} s + set-up and wrap-up "
                f"{aht - profile.handle_seconds:g} s); mean patience "
                + ("infinite" if profile.patience_seconds is None
                   else f"{profile.patience_seconds:g} s")]
    day = DayPlan(f"Profile day, {Path(args.profile).name}", "the profile's calls",
                  plan_day(calls, aht, profile.patience_seconds, target))
    return Plan(f"profile {args.profile}", measured, target, aht, profile.patience_seconds,
                [day])


def from_history(args: argparse.Namespace, config: Any, target: Any) -> Plan | None:
    """The last ``--weeks`` weeks of events: measured, forecast by weekday and half hour."""
    import redis

    from ivr.cli_agents import redis_and_config
    from ivr.report import load_events
    from ivr.staffing.forecast import WEEKDAYS, forecast, window
    from ivr.staffing.measure import measure
    from ivr.staffing.recommend import plan_day

    tz = config.hours.opening_hours().tz
    try:
        until = (date.fromisoformat(args.until) if args.until
                 else datetime.fromtimestamp(time.time(), tz).date())
    except ValueError:
        raise Refused(f"--until takes a date, YYYY-MM-DD (got {args.until!r})") from None
    try:  # a date so early that the weeks before it fall off the calendar
        first, last = window(until, args.weeks)
        start = datetime.combine(first, datetime.min.time(), tz).timestamp()
        end = datetime.combine(last, datetime.min.time(), tz).timestamp()
    except (OverflowError, ValueError):
        raise Refused(f"--until: {args.until} leaves no {args.weeks} week(s) before it to "
                      "read") from None
    r, _ = redis_and_config()
    try:
        events = load_events(r, start, end)
    except redis.RedisError as exc:
        print(f"error: cannot read events from Redis: {exc}", file=sys.stderr)
        return None
    m = measure(events, tz, target.limit)
    if not m.offered:
        raise Refused(f"--weeks: no callers queued in the {args.weeks} week(s) from {first} to "
                      f"{last - timedelta(days=1)}; give --until, more --weeks, or --profile "
                      "for a new centre")
    h = m.handling
    if h.handle is None:
        raise Refused(f"--weeks: no caller was answered from {first} to "
                      f"{last - timedelta(days=1)}, so there is no handle time to plan with; "
                      "give --profile")
    patience = m.patience.mean
    measured = [
        f"{m.offered:,} callers queued, {m.answered_within:,} answered within {target.limit} s",
        f"handle time {h.handle:.0f} s per answered caller (set-up {h.setup:.0f} s, talk "
        f"{'-' if h.talk is None else f'{h.talk:.0f} s'}, wrap-up {h.wrap_up:.0f} s; "
        f"{h.answered:,} answered)",
        "mean patience " + ("infinite (nobody hung up while queuing)" if patience is None else
                            f"{patience:.0f} s ({m.patience.abandoned:,} hung up over "
                            f"{m.patience.waited_seconds:,.0f} s waited by "
                            f"{m.patience.queued:,} callers)")]
    ahead = forecast(m.counts, until, args.weeks)
    days = []
    for weekday in range(7):
        calls = {slot: f.calls for (d, slot), f in ahead.items() if d == weekday}
        if not calls:
            continue
        n = max(f.days for (d, _), f in ahead.items() if d == weekday)
        days.append(DayPlan(WEEKDAYS[weekday],
                            f"mean of {n} {WEEKDAYS[weekday]}{'s' if n != 1 else ''} with calls",
                            plan_day(calls, h.handle, patience, target)))
    return Plan(f"the events from {first} to {last - timedelta(days=1)} ({args.weeks} week"
                f"{'s' if args.weeks != 1 else ''})", measured, target, h.handle, patience, days)


def simulate(plan: Plan, config: Any, url: str, seed: int) -> None:
    """Each planned day through the real webhooks (``ivr simulate``), staffed per hour by
    Erlang A (the busier half hour's advisors), with the measured talk time (the simulation
    adds its own set-up and wrap-up), patience and calls per hour."""
    from ivr.sim.profile import Profile
    from ivr.sim.simulate_cli import simulate_once
    from ivr.sim.theory import SIM_OVERHEAD_SECONDS
    from ivr.staffing.measure import SLOT_SECONDS
    from ivr.staffing.recommend import by_hour

    for day in plan.days:
        per_hour: dict[int, float] = {}
        for p in day.plans:
            hour = p.slot * SLOT_SECONDS // 3600
            per_hour[hour] = per_hour.get(hour, 0.0) + p.calls
        staffing = by_hour(day.plans)
        hours = range(min(staffing), max(staffing) + 1)
        profile = Profile(per_hour, handle_seconds=max(1.0, plan.aht - SIM_OVERHEAD_SECONDS),
                          patience_seconds=plan.patience)
        out = simulate_once(config, url, profile, {h: staffing.get(h, 0) for h in hours}, hours,
                            seed, quiet=True)
        for h, r in out.report.by_hour.items():
            if r.offered:
                day.simulated[h] = (r.service_level, r.abandoned / r.offered,
                                    (r.timed_out + r.full + r.errors) / r.offered, r.offered)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("plan", help="advisors per half hour for next week, from the events")
    p.add_argument("--weeks", type=int, default=4,
                   help="weeks of events to measure and forecast from (default 4)")
    p.add_argument("--until", help="the day after the last one read, YYYY-MM-DD "
                   "(default today)")
    p.add_argument("--profile", help="a new centre: plan from this profile (ivr simulate's) "
                   "instead of the events")
    p.add_argument("--target", default="0.8",
                   help="share answered within the limit (default 0.8)")
    p.add_argument("--max-abandoned", metavar="SHARE", help="and at most this share hanging up")
    p.add_argument("--max-voicemail", metavar="SHARE",
                   help="and at most this share reaching voicemail")
    p.add_argument("--format", choices=["text", "html"], default="text")
    p.add_argument("--output", help="write to this file instead of standard output")
    p.add_argument("--simulate", action="store_true",
                   help="also simulate each day through the webhooks (needs --redis-url)")
    p.add_argument("--redis-url", help="with --simulate: a Redis database it may flush")
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(func=command)
