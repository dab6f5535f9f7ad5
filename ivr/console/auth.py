"""Signing in to the console with agent number and password; lockout after repeated failures.

Failures are counted per agent number in Redis (shared by every web process) within the lockout
period; at the limit the number is locked for ``agents.console_lockout_seconds``. Numbers that
are not agents count too, so the lockout says nothing about which numbers exist. Each failure
is logged and recorded as an event; the password never is.
"""

from __future__ import annotations

import logging
import re

from flask import g, redirect, render_template, request, session, url_for

from ivr import agents, events
from ivr.console.base import bp, ivr, now, start_session
from ivr.events import Event

log = logging.getLogger(__name__)

FAILS = "{{ivr}}:console:fails:{agent}"    # failures within the lockout period (expires)
LOCKED = "{{ivr}}:console:locked:{agent}"  # set while the account is locked (expires)
AGENT_NUMBER = re.compile(r"\d{4,8}")


def locked(agent_id: str) -> bool:
    return bool(ivr().redis.exists(LOCKED.format(agent=agent_id)))


def record_failure(agent_id: str, reason: str) -> bool:
    """Count one failure (log it, add an event); returns True if the account is now locked."""
    app = ivr()
    cfg = app.config.agents
    r = app.redis
    key = FAILS.format(agent=agent_id)
    pipe = r.pipeline(transaction=True)  # atomic on a cluster too (one slot: ivr.keys)
    pipe.incr(key)
    pipe.expire(key, cfg.console_lockout_seconds, nx=True)
    count = int(pipe.execute()[0])
    now_locked = count >= cfg.console_lockout_failures
    pipe = r.pipeline(transaction=True)  # atomic on a cluster too (one slot: ivr.keys)
    if now_locked:
        pipe.set(LOCKED.format(agent=agent_id), "1", ex=cfg.console_lockout_seconds)
        pipe.delete(key)
    events.add(pipe, events.fields(Event.AGENT_LOGIN_FAILED, "", now(), None, agent=agent_id,
                                   source="console", reason=reason, locked=now_locked),
               app.config.events.retention_days)
    pipe.execute()
    log.warning("console: failed sign-in for agent %s from %s (%s; %d of %d%s)", agent_id,
                request.remote_addr, reason, count, cfg.console_lockout_failures,
                "; account locked" if now_locked else "")
    return now_locked


def _refuse(message: str, status: int, agent_id: str = ""):
    return render_template("console/login.html", error=message, agent=agent_id), status


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The sign-in form; on success a fresh session (new CSRF token) and the live view."""
    if request.method == "GET":
        if g.get("user") is not None:
            return redirect(url_for("console.live"))
        return render_template("console/login.html", error="", agent="")
    agent_id = (request.form.get("agent") or "").strip()
    password = request.form.get("password") or ""
    bad = "That agent number and password do not match."
    if not AGENT_NUMBER.fullmatch(agent_id):
        log.warning("console: sign-in with a malformed agent number from %s", request.remote_addr)
        return _refuse(bad, 401)
    minutes = max(1, ivr().config.agents.console_lockout_seconds // 60)
    locked_msg = (f"Too many failed attempts: this account is locked for up to {minutes} "
                  "minutes. Ask a supervisor if you need to sign in sooner.")
    if locked(agent_id):
        log.warning("console: sign-in refused, agent %s is locked (from %s)", agent_id,
                    request.remote_addr)
        return _refuse(locked_msg, 429, agent_id)
    r = ivr().redis
    agent = agents.get(r, agent_id)
    if agent is None or not agents.check_secret(r, agent_id, "password_hash", password):
        if record_failure(agent_id, "unknown agent" if agent is None else "wrong password"):
            return _refuse(locked_msg, 429, agent_id)
        return _refuse(bad, 401, agent_id)
    r.delete(FAILS.format(agent=agent_id))
    start_session(agent)
    log.info("console: agent %s signed in from %s", agent_id, request.remote_addr)
    return redirect(url_for("console.live"))


@bp.post("/logout")
def logout():
    agent_id = session.get("agent", "")
    session.clear()
    if agent_id:
        log.info("console: agent %s signed out", agent_id)
    return redirect(url_for("console.login"))
