"""``ivr provision``, ``ivr fallback-twiml`` and ``ivr doctor``: putting the service in front
of real callers, and checking it is fit to take them (docs/provisioning.md)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ivr.config import ConfigError


def _config():
    from ivr.config import config_path, load_config

    return load_config(config_path())


def provision_command(args: argparse.Namespace) -> int:
    """Point the numbers at ``PUBLIC_BASE_URL`` (idempotent: says when nothing changed)."""
    from twilio.base.exceptions import TwilioException

    from ivr import provision, twilio_rest

    try:
        config = _config()
        client = twilio_rest.client()
        outcomes = provision.apply(client, config, os.environ.get("PUBLIC_BASE_URL", ""),
                                   dry_run=args.dry_run)
    except (ConfigError, provision.ProvisionError, twilio_rest.TwilioNotConfigured) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (TwilioException, OSError) as exc:
        print(f"error: {twilio_rest.describe_error(exc)}", file=sys.stderr)
        return 1
    for outcome in outcomes:
        print(provision.describe(outcome, dry_run=args.dry_run))
    changed = sum(1 for o in outcomes if o.changed)
    failed = sum(1 for o in outcomes if o.error)
    verb = "would change" if args.dry_run else "changed"
    print(f"{len(outcomes)} number(s): {changed} {verb}, {len(outcomes) - changed - failed} "
          f"already right, {failed} failed" if changed or failed
          else f"{len(outcomes)} number(s) already point here: nothing changed")
    return 1 if failed else 0


def fallback_command(args: argparse.Namespace) -> int:
    """Write the static fallback documents into ``--output`` (validated against the schema)."""
    from ivr import fallback
    from ivr.sim.twiml_schema import TwimlError, validate

    if args.thanks_url is not None and not args.thanks_url.startswith("https://"):
        print(f"error: --thanks-url must be an https:// URL (got {args.thanks_url!r})",
              file=sys.stderr)
        return 2
    try:
        docs = fallback.documents(_config(), args.thanks_url)
    except (ConfigError, fallback.NoFallback) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        print(f"error: --output {out} is a file, not a directory", file=sys.stderr)
        return 2
    for name, text in docs.items():
        try:
            validate(text)
        except TwimlError as exc:  # a config message Twilio would refuse: say which document
            print(f"error: {name} would not be valid TwiML: {exc}", file=sys.stderr)
            return 2
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in docs.items():
            (out / name).write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        print(f"error: --output {out}: {exc.strerror}", file=sys.stderr)
        return 2
    for name in docs:
        print(f"wrote {out / name}")
    print("Host these away from this service (a TwiML Bin each, or a static https host) at "
          "the URLs in config.yaml's fallback section, then run ivr provision.")
    return 0


def doctor_command(args: argparse.Namespace) -> int:  # noqa: ARG001 - no options yet
    """Every check, one line each; exit 1 when any fails."""
    from ivr import connections, doctor
    from ivr.cli_agents import redis_and_config

    try:
        r, config = redis_and_config()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    url = connections.find_redis_url(os.environ, os.getcwd())
    rq_url = connections.rq_url(os.environ, url)
    rq = r if rq_url == url else connections.connect(rq_url)
    checks = doctor.run(config, r, rq)
    for check in checks:
        print(check.line())
    failed = [c for c in checks if not c.ok]
    print(f"{len(checks) - len(failed)} ok, {len(failed)} FAIL")
    return 1 if failed else 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("provision", help="point the council number and the agent line at "
                                         "PUBLIC_BASE_URL through Twilio's REST API")
    p.add_argument("--dry-run", action="store_true", help="say what would change; change nothing")
    p.set_defaults(func=provision_command)
    p = sub.add_parser("fallback-twiml", help="write the static fallback TwiML documents")
    p.add_argument("--output", default="var/fallback", help="directory (default var/fallback)")
    p.add_argument("--thanks-url", help="where thanks.xml will be hosted (default: from "
                                        "config.yaml's fallback section)")
    p.set_defaults(func=fallback_command)
    p = sub.add_parser("doctor", help="check this deployment: credentials, public URL, secrets, "
                                      "Redis, worker, scheduler, hold audio, the numbers")
    p.set_defaults(func=doctor_command)
