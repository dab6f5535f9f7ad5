"""Signing in to and out of the console, with sign-in throttling no outsider can turn against
an advisor.

Wrong passwords are counted per agent number (known or not), per client address and per
trusted browser, in Redis (shared by every web process); past a few, each try must wait, the
wait doubling up to ``agents.console_max_wait`` (``ivr.console.throttle``). A try during a
wait is refused unchecked and uncounted; after it, the right password works: nothing ever
locks an advisor out for longer than the longest wait, and a supervisor can clear the wait
(``unlock_console``, the Agents page, ``ivr`` CLI). A browser an advisor has signed in on
carries a signed device cookie for them and is counted on its own, so other people's guesses
do not delay them there at all.

An unknown agent number costs the same scrypt work as a known one (``agents.check_secret``
hashes against a dummy), so timing says nothing about which numbers exist. Every sign-in,
failure, wait and sign-out is logged and audited (``ivr.audit``); the password never is.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any

from flask import current_app, g, make_response, redirect, render_template, request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ivr import agents, audit, events
from ivr.audit import Action
from ivr.console import throttle
from ivr.console.base import (
    bp,
    end_this_session,
    ivr,
    now,
    password_mark,
    record_audit,
    start_session,
)
from ivr.console.throttle import Policy, Tally
from ivr.events import Event

log = logging.getLogger(__name__)

THROTTLE = "{{ivr}}:console:throttle:{kind}:{id}"  # hash: n failures, last (epoch s); expires
ACCOUNT, CLIENT, DEVICE = "account", "client", "device"
DEVICE_COOKIE = "ivr_console_device"
AGENT_NUMBER = re.compile(r"\d{4,8}")
BAD = "That agent number and password do not match."


# -- the tallies in Redis -------------------------------------------------------------------


@dataclass(frozen=True)
class Counted:
    """One tally a sign-in is counted on: its kind (account, client, device), whose, the rule."""

    kind: str
    id: str
    policy: Policy

    @property
    def key(self) -> str:
        return THROTTLE.format(kind=self.kind, id=self.id)


def _read(r: Any, counted: list[Counted]) -> list[Tally]:
    pipe = r.pipeline(transaction=False)
    for c in counted:
        pipe.hmget(c.key, "n", "last")
    return [Tally(int(n or 0), float(last or 0)) for n, last in pipe.execute()]


def _count_failure(r: Any, counted: list[Counted], at: float) -> list[int]:
    """One more failure on each tally (one that had run out starts again); the new counts."""
    before = _read(r, counted)
    pipe = r.pipeline(transaction=True)  # atomic on a cluster too (one slot: ivr.keys)
    for c, tally in zip(counted, before, strict=True):
        fresh = throttle.current(tally, c.policy, at).failures == 0
        pipe.hset(c.key, mapping={"last": f"{at:.3f}"} | ({"n": 0} if fresh else {}))
        pipe.hincrby(c.key, "n", 1)
        pipe.expire(c.key, c.policy.forget)
    return [int(n) for n in pipe.execute()[1::3]]


def account_key(agent_id: str) -> str:
    return THROTTLE.format(kind=ACCOUNT, id=agent_id)


def unlock_console(r: Any, agent_id: str, *, actor: str = "cli", now: float | None = None,
                   retention_days: int | None = 730) -> int:
    """Clear the console sign-in wait of one agent number (supervisors: Agents page; the CLI)
    and audit it (``UNLOCKED``); returns how many failures were forgotten.

    ``actor`` is who asked (an agent id, or ``cli``); pass ``config.audit.retention_days``.
    """
    key = account_key(agent_id)
    pipe = r.pipeline(transaction=True)  # atomic on a cluster too (one slot: ivr.keys)
    pipe.hget(key, "n")
    pipe.delete(key)
    failures = int(pipe.execute()[0] or 0)
    audit.record(r, actor, Action.UNLOCKED, agent_id, now=now, retention_days=retention_days,
                 failures=failures)
    log.info("console: sign-in wait of agent %s cleared by %s (%d failures)", agent_id, actor,
             failures)
    return failures


def waiting(r: Any, agent_ids: list[str], policy: Policy,
            at: float) -> dict[str, tuple[int, float]]:
    """Per agent: failures counted and seconds left to wait (for the Agents page)."""
    tallies = _read(r, [Counted(ACCOUNT, a, policy) for a in agent_ids])
    return {a: (throttle.current(t, policy, at).failures, throttle.remaining(t, policy, at))
            for a, t in zip(agent_ids, tallies, strict=True)}


# -- the trusted browser ---------------------------------------------------------------------


def _devices() -> URLSafeTimedSerializer:
    secret = current_app.session_interface.secret(current_app)
    return URLSafeTimedSerializer(secret, salt="ivr-console-device")


def _trusted_device(agent_id: str) -> str:
    """This browser's device id if it carries a valid device cookie for ``agent_id`` (signed
    here when they last signed in on it, under their present password), else ""."""
    days = ivr().config.agents.console_device_days
    raw = request.cookies.get(DEVICE_COOKIE, "")
    if not raw or not days or not AGENT_NUMBER.fullmatch(agent_id):
        return ""
    try:
        data = _devices().loads(raw, max_age=days * 86400)
    except BadSignature:
        return ""
    if not isinstance(data, dict) or data.get("agent") != agent_id:
        return ""
    mark = password_mark(ivr().redis, agent_id)
    if not mark or not hmac.compare_digest(str(data.get("pw", "")), mark):
        return ""
    return str(data.get("device", ""))


def _give_device_cookie(response, agent_id: str) -> None:
    days = ivr().config.agents.console_device_days
    if not days:
        return
    token = _devices().dumps({"agent": agent_id, "device": secrets.token_urlsafe(16),
                              "pw": password_mark(ivr().redis, agent_id)})
    response.set_cookie(DEVICE_COOKIE, token, max_age=days * 86400, path="/console",
                        secure=ivr().public_base_url.startswith("https://"), httponly=True,
                        samesite="Strict")


# -- the pages -------------------------------------------------------------------------------


def _refuse(message: str, status: int, agent_id: str = ""):
    return render_template("console/login.html", error=message, agent=agent_id), status


def _wait_message(seconds: float, kind: str) -> str:
    if kind == CLIENT:
        return (f"Too many failed sign-ins from this address: please wait "
                f"{throttle.in_words(seconds)} before trying again.")
    return (f"Too many failed attempts: please wait {throttle.in_words(seconds)} before trying "
            "again. A supervisor can clear the wait from the Agents page.")


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The sign-in form; on success a fresh session (new CSRF token) and the live view."""
    if request.method == "GET":
        if g.get("user") is not None:
            return redirect(url_for("console.live"))
        return render_template("console/login.html", error="", agent="")
    app = ivr()
    cfg = app.config.agents
    r = app.redis
    at = now()
    agent_id = (request.form.get("agent") or "").strip()
    password = request.form.get("password") or ""
    address = request.remote_addr or ""
    well_formed = bool(AGENT_NUMBER.fullmatch(agent_id))
    device = _trusted_device(agent_id) if well_formed else ""
    account, client = Policy.account(cfg), Policy.client(cfg)
    if device:  # counted on its own: outsiders' guesses elsewhere never delay this browser
        counted = [Counted(DEVICE, device, account)]
    else:
        counted = [Counted(CLIENT, throttle.client_id(address), client)]
        if well_formed:
            counted.insert(0, Counted(ACCOUNT, agent_id, account))
    shown = agent_id if well_formed else ""
    wait, kind = max((throttle.remaining(t, c.policy, at), c.kind)
                     for t, c in zip(_read(r, counted), counted, strict=True))
    if wait > 0:  # refused unchecked and uncounted: hammering does not stretch the wait
        log.warning("console: sign-in for agent %s from %s refused: %.0f s still to wait (%s)",
                    shown or "(malformed)", address, wait, kind)
        return _refuse(_wait_message(wait, kind), 429, shown)
    # Always one scrypt check: an unknown number costs what a known one does.
    ok = well_formed and agents.check_secret(r, agent_id, "password_hash", password)
    agent = agents.get(r, agent_id) if ok else None
    if agent is None:
        reason = ("malformed agent number" if not well_formed
                  else "wrong password" if r.exists(agents.AGENT.format(id=agent_id))
                  else "unknown agent")
        wait, kind = _failed(counted, shown, address, reason, at)
        if wait > 0:
            return _refuse(f"{BAD} {_wait_message(wait, kind)}", 429, shown)
        return _refuse(BAD, 401, shown)
    pipe = r.pipeline(transaction=True)  # atomic on a cluster too (one slot: ivr.keys)
    for c in counted:
        if c.kind != CLIENT:  # never the client's: one good account must not reset a scanner
            pipe.delete(c.key)
    pipe.execute()
    start_session(agent)
    record_audit(Action.CONSOLE_SIGNIN, agent.id, actor=agent.id, address=address,
                 trusted_browser=bool(device))
    log.info("console: agent %s signed in from %s", agent.id, address)
    response = make_response(redirect(url_for("console.live")))
    _give_device_cookie(response, agent.id)
    return response


def _failed(counted: list[Counted], agent_id: str, address: str, reason: str,
            at: float) -> tuple[int, str]:
    """Count, log, event and audit one failed sign-in; returns the wait it started (0: none)
    and whose (account, client or device)."""
    app = ivr()
    r = app.redis
    counts = _count_failure(r, counted, at)
    waits = [(c, n, throttle.wait_after(n, c.policy)) for c, n in zip(counted, counts,
                                                                        strict=True)]
    wait, kind = max((w, c.kind) for c, _, w in waits)
    pipe = r.pipeline(transaction=False)
    events.add(pipe, events.fields(Event.AGENT_LOGIN_FAILED, "", at, None, agent=agent_id,
                                   source="console", reason=reason, locked=wait > 0),
               app.config.events.retention_days)
    days = app.config.audit.retention_days
    audit.record(pipe, "anonymous", Action.CONSOLE_SIGNIN_FAILED, agent_id, now=at,
                 retention_days=days, reason=reason, address=address)
    for c, n, seconds in waits:
        if seconds:  # a wait starts or grows: at most one a wait, however hard they hammer
            audit.record(pipe, "anonymous", Action.LOCKED, address if c.kind == CLIENT
                         else agent_id, now=at, retention_days=days, kind=c.kind, failures=n,
                         wait=seconds)
    pipe.execute()
    log.warning("console: failed sign-in for agent %s from %s (%s; %s)", agent_id or "(none)",
                address, reason, ", ".join(f"{c.kind} {n} failures"
                                           + (f", waits {w} s" if w else "")
                                           for c, n, w in waits))
    return wait, kind


@bp.post("/logout")
def logout():
    """Sign out: the session ends in Redis, so its cookie is worthless wherever it is."""
    agent_id = end_this_session()
    if agent_id:
        record_audit(Action.CONSOLE_SIGNOUT, agent_id, actor=agent_id)
        log.info("console: agent %s signed out", agent_id)
    return redirect(url_for("console.login"))
