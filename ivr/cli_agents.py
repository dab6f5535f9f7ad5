"""``ivr agents``: manage advisors without code changes (the records ``ivr.agents`` keeps).

The rules are ``ivr.credentials``', the console's too. Passwords and PINs are never taken
from the command line, where they would stay in the shell's history and show in the process
list: they are asked twice at a prompt (``getpass``), or read from standard input
(``--password-stdin``, ``--pin-stdin``). Each mistake ends in one line naming the argument,
and exit status 2; Redis unavailable is status 1. Every change is in the audit trail, by
``cli``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import Any

CLI = "cli"  # the audit trail's actor for changes made here


class Refused(Exception):
    """A mistake on the command line: ``argument`` names what to fix."""

    def __init__(self, argument: str, reason: str) -> None:
        super().__init__(f"{argument}: {reason}")


def guarded(run: Callable[[], int], prefixes: dict[type[Exception], str] | None = None,
            redis_note: str = "; nothing changed") -> int:
    """``run()``, its expected failures each said in one line: a command-line or config
    mistake (``Refused``, ``ConfigError``, and the kinds in ``prefixes``, each shown after its
    prefix) exits 2; Redis unavailable exits 1. The one place the stores' commands (agents,
    controls, wallboard links) turn those into the line; anything else is a bug and shows as
    one."""
    from redis.exceptions import RedisError

    from ivr.config import ConfigError

    said = {Refused: "", ConfigError: ""} | (prefixes or {})
    try:
        return run()
    except tuple(said) as exc:
        prefix = next(p for kind, p in said.items() if isinstance(exc, kind))
        print(f"error: {prefix}{exc}", file=sys.stderr)
        return 2
    except RedisError as exc:
        print(f"error: Redis unavailable ({exc}){redis_note}", file=sys.stderr)
        return 1


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a mistake is one line (with where to read more), not usage and an error."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see: {self.prog} --help)\n")


def add_parser(sub: Any) -> None:
    """``ivr agents ...`` on the ``ivr`` command's subparsers."""
    p = sub.add_parser("agents", help="manage advisors (stored in Redis)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=agents_command)
    actions = p.add_subparsers(dest="action", required=True, parser_class=OneLineParser)

    def action(name: str, help_text: str, *, with_id: bool = True) -> argparse.ArgumentParser:
        a = actions.add_parser(name, help=help_text, allow_abbrev=False)
        if with_id:
            a.add_argument("id", metavar="ID", help="the agent number")
        a.set_defaults(parser=a)  # ``ivr.cli.main`` reports unknown arguments through it
        return a

    def refused_secret(a: argparse.ArgumentParser, name: str) -> None:
        # Kept only to refuse it with a message saying what to do instead.
        a.add_argument(f"--{name}", dest=f"argv_{name}", nargs="?", const="",
                       default=None, help=argparse.SUPPRESS)

    a = action("add", "add an agent (then set-pin and set-password)", with_id=False)
    a.add_argument("--name", required=True, help="1 to 60 characters")
    a.add_argument("--departments", default="", help="comma-separated department ids "
                   "(none: all departments)")
    a.add_argument("--phone", default="", help="the agent's phone: on the agent line it only "
                   "saves keying the agent number; the PIN is always asked")
    a.add_argument("--role", choices=["agent", "supervisor"], default="agent")
    refused_secret(a, "password")
    refused_secret(a, "pin")
    action("list", "list agents", with_id=False)
    action("remove", "remove an agent")
    a = action("set-password", "set the console password (asked twice, or --password-stdin)")
    a.add_argument("--password-stdin", action="store_true",
                   help="read the password from the first line of standard input")
    refused_secret(a, "password")
    a = action("set-pin", "set the agent line PIN (asked twice, or --pin-stdin)")
    a.add_argument("--pin-stdin", action="store_true",
                   help="read the PIN from the first line of standard input")
    refused_secret(a, "pin")
    a = action("set-name", "change an agent's name")
    a.add_argument("--name", required=True, help="1 to 60 characters")
    a = action("set-departments", "change an agent's departments")
    a.add_argument("--departments", required=True,
                   help="comma-separated department ids (empty: all departments)")
    a = action("set-phone", "change an agent's phone (their agent number stays)")
    a.add_argument("--phone", required=True, help="a UK number, or '' for none")
    a = action("set-state", "set an agent's state: sign out, break, or available again")
    a.add_argument("state", choices=["available", "break", "signed_out"])
    action("lockouts", "agent numbers locked out of the agent line now", with_id=False)
    a = action("unlock", "end an agent's lockout (agent line and console) and forget their "
               "failed sign-ins")
    a.add_argument("--caller", default="", help="also forget failures from this caller ID")


def agents_command(args: argparse.Namespace) -> int:
    """Manage advisors: add, list, remove, set-password, set-pin, set-name, set-departments,
    set-phone, set-state, lockouts, unlock."""
    return guarded(lambda: _run(args))


def redis_and_config():
    """The state's Redis (``REDIS_URL``, a cluster with ``IVR_REDIS_CLUSTER=1``) and the
    configuration, as every command that reads or writes Redis finds them."""
    from ivr import connections
    from ivr.config import config_path, load_config

    config = load_config(config_path())
    return connections.connect(connections.find_redis_url(os.environ, os.getcwd()),
                               cluster=connections.cluster_mode(os.environ)), config


def _run(args: argparse.Namespace) -> int:
    from ivr import agents, audit, credentials
    from ivr.agents import AgentError
    from ivr.audit import Action
    from ivr.phone import mask

    for name in ("password", "pin"):
        if getattr(args, f"argv_{name}", None) is not None:
            raise Refused(f"--{name}", _ARGV_SECRET[name].format(id=getattr(args, "id", "ID")))
    r, config = redis_and_config()
    now = time.time()
    keep = config.audit.retention_days

    def record(action: Action, target: str, **detail: Any) -> None:
        audit.record(r, CLI, action, target, now=now, retention_days=keep, **detail)

    def existing(agent_id: str) -> agents.Agent:
        agent = agents.get(r, agent_id)
        if agent is None:
            raise Refused("ID", f"no agent {agent_id}")
        return agent

    if args.action == "add":
        name = _checked("--name", credentials.check_name, args.name)
        departments = _checked("--departments", credentials.check_departments,
                               args.departments.split(","), config)
        phone = _phone(args.phone) if args.phone.strip() else ""
        try:
            agent = agents.add(r, name=name, departments=departments, phone=phone,
                               role=agents.Role(args.role), now=now)
        except AgentError as exc:  # the phone is another agent's
            raise Refused("--phone", str(exc)) from None
        record(Action.AGENT_ADDED, agent.id, name=agent.name, role=str(agent.role),
               departments=",".join(departments), phone=mask(phone) if phone else "")
        print(f"added agent {agent.id}: {agent.name} ({agent.role}; "
              f"{', '.join(departments) or 'all departments'})")
        print(f"next: ivr agents set-pin {agent.id}; ivr agents set-password {agent.id}")
    elif args.action == "list":
        from ivr.credentials import MAX_NAME
        from ivr.logsafe import clean

        for a in agents.all_agents(r):
            print(f"{a.id}  {clean(a.name, MAX_NAME):<24} {a.role:<10} {a.state:<10} "
                  f"{','.join(a.departments) or '(all)':<40} {a.phone}")
    elif args.action == "remove":
        existing(args.id)
        agents.remove(r, args.id)
        record(Action.AGENT_REMOVED, args.id)
        print(f"removed agent {args.id}")
    elif args.action == "set-password":
        existing(args.id)
        source = "--password-stdin" if args.password_stdin else "password"
        password = _secret(source, args.password_stdin, "Password", strip=False)
        agents.set_secret(r, args.id, "password_hash",
                          _checked(source, credentials.check_password, password))
        record(Action.PASSWORD_CHANGED, args.id)
        print(f"password set for agent {args.id}")
    elif args.action == "set-pin":
        agent = existing(args.id)
        source = "--pin-stdin" if args.pin_stdin else "PIN"
        pin = _checked(source, credentials.check_pin,
                       _secret(source, args.pin_stdin, "PIN", strip=True), agent.id,
                       agent.phone, min_length=config.agents.pin_min_length)
        agents.set_secret(r, args.id, "pin_hash", pin)
        record(Action.PIN_CHANGED, args.id)
        print(f"PIN set for agent {args.id}")
    elif args.action == "set-name":
        from ivr.agents import changes

        existing(args.id)
        name = _checked("--name", credentials.check_name, args.name)
        changes.rename(r, args.id, name)
        record(Action.AGENT_CHANGED, args.id, name=name)
        print(f"agent {args.id} is now named {name}")
    elif args.action == "set-departments":
        from ivr.agents import changes

        existing(args.id)
        departments = _checked("--departments", credentials.check_departments,
                               args.departments.split(","), config)
        changes.set_departments(r, args.id, departments)
        record(Action.AGENT_CHANGED, args.id, departments=",".join(departments))
        print(f"agent {args.id} serves {', '.join(departments) or 'all departments'}")
    elif args.action == "set-phone":
        from ivr.agents import changes

        agent = existing(args.id)
        phone = _phone(args.phone) if args.phone.strip() else ""
        try:
            changes.set_phone(r, args.id, phone, agent.phone)
        except AgentError as exc:
            raise Refused("--phone", str(exc)) from None
        record(Action.AGENT_CHANGED, args.id, phone=mask(phone) if phone else "")
        print(f"agent {args.id}'s phone is now {phone or 'none'}")
    elif args.action == "set-state":
        _set_state(r, config, args, now)
    elif args.action == "lockouts":
        _print_lockouts(r, config, now)
    elif args.action == "unlock":
        _unlock(r, config, args, now)
    return 0


_ARGV_SECRET = {
    "password": "a password is never taken on the command line (it would stay in the shell's "
                "history); run `ivr agents set-password {id}` to be asked for it, or pipe it "
                "to `ivr agents set-password {id} --password-stdin`",
    "pin": "a PIN is never taken on the command line (it would stay in the shell's history); "
           "run `ivr agents set-pin {id}` to be asked for it, or pipe it to "
           "`ivr agents set-pin {id} --pin-stdin`",
}


def _checked(argument: str, check, *values: Any, **options: Any) -> Any:
    """``check(*values)``, its ValueError turned into a refusal naming ``argument``."""
    try:
        return check(*values, **options)
    except ValueError as exc:
        raise Refused(argument, str(exc)) from None


def _phone(raw: str) -> str:
    from ivr.phone import check_caller_id

    e164 = check_caller_id(raw).e164
    if not e164:
        raise Refused("--phone", f"{raw} is not a UK number we can call")
    return e164


def _secret(argument: str, from_stdin: bool, label: str, *, strip: bool) -> str:
    """A secret from standard input's first line, or asked twice at a prompt."""
    if from_stdin:
        line = sys.stdin.readline()
        text = line.strip() if strip else line.rstrip("\r\n")
        if not text:
            raise Refused(argument, "nothing on standard input")
        return text
    import getpass

    try:
        first = getpass.getpass(f"{label}: ")
        again = getpass.getpass(f"{label} again: ")
    except (EOFError, KeyboardInterrupt):
        raise Refused(argument, "not entered; nothing changed") from None
    if first != again:
        raise Refused(argument, "the two entries differ; nothing changed")
    return first.strip() if strip else first


def _set_state(r: Any, config: Any, args: argparse.Namespace, now: float) -> None:
    """``set-state``: as a supervisor's console button; a signed-out agent's agent-line call
    is ended at Twilio when credentials are set."""
    from ivr import twilio_rest
    from ivr.agents import AgentError, manual

    try:
        moved = manual.set_by_hand(r, args.id, manual.CHOICES[args.state], actor=CLI, now=now,
                                   retention_days=config.audit.retention_days)
    except AgentError as exc:
        raise Refused("ID" if str(exc).startswith("no agent") else "STATE", str(exc)) from None
    print(f"agent {args.id}: {manual.LABELS[moved.previous]} -> "
          f"{manual.LABELS[moved.agent.state]}")
    if moved.line:
        try:
            twilio_rest.hang_up(moved.line)
            print(f"their agent-line call {moved.line} was ended")
        except Exception as exc:  # noqa: BLE001 - the sign-out stands; say what was not done
            print(f"warning: their agent-line call {moved.line} could not be ended ({exc}); "
                  "the call's next step finds them signed out", file=sys.stderr)


def _print_lockouts(r: Any, config: Any, now: float) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from ivr import agents
    from ivr.agents import lockout

    zone = ZoneInfo(config.hours.timezone)
    found = lockout.lockouts(r, now)
    if not found:
        print("no agent is locked out of the agent line")
    for entry in found:
        agent = agents.get(r, entry.agent_id)
        until = datetime.fromtimestamp(entry.until, zone).strftime("%Y-%m-%d %H:%M:%S")
        who = agent.name if agent else "(no such agent)"
        print(f"{entry.agent_id}  {who:<24} locked out of the agent line until {until}")


def _unlock(r: Any, config: Any, args: argparse.Namespace, now: float) -> None:
    import phonenumbers

    from ivr import agents
    from ivr.agents import lockout
    from ivr.console import auth as console_auth

    callers = []
    if args.caller.strip():
        try:
            number = phonenumbers.parse(args.caller, "GB")
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_possible_number(number):
            raise Refused("--caller", f"{args.caller} is not a phone number")
        callers.append(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    locked = {entry.agent_id for entry in lockout.lockouts(r, now)}
    if agents.get(r, args.id) is None and args.id not in locked:
        raise Refused("ID", f"no agent {args.id}, and no lockout of that number")
    done = lockout.unlock(r, args.id, CLI, now, callers=callers,
                          retention_days=config.audit.retention_days)
    # The console's sign-in wait for this agent number ends too (its own audit entry).
    console = console_auth.unlock_console(r, args.id, actor=CLI, now=now,
                                          retention_days=config.audit.retention_days)
    print(f"agent {args.id}: " + ("agent line lockout ended" if done.agent_line
                                  else "was not locked out of the agent line")
          + f"; failed sign-ins forgotten ({done.caller_ids} caller ID(s) cleared)"
          + (f"; console sign-in wait cleared ({console} failure(s))" if console else ""))
