"""The live view: queues now and today, agents by state, and each advisor's day.

Now (callers waiting, the longest wait, agents' states) comes from ``ivr.report.live.read_now``
(the queue zsets the call flows keep, the agent hashes; the same reader as ``/metrics`` and the
wallboard); today (offered, service level, abandons, average answer per department; calls,
handle time, occupancy, FCR and callbacks per advisor) from the day's events through
``ivr.report`` (``compute`` and ``report.advisors``), read once per process and then only the
new ones: two round trips per refresh. The page polls ``live.json`` every two seconds; the
server renders the same figures into the first page so it works without script.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, render_template

from ivr import report
from ivr.agents import Agent, State
from ivr.console.base import (
    bp,
    elapsed,
    ivr,
    now,
    shares_department,
    user,
    visible_departments,
)
from ivr.report import Report
from ivr.report import live as report_live
from ivr.report.advisors import AdvisorDay

STATE_ORDER = (State.AVAILABLE, State.ON_CALL, State.WRAP_UP, State.ON_BREAK, State.SIGNED_OUT)
STATE_LABELS = {
    State.AVAILABLE: "Available", State.ON_CALL: "On a call", State.WRAP_UP: "Wrap-up",
    State.ON_BREAK: "On a break", State.SIGNED_OUT: "Signed out",
}
POLL_MS = 2000


# Long waits are told by words and a sign as well as colour (WCAG 1.4.1).
WAIT_WORDS = {"ok": "", "amber": "near the limit", "red": "over the limit"}
WAIT_SIGNS = {"ok": "", "amber": "▲", "red": "■"}


def percent(share: float | None) -> str:
    return "–" if share is None else f"{share * 100:.0f}%"


def minutes_seconds(seconds: float | None) -> str:
    """'2:05' for a duration ('–' when there is none)."""
    if seconds is None:
        return "–"
    whole = max(0, round(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


def queue_rows(live: report_live.Now, today: Report, limit: int) -> list[dict[str, Any]]:
    """Per department: how many wait, how long the front caller has waited (and whether that
    nears the limit), and today's offered, service level, abandons and average answer."""
    config = ivr().config
    rows = []
    for dept, q in live.queues.items():
        day = today.by_department.get(dept)
        level = report_live.wait_level(q.longest, limit) if q.waiting else "ok"
        rows.append({
            "id": dept, "name": config.departments[dept].name, "waiting": q.waiting,
            "longest_seconds": q.longest, "longest": elapsed(q.longest) if q.waiting else "–",
            "wait_level": level, "wait_words": WAIT_WORDS[level], "wait_sign": WAIT_SIGNS[level],
            "offered": day.offered if day else 0,
            "service_level": percent(day.service_level if day else None),
            "abandoned": day.abandoned if day else 0,
            "average_answer": minutes_seconds(day.mean_wait if day else None),
        })
    return rows


def state_label(agent: Agent) -> str:
    """'Signed out (left the agent line (found by the reconciler))': a sign-out not of the
    advisor's own keying says why, so a supervisor sees a dead phone or a forced change."""
    label = STATE_LABELS[agent.state]
    if agent.state is State.SIGNED_OUT and agent.state_reason not in ("", "agent line"):
        return f"{label}: {agent.state_reason}"
    return label


DAY_FIGURES = ("calls", "handle_time", "occupancy", "fcr", "callbacks")


def day_figures(day: AdvisorDay) -> dict[str, Any]:
    """An advisor's day as the live view shows it."""
    return {"calls": day.calls, "handle_time": minutes_seconds(day.handle_time),
            "occupancy": percent(day.occupancy), "fcr": percent(day.fcr),
            "callbacks": day.callbacks}


def agent_rows(live: report_live.Now, viewer: Agent,
               advisors: dict[str, AdvisorDay]) -> tuple[list[dict[str, Any]],
                                                         list[dict[str, Any]]]:
    """Colleagues the viewer may see, by state then name, with their day so far (supervisors
    see everyone's; an advisor sees their own, a colleague's figures are not theirs to see),
    and how many are in each state."""
    config = ivr().config
    seen = [a for a in live.agents if shares_department(config, viewer, a)]
    seen.sort(key=lambda a: (STATE_ORDER.index(a.state), a.name.lower(), a.id))
    rows = []
    for a in seen:
        day = advisors.get(a.id) or AdvisorDay(a.id)
        if not (viewer.supervisor or a.id == viewer.id):
            day = None
        rows.append({
            "id": a.id, "name": a.name, "state": str(a.state),
            "state_label": state_label(a),
            "in_state_seconds": max(0, int(live.at - a.state_since)),
            "in_state": elapsed(live.at - a.state_since),
            **(day_figures(day) if day else dict.fromkeys(DAY_FIGURES, "–")),
        })
    counts = report_live.by_state(seen)
    return rows, [{"state": str(s), "label": STATE_LABELS[s], "count": counts[s]}
                  for s in STATE_ORDER]


def figures() -> dict[str, Any]:
    viewer = user()
    app = ivr()
    options = report.settings(app.config) | {"hours": app.hours}
    view = report_live.live_view(app.redis, visible_departments(app.config, viewer), now(),
                                 **options)
    departments = queue_rows(view.now, view.today, options["limit"])
    agents, counts = agent_rows(view.now, viewer, view.advisors)
    return {"at": view.now.at, "departments": departments, "agents": agents, "states": counts,
            "waiting": sum(d["waiting"] for d in departments), "limit": options["limit"]}


@bp.get("/")
def live():
    """The console home: the live view."""
    return render_template("console/live.html", live=figures(), poll_ms=POLL_MS)


@bp.get("/live.json")
def live_json():
    """What the live page polls; the script writes it into the page with textContent only."""
    return jsonify(figures())
