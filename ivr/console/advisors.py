"""Advisor controls in the console: a supervisor edits an advisor (name, departments, phone:
their agent number stays), sets their state (sign out, break, available), ends a lockout of
the agent line, and removes them only after a confirmation page; every advisor sets their own
state on the "My state" page.

State changes follow ``ivr.agents.manual`` (its rules, its AGENTSTATE event, its audit
entry); a signed-out advisor's agent-line call is ended at Twilio, so their phone is free and
the line's next step cannot act for them. Edits reuse the rules the CLI uses
(``ivr.credentials``, ``ivr.agents.changes``) and are audited as ``AGENT_CHANGED``.
"""

from __future__ import annotations

import logging

from flask import abort, flash, redirect, render_template, request, url_for

from ivr import agents, credentials, twilio_rest
from ivr.agents import AgentError, State, changes, lockout, manual
from ivr.audit import Action
from ivr.console import session as sessions
from ivr.console.auth import unlock_console
from ivr.console.base import bp, ivr, limits, now, record_audit, user
from ivr.console.manage import supervisors_only
from ivr.phone import check_caller_id, mask

log = logging.getLogger(__name__)

STATE_BUTTONS = (("available", "Available"), ("break", "On a break"),
                 ("signed_out", "Signed out"))


def _agent_or_404(agent_id: str) -> agents.Agent:
    agent = agents.get(ivr().redis, agent_id) if agent_id.isdigit() else None
    if agent is None:
        abort(404)
    return agent


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _set_state(agent_id: str, wanted: str) -> bool:
    """Move the advisor by hand and end their line call on sign-out; flashes the outcome."""
    if wanted not in manual.CHOICES:
        flash("Choose available, on a break or signed out.", "error")
        return False
    app = ivr()
    try:
        moved = manual.set_by_hand(app.redis, agent_id, manual.CHOICES[wanted],
                                   actor=user().id, now=now(),
                                   retention_days=app.config.audit.retention_days)
    except AgentError as exc:
        flash(_sentence(str(exc)), "error")
        return False
    if moved.line:
        try:
            twilio_rest.hang_up(moved.line)
        except Exception as exc:  # noqa: BLE001 - the sign-out stands; their next step ends it
            log.warning("console: agent %s's line %s could not be ended: %s", agent_id,
                        moved.line, exc)
    log.info("console: %s set agent %s %s -> %s", user().id, agent_id, moved.previous,
             moved.agent.state)
    who = "You are" if agent_id == user().id else f"{moved.agent.name} is"
    flash(f"{who} now {manual.LABELS[moved.agent.state]}.", "ok")
    return True


@bp.get("/me")
def my_state():
    """Every advisor: their own state, and buttons to change it."""
    me = _agent_or_404(user().id)
    return render_template("console/my_state.html", me=me, label=manual.LABELS[me.state],
                           buttons=[(v, t) for v, t in STATE_BUTTONS
                                    if manual.CHOICES[v] is not me.state],
                           signed_out=me.state is State.SIGNED_OUT,
                           on_call=me.state is State.ON_CALL)


@bp.post("/me/state")
def set_my_state():
    _set_state(user().id, request.form.get("state", ""))
    return redirect(url_for("console.my_state"))


@bp.get("/agents/<agent_id>/edit")
@supervisors_only
def edit_agent(agent_id: str):
    """One advisor: edit their details, set their state, end their agent-line lockout."""
    agent = _agent_or_404(agent_id)
    app = ivr()
    at = now()
    locked = {e.agent_id: e.until for e in lockout.lockouts(app.redis, at)}
    return render_template("console/agent_edit.html", a=agent, label=manual.LABELS[agent.state],
                           departments=app.config.departments, locked=agent.id in locked,
                           buttons=[(v, t) for v, t in STATE_BUTTONS
                                    if manual.CHOICES[v] is not agent.state],
                           phone=agent.phone)


@bp.post("/agents/<agent_id>/edit")
@supervisors_only
def save_agent(agent_id: str):
    """Name, departments and phone, each checked first; nothing is stored if one is wrong.
    The agent number never changes."""
    agent = _agent_or_404(agent_id)
    app = ivr()
    form = request.form
    problems, changed = [], {}
    try:
        name = credentials.check_name(form.get("name") or "")
    except ValueError as exc:
        problems.append(_sentence(str(exc)))
    departments = form.getlist("departments")
    if any(d not in app.config.departments for d in departments):
        problems.append("Choose departments from the list.")
    phone_raw = (form.get("phone") or "").strip()
    phone = check_caller_id(phone_raw).e164 if phone_raw else ""
    if phone_raw and not phone:
        problems.append("That phone number is not a UK number we can call.")
    if problems:
        for p in problems:
            flash(p, "error")
        return redirect(url_for("console.edit_agent", agent_id=agent_id))
    r = app.redis
    try:
        if phone != agent.phone:
            changes.set_phone(r, agent_id, phone, agent.phone)
            changed["phone"] = mask(phone) if phone else ""
        if name != agent.name:
            changes.rename(r, agent_id, name)
            changed["name"] = name
        if tuple(departments) != agent.departments:
            changes.set_departments(r, agent_id, departments)
            changed["departments"] = ",".join(departments)
    except AgentError as exc:
        flash(_sentence(str(exc)), "error")
        return redirect(url_for("console.edit_agent", agent_id=agent_id))
    if changed:
        record_audit(Action.AGENT_CHANGED, agent_id, **changed)
        flash(f"Saved agent {agent_id} ({', '.join(changed)}); their agent number is "
              "unchanged.", "ok")
    else:
        flash("Nothing was changed.", "ok")
    return redirect(url_for("console.edit_agent", agent_id=agent_id))


@bp.post("/agents/<agent_id>/state")
@supervisors_only
def force_state(agent_id: str):
    """A supervisor sets an advisor's state: sign out, break, available."""
    _agent_or_404(agent_id)
    _set_state(agent_id, request.form.get("state", ""))
    return redirect(request.form.get("back") == "agents" and url_for("console.agents_page")
                    or url_for("console.edit_agent", agent_id=agent_id))


@bp.post("/agents/<agent_id>/unlock-line")
@supervisors_only
def unlock_line(agent_id: str):
    """End the advisor's lockout of the agent line and their console sign-in wait."""
    _agent_or_404(agent_id)
    app = ivr()
    keep = app.config.audit.retention_days
    done = lockout.unlock(app.redis, agent_id, user().id, now(), retention_days=keep)
    unlock_console(app.redis, agent_id, actor=user().id, now=now(), retention_days=keep)
    flash(f"Agent {agent_id} can sign in again now"
          + (" (their agent line lockout has ended)." if done.agent_line else "."), "ok")
    return redirect(url_for("console.edit_agent", agent_id=agent_id))


@bp.get("/agents/<agent_id>/remove")
@supervisors_only
def confirm_remove(agent_id: str):
    """The confirmation step before removing an advisor (works without script)."""
    agent = _agent_or_404(agent_id)
    if agent_id == user().id:
        flash("You cannot remove yourself.", "error")
        return redirect(url_for("console.agents_page"))
    app = ivr()
    live = sessions.live_counts(app.redis, [agent_id], now(), limits(app.config)).get(agent_id, 0)
    return render_template("console/agent_remove.html", a=agent,
                           label=manual.LABELS[agent.state], sessions=live)
