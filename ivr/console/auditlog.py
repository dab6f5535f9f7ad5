"""The audit trail for supervisors: who signed in (or failed to), who played which voicemail,
who changed which advisor (``ivr.audit``), newest first, filtered by advisor, action and
period, a page at a time. Supervisors only; reading it is not itself audited.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from flask import render_template, request

from ivr import agents, audit
from ivr.audit import Action
from ivr.console.base import bp, ivr, now
from ivr.console.manage import supervisors_only

PAGE_SIZE = 50
MAX_PAGE = 100  # a page deeper than this is better found by narrowing the filters
PERIODS = {"1": "the last day", "7": "the last 7 days", "30": "the last 30 days",
           "365": "the last year", "all": "all kept"}
DEFAULT_PERIOD = "30"
ACTOR = re.compile(r"\d{4,8}|cli|anonymous")
LABELS = {
    Action.CONSOLE_SIGNIN: "signed in to the console",
    Action.CONSOLE_SIGNIN_FAILED: "failed console sign-in",
    Action.CONSOLE_SIGNOUT: "signed out of the console",
    Action.LINE_SIGNIN: "signed in on the agent line",
    Action.LINE_SIGNIN_FAILED: "failed agent line sign-in",
    Action.LOCKED: "sign-in wait started",
    Action.UNLOCKED: "sign-in wait cleared",
    Action.VOICEMAIL_PLAYED: "played a voicemail",
    Action.OUTCOME_RECORDED: "recorded a callback outcome",
    Action.CALLBACK_DIALLED: "dialled a callback",
    Action.AGENT_ADDED: "added an agent",
    Action.AGENT_CHANGED: "changed an agent",
    Action.AGENT_REMOVED: "removed an agent",
    Action.PASSWORD_CHANGED: "set a console password",
    Action.PIN_CHANGED: "set a phone PIN",
    Action.SESSIONS_ENDED: "signed an agent out everywhere",
    Action.WALLBOARD_LINK_CREATED: "created a wallboard kiosk link",
    Action.WALLBOARD_LINK_REVOKED: "revoked a wallboard kiosk link",
    Action.CONTROL_SET: "set a live control",
    Action.CONTROL_CLEARED: "ended a live control",
    Action.AGENT_STATE_SET: "set an advisor's state",
}


def _stamp(ts: float) -> str:
    """'Tue 1 Dec 2026 10:05:09' in the council's timezone."""
    local = datetime.fromtimestamp(ts, UTC).astimezone(ivr().hours.tz)
    return f"{local:%a} {local.day} {local:%b %Y %H:%M:%S}"


def _page_number(raw: str) -> int:
    return min(MAX_PAGE, max(1, int(raw))) if raw.isdigit() and len(raw) < 6 else 1


@bp.get("/audit")
@supervisors_only
def audit_page():
    """The audit trail, newest first: ``actor``, ``action``, ``period`` and ``page`` filter."""
    actor = request.args.get("actor", "").strip()
    actor = actor if ACTOR.fullmatch(actor) else ""
    action = request.args.get("action", "")
    action = action if action in set(Action) else ""
    period = request.args.get("period", DEFAULT_PERIOD)
    period = period if period in PERIODS else DEFAULT_PERIOD
    page = _page_number(request.args.get("page", ""))
    app = ivr()
    since = None if period == "all" else now() - int(period) * 86400
    found = audit.read(app.redis, since=since, actor=actor or None, action=action or None,
                       limit=page * PAGE_SIZE + 1)
    shown = found[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]
    names = {a.id: a.name for a in agents.all_agents(app.redis)}
    rows: list[dict[str, Any]] = [{
        "when": _stamp(e.ts), "actor": e.actor, "actor_name": names.get(e.actor, ""),
        "action": e.action, "label": LABELS.get(e.action, e.action), "target": e.target,
        "target_name": names.get(e.target, ""),
        "detail": [(k, "yes" if v is True else "no" if v is False else str(v))
                   for k, v in sorted(e.detail.items())],
    } for e in shown]
    filters = {"actor": actor, "action": action, "period": period}
    return render_template(
        "console/audit.html", rows=rows, filters=filters, page=page,
        newer=page > 1, older=len(found) > page * PAGE_SIZE and page < MAX_PAGE,
        actions=[(str(a), LABELS.get(a, str(a))) for a in Action], periods=PERIODS,
        advisors=sorted(names.items()))
