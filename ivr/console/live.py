"""The live view: callers waiting per department, the longest wait, and agents by state.

Figures come straight from the system's own records in Redis (the queue zsets the call flows
keep, the agent hashes), two round trips per refresh. The page polls ``live.json`` every two
seconds; the server renders the same figures into the first page so it works without script.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, render_template

from flows.agent_line import spoken_duration
from ivr import agents, store
from ivr.agents import Agent, State
from ivr.console.base import bp, ivr, now, shares_department, user, visible_departments

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


def queue_figures(departments: list[str], at: float) -> list[dict[str, Any]]:
    """Per department: how many wait (ZCARD) and how long the front caller has waited."""
    app = ivr()
    pipe = app.redis.pipeline(transaction=False)
    for dept in departments:
        pipe.zcard(store.queue_key(dept))
        pipe.zrange(store.queue_key(dept), 0, 0, withscores=True)
    results = pipe.execute()
    rows = []
    for i, dept in enumerate(departments):
        waiting, front = int(results[2 * i]), results[2 * i + 1]
        longest = max(0, int(at - front[0][1])) if front and waiting else 0
        rows.append({"id": dept, "name": app.config.departments[dept].name, "waiting": waiting,
                     "longest_seconds": longest,
                     "longest": elapsed(longest) if waiting else "–"})
    return rows


def agent_figures(viewer: Agent, at: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Colleagues the viewer may see, by state then name, and how many are in each state."""
    config = ivr().config
    seen = [a for a in agents.all_agents(ivr().redis) if shares_department(config, viewer, a)]
    seen.sort(key=lambda a: (STATE_ORDER.index(a.state), a.name.lower(), a.id))
    rows = [{"id": a.id, "name": a.name, "state": str(a.state),
             "state_label": STATE_LABELS[a.state],
             "in_state_seconds": max(0, int(at - a.state_since)),
             "in_state": elapsed(at - a.state_since)} for a in seen]
    counts = [{"state": str(s), "label": STATE_LABELS[s],
               "count": sum(1 for a in seen if a.state is s)} for s in STATE_ORDER]
    return rows, counts


def figures() -> dict[str, Any]:
    at = now()
    viewer = user()
    departments = queue_figures(visible_departments(ivr().config, viewer), at)
    agent_rows, counts = agent_figures(viewer, at)
    return {"at": at, "departments": departments, "agents": agent_rows, "states": counts,
            "waiting": sum(d["waiting"] for d in departments)}


@bp.get("/")
def live():
    """The console home: the live view."""
    return render_template("console/live.html", live=figures(), poll_ms=POLL_MS)


@bp.get("/live.json")
def live_json():
    """What the live page polls; the script writes it into the page with textContent only."""
    return jsonify(figures())
