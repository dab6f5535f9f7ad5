"""The live view: callers waiting per department, the longest wait, and agents by state.

Figures come from ``ivr.report.live.read_now`` (the queue zsets the call flows keep, the agent
hashes; the same reader as ``/metrics`` and the wallboard), two round trips per refresh. The
page polls ``live.json`` every two seconds; the server renders the same figures into the first
page so it works without script.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, render_template

from flows.agent_line import spoken_duration
from ivr.agents import Agent, State
from ivr.console.base import bp, ivr, now, shares_department, user, visible_departments
from ivr.report import live as report_live

STATE_ORDER = (State.AVAILABLE, State.ON_CALL, State.WRAP_UP, State.ON_BREAK, State.SIGNED_OUT)
STATE_LABELS = {
    State.AVAILABLE: "Available", State.ON_CALL: "On a call", State.WRAP_UP: "Wrap-up",
    State.ON_BREAK: "On a break", State.SIGNED_OUT: "Signed out",
}
POLL_MS = 2000


def elapsed(seconds: float) -> str:
    """'45 seconds', '2 minutes 10 seconds', '3 h 20 min', '4 days': how long, for the eye."""
    seconds = max(0, int(seconds))
    if seconds < 3600:
        return spoken_duration(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours // 24} days" if hours >= 48 else f"{hours} h {rest // 60} min"


def queue_rows(live: report_live.Now) -> list[dict[str, Any]]:
    """Per department: how many wait and how long the front caller has waited."""
    config = ivr().config
    return [{"id": dept, "name": config.departments[dept].name, "waiting": q.waiting,
             "longest_seconds": q.longest, "longest": elapsed(q.longest) if q.waiting else "–"}
            for dept, q in live.queues.items()]


def state_label(agent: Agent) -> str:
    """'Signed out (left the agent line (found by the reconciler))': a sign-out not of the
    advisor's own keying says why, so a supervisor sees a dead phone or a forced change."""
    label = STATE_LABELS[agent.state]
    if agent.state is State.SIGNED_OUT and agent.state_reason not in ("", "agent line"):
        return f"{label}: {agent.state_reason}"
    return label


def agent_rows(live: report_live.Now, viewer: Agent) -> tuple[list[dict[str, Any]],
                                                               list[dict[str, Any]]]:
    """Colleagues the viewer may see, by state then name, and how many are in each state."""
    config = ivr().config
    seen = [a for a in live.agents if shares_department(config, viewer, a)]
    seen.sort(key=lambda a: (STATE_ORDER.index(a.state), a.name.lower(), a.id))
    rows = [{"id": a.id, "name": a.name, "state": str(a.state),
             "state_label": state_label(a),
             "in_state_seconds": max(0, int(live.at - a.state_since)),
             "in_state": elapsed(live.at - a.state_since)} for a in seen]
    counts = report_live.by_state(seen)
    return rows, [{"state": str(s), "label": STATE_LABELS[s], "count": counts[s]}
                  for s in STATE_ORDER]


def figures() -> dict[str, Any]:
    viewer = user()
    live = report_live.read_now(ivr().redis, visible_departments(ivr().config, viewer), now(),
                                callbacks=False)
    departments = queue_rows(live)
    agents, counts = agent_rows(live, viewer)
    return {"at": live.at, "departments": departments, "agents": agents, "states": counts,
            "waiting": sum(d["waiting"] for d in departments)}


@bp.get("/")
def live():
    """The console home: the live view."""
    return render_template("console/live.html", live=figures(), poll_ms=POLL_MS)


@bp.get("/live.json")
def live_json():
    """What the live page polls; the script writes it into the page with textContent only."""
    return jsonify(figures())
