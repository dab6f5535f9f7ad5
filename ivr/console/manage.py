"""Supervisors manage agents from the console: add, remove, set a password.

The same records the ``ivr agents`` CLI manages (``ivr.agents``); secrets are stored only as
scrypt hashes. Agents who are not supervisors get 403 on every page and form here.
"""

from __future__ import annotations

import logging
from functools import wraps

from flask import abort, flash, redirect, render_template, request, session, url_for

from ivr import agents
from ivr.agents import AgentError, Role
from ivr.console.base import bp, ivr, now, password_mark, user
from ivr.phone import check_caller_id

log = logging.getLogger(__name__)

MIN_PASSWORD = 10
MAX_NAME = 60


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


def _password_problem(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        return f"A password needs at least {MIN_PASSWORD} characters."
    return ""


@bp.get("/agents")
@supervisors_only
def agents_page():
    """Every agent, with forms to add one, remove one or set a password."""
    config = ivr().config
    return render_template("console/agents.html", agents=agents.all_agents(ivr().redis),
                           departments=config.departments, roles=[str(r) for r in Role],
                           min_password=MIN_PASSWORD)


@bp.post("/agents")
@supervisors_only
def add_agent():
    """Add an agent from the form; every field is checked before anything is stored."""
    config = ivr().config
    form = request.form
    name = " ".join((form.get("name") or "").split())
    departments = form.getlist("departments")
    phone_raw = (form.get("phone") or "").strip()
    password = form.get("password") or ""
    pin = (form.get("pin") or "").strip()
    problems = []
    if not name or len(name) > MAX_NAME:
        problems.append(f"Give a name of 1 to {MAX_NAME} characters.")
    if any(d not in config.departments for d in departments):
        problems.append("Choose departments from the list.")
    if form.get("role") not in {str(r) for r in Role}:
        problems.append("Choose a role.")
    phone = check_caller_id(phone_raw).e164 if phone_raw else ""
    if phone_raw and not phone:
        problems.append("That phone number is not a UK number we can call.")
    if problem := _password_problem(password):
        problems.append(problem)
    if pin and not (pin.isdigit() and 4 <= len(pin) <= 8):
        problems.append("A PIN is 4 to 8 digits.")
    if problems:
        for p in problems:
            flash(p, "error")
        return _back()
    r = ivr().redis
    try:
        agent = agents.add(r, name=name, departments=departments, phone=phone or "",
                           role=Role(form["role"]), now=now())
    except AgentError as exc:
        flash(str(exc).capitalize() + ".", "error")
        return _back()
    agents.set_secret(r, agent.id, "password_hash", password)
    if pin:
        agents.set_secret(r, agent.id, "pin_hash", pin)
    log.info("console: supervisor %s added agent %s (%s)", user().id, agent.id, agent.role)
    flash(f"Added agent {agent.id}: {agent.name}.", "ok")
    return _back()


@bp.post("/agents/<agent_id>/remove")
@supervisors_only
def remove_agent(agent_id: str):
    """Remove an agent (never yourself: a supervisor cannot lock everyone out by accident)."""
    if agent_id == user().id:
        flash("You cannot remove yourself.", "error")
        return _back()
    try:
        agents.remove(ivr().redis, agent_id)
    except AgentError:
        abort(404)
    log.info("console: supervisor %s removed agent %s", user().id, agent_id)
    flash(f"Removed agent {agent_id}.", "ok")
    return _back()


@bp.post("/agents/<agent_id>/password")
@supervisors_only
def set_password(agent_id: str):
    """A new console password; the agent's other sessions end (the session checks the hash)."""
    password = request.form.get("password") or ""
    if problem := _password_problem(password):
        flash(problem, "error")
        return _back()
    try:
        agents.set_secret(ivr().redis, agent_id, "password_hash", password)
    except AgentError:
        abort(404)
    if agent_id == user().id:
        session["pw"] = password_mark(ivr().redis, agent_id)  # keep this session signed in
    log.info("console: supervisor %s set the password of agent %s", user().id, agent_id)
    flash(f"Password set for agent {agent_id}.", "ok")
    return _back()
