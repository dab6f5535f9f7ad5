"""Supervisors manage agents from the console: add, remove, set a password, sign an agent out
everywhere, clear an agent's sign-in wait.

The same records the ``ivr agents`` CLI manages (``ivr.agents``); secrets are stored only as
scrypt hashes. A new password or removal ends the agent's console sessions at once. Every
change is audited (``ivr.audit``). Agents who are not supervisors get 403 on every page and
form here.
"""

from __future__ import annotations

import logging
from functools import wraps

from flask import abort, flash, g, redirect, render_template, request, url_for

from ivr import agents, credentials
from ivr.agents import AgentError, Role, manual
from ivr.audit import Action
from ivr.console import session as sessions
from ivr.console.auth import unlock_console, waiting
from ivr.console.base import (
    bp,
    end_this_session,
    ivr,
    limits,
    now,
    password_mark,
    record_audit,
    user,
)
from ivr.console.throttle import Policy, in_words
from ivr.phone import check_caller_id

log = logging.getLogger(__name__)



def supervisors_only(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if not user().supervisor:
            log.warning("console: agent %s tried %s (supervisors only)", user().id, request.path)
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def _back():
    return redirect(url_for("console.agents_page"))


def _problem(check, *args, **kwargs) -> str:
    """The one-line reason ``check`` (``ivr.credentials``: the rules the CLI uses too)
    refuses a value, as a sentence for the page; "" when it is accepted."""
    try:
        check(*args, **kwargs)
    except ValueError as exc:
        return str(exc)[:1].upper() + str(exc)[1:] + "."
    return ""


def _password_problem(password: str) -> str:
    return _problem(credentials.check_password, password)


def _known(agent_id: str) -> None:
    if agents.get(ivr().redis, agent_id) is None:
        abort(404)


@bp.get("/agents")
@supervisors_only
def agents_page():
    """Every agent, with forms to add one, remove one, set a password, sign them out
    everywhere or clear their sign-in wait."""
    app = ivr()
    r = app.redis
    everyone = agents.all_agents(r)
    ids = [a.id for a in everyone]
    at = now()
    live = sessions.live_counts(r, ids, at, limits(app.config))
    waits = {agent_id: (failures, in_words(left) if left else "")
             for agent_id, (failures, left)
             in waiting(r, ids, Policy.account(app.config.agents), at).items()}
    return render_template("console/agents.html", agents=everyone,
                           departments=app.config.departments, roles=[str(r) for r in Role],
                           min_password=credentials.MIN_PASSWORD, sessions=live, waits=waits,
                           state_labels=manual.LABELS)


@bp.post("/agents")
@supervisors_only
def add_agent():
    """Add an agent from the form; every field is checked before anything is stored."""
    config = ivr().config
    form = request.form
    name_raw = form.get("name") or ""
    departments = form.getlist("departments")
    phone_raw = (form.get("phone") or "").strip()
    password = form.get("password") or ""
    pin = (form.get("pin") or "").strip()
    problems = []
    if problem := _problem(credentials.check_name, name_raw):
        problems.append(problem)
    if any(d not in config.departments for d in departments):
        problems.append("Choose departments from the list.")
    if form.get("role") not in {str(r) for r in Role}:
        problems.append("Choose a role.")
    phone = check_caller_id(phone_raw).e164 if phone_raw else ""
    if phone_raw and not phone:
        problems.append("That phone number is not a UK number we can call.")
    if problem := _password_problem(password):
        problems.append(problem)
    if pin and (problem := _problem(credentials.check_pin, pin, "", phone or "",
                                    min_length=config.agents.pin_min_length)):
        problems.append(problem)
    if problems:
        for p in problems:
            flash(p, "error")
        return _back()
    r = ivr().redis
    name = credentials.check_name(name_raw)
    try:
        agent = agents.add(r, name=name, departments=departments, phone=phone or "",
                           role=Role(form["role"]), now=now())
    except AgentError as exc:
        flash(str(exc).capitalize() + ".", "error")
        return _back()
    agents.set_secret(r, agent.id, "password_hash", password)
    if pin and (problem := _problem(credentials.check_pin, pin, agent.id, phone or "",
                                    min_length=config.agents.pin_min_length)):
        flash(f"{problem} Agent {agent.id} was added without a PIN: set one with "
              f"ivr agents set-pin {agent.id}.", "error")
        pin = ""
    elif pin:
        agents.set_secret(r, agent.id, "pin_hash", pin)
    record_audit(Action.AGENT_ADDED, agent.id, role=str(agent.role),
                 departments=",".join(agent.departments), phone=bool(phone), pin=bool(pin))
    log.info("console: supervisor %s added agent %s (%s)", user().id, agent.id, agent.role)
    flash(f"Added agent {agent.id}: {agent.name}.", "ok")
    return _back()


@bp.post("/agents/<agent_id>/remove")
@supervisors_only
def remove_agent(agent_id: str):
    """Remove an agent (never yourself: a supervisor cannot lock everyone out by accident);
    their console sessions end at once. Only with ``confirm=yes``, which the confirmation page
    (``advisors.confirm_remove``) sends; without it, that page is shown."""
    if agent_id == user().id:
        flash("You cannot remove yourself.", "error")
        return _back()
    if request.form.get("confirm") != "yes":
        return redirect(url_for("console.confirm_remove", agent_id=agent_id))
    r = ivr().redis
    try:
        agents.remove(r, agent_id)
    except AgentError:
        abort(404)
    ended = sessions.end_all(r, agent_id)
    record_audit(Action.AGENT_REMOVED, agent_id, sessions_ended=ended)
    log.info("console: supervisor %s removed agent %s", user().id, agent_id)
    flash(f"Removed agent {agent_id}.", "ok")
    return _back()


@bp.post("/agents/<agent_id>/password")
@supervisors_only
def set_password(agent_id: str):
    """A new console password; the agent's other sessions end at once."""
    password = request.form.get("password") or ""
    if problem := _password_problem(password):
        flash(problem, "error")
        return _back()
    r = ivr().redis
    try:
        agents.set_secret(r, agent_id, "password_hash", password)
    except AgentError:
        abort(404)
    mine = agent_id == user().id
    ended = sessions.end_all(r, agent_id, keep=g.sid if mine else "")
    if mine:
        sessions.set_mark(r, g.sid, password_mark(r, agent_id))  # this session carries on
    record_audit(Action.PASSWORD_CHANGED, agent_id, sessions_ended=ended)
    log.info("console: supervisor %s set the password of agent %s", user().id, agent_id)
    flash(f"Password set for agent {agent_id}.", "ok")
    return _back()


@bp.post("/agents/<agent_id>/sign-out")
@supervisors_only
def end_sessions(agent_id: str):
    """Sign an agent out everywhere: every console session of theirs ends at once."""
    _known(agent_id)
    ended = sessions.end_all(ivr().redis, agent_id)
    record_audit(Action.SESSIONS_ENDED, agent_id, sessions=ended)
    log.info("console: supervisor %s ended %d console session(s) of agent %s", user().id,
             ended, agent_id)
    if agent_id == user().id:  # their own sessions, this one included
        end_this_session()
        return redirect(url_for("console.login"))
    plural = "" if ended == 1 else "s"
    flash(f"Agent {agent_id} is signed out everywhere ({ended} session{plural} ended).", "ok")
    return _back()


@bp.post("/agents/<agent_id>/unlock")
@supervisors_only
def unlock(agent_id: str):
    """Clear an agent's console sign-in wait, so the right password works at once."""
    _known(agent_id)
    app = ivr()
    unlock_console(app.redis, agent_id, actor=user().id, now=now(),
                   retention_days=app.config.audit.retention_days)
    flash(f"Agent {agent_id} can sign in again now.", "ok")
    return _back()
