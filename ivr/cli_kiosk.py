"""``ivr wallboard-link``: create, list and revoke wallboard kiosk links (``ivr.kiosk``).

A new link's address is printed once (only its token's hash is stored). ``--base-url`` (or
``PUBLIC_BASE_URL``) makes it a full address. Creating and revoking are audited as ``cli``.
Every mistake is one line naming the argument, exit 2; Redis unreachable, exit 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from urllib.parse import urlsplit


def add_parser(sub) -> None:
    p = sub.add_parser("wallboard-link", help="wallboard kiosk links: create, list, revoke")
    from ivr.cli_agents import OneLineParser  # argparse only: light

    # a mistake in a subcommand is one line, as for ``ivr agents`` and ``ivr controls``
    actions = p.add_subparsers(dest="link_action", required=True, parser_class=OneLineParser)
    create = actions.add_parser("create", help="a new kiosk link (its address is shown once)")
    create.add_argument("--label", required=True, help="where the screen is, e.g. 'Floor 2'")
    create.add_argument("--base-url", default=os.environ.get("PUBLIC_BASE_URL", ""),
                        help="the console's public address (default: PUBLIC_BASE_URL)")
    actions.add_parser("list", help="the live links (ids and labels, never tokens)")
    revoke = actions.add_parser("revoke", help="revoke a link: its screen stops updating")
    revoke.add_argument("id", help="the link's id, WB followed by 8 hex digits")
    p.set_defaults(func=run, parser=p)


def run(args: argparse.Namespace) -> int:
    from ivr import kiosk
    from ivr.cli_agents import guarded

    if args.link_action == "create" and not args.label.strip():
        print("error: --label: give where the screen is", file=sys.stderr)
        return 2
    base = getattr(args, "base_url", "")
    if base and not (base.startswith(("https://", "http://")) and urlsplit(base).netloc):
        # checked before the link is made: a token printed on a broken address is one to revoke
        print(f"error: --base-url: {base!r} is not an http(s) address (or PUBLIC_BASE_URL)",
              file=sys.stderr)
        return 2
    if args.link_action == "revoke" and not kiosk.LINK_ID.fullmatch(args.id):
        print(f"error: id: {args.id!r} is not a link id (WB and 8 hex digits; see "
              "'ivr wallboard-link list')", file=sys.stderr)
        return 2
    return guarded(lambda: _act(args), redis_note="")


def _act(args: argparse.Namespace) -> int:
    """The action on the links in Redis (its failures said by ``guarded``)."""
    from ivr import audit, kiosk
    from ivr.audit import Action
    from ivr.cli_agents import CLI, redis_and_config

    r, config = redis_and_config()
    now = time.time()
    keep = config.audit.retention_days
    if args.link_action == "create":
        link, token = kiosk.create(r, args.label, CLI, now)
        audit.record(r, CLI, Action.WALLBOARD_LINK_CREATED, link.id, now=now,
                     retention_days=keep, label=link.label)
        print(f"created {link.id} ({link.label}); open on the screen (shown only now):")
        print(f"{args.base_url.rstrip('/')}/console/kiosk/{token}")
    elif args.link_action == "list":
        for link in kiosk.all_links(r):
            made = time.strftime("%Y-%m-%d %H:%M", time.localtime(link.created_at))
            print(f"{link.id}  {made}  by {link.created_by:<6} {link.label}")
    else:
        gone = kiosk.revoke(r, args.id)
        if gone is None:
            print(f"error: id: no live link {args.id}", file=sys.stderr)
            return 2
        audit.record(r, CLI, Action.WALLBOARD_LINK_REVOKED, gone.id, now=now,
                     retention_days=keep, label=gone.label)
        print(f"revoked {gone.id} ({gone.label})")
    return 0
