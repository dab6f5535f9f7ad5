"""The wallboard: big figures per department for a screen on the contact centre's wall.

Per department: callers waiting, the longest wait now (amber as it nears the 2-minute limit,
red once it reaches it), agents available, today's service level and voicemails, callbacks due
and overdue, and the same for all the departments shown. Every figure comes from
``ivr.report.live.board``; this module only puts them into words. Agents see their own
departments, supervisors all. The page polls ``wallboard.json`` and writes the figures into the
page with textContent only (static/wallboard.js); the first page is rendered by the server.

The kiosk (``/console/kiosk/<token>``) is the same board for every department, for a wall
screen that nobody signs in on: its link carries its own token (``ivr.kiosk``: stored
hashed, revocable, audited), and the page has no navigation and no personal data.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import abort, jsonify, render_template

from ivr import kiosk, report
from ivr.console.base import PUBLIC, bp, department_name, ivr, now, user, visible_departments
from ivr.report import live as report_live

POLL_MS = 3000


def clock(seconds: int) -> str:
    """A wait as a wall clock reads it: '0:45', '2:05', '1:02:03'."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def percent(share: float | None) -> str:
    return "–" if share is None else f"{share * 100:.0f}%"


def limit_words(limit: int) -> str:
    return f"{limit // 60} min" if limit % 60 == 0 else f"{limit} s"


def row_figures(row: report_live.Row, limit: int, total_name: str = "") -> dict[str, Any]:
    """One row of the board as the page shows it (numbers, and their words)."""
    today = row.today
    return {
        "id": row.department,
        "name": department_name(row.department) if row.department else total_name,
        "waiting": row.queue.waiting,
        "longest_seconds": row.queue.longest,
        "longest": clock(row.queue.longest) if row.queue.waiting else "–",
        "wait_level": row.wait_level,
        "available": row.available,
        "signed_in": row.signed_in,
        "staffing": f"of {row.signed_in} signed in",
        "offered": today.offered,
        "answered": today.answered,
        "answered_within": today.answered_within,
        "service_level": today.service_level,
        "service_level_text": percent(today.service_level),
        "service_level_detail": (f"{today.answered_within} of {today.offered} answered "
                                 f"within {limit_words(limit)}" if today.offered
                                 else "no calls yet today"),
        "voicemails": today.voicemails,
        "abandoned": today.abandoned,
        "average_answer": "–" if today.mean_wait is None else clock(round(today.mean_wait)),
        "callbacks_due": row.callbacks.due,
        "callbacks_overdue": row.callbacks.overdue,
        "callbacks_scheduled": row.callbacks.scheduled,
    }


def figures(shown: list[str] | None = None) -> dict[str, Any]:
    """The board for ``shown`` departments (None: those the signed-in agent sees)."""
    app = ivr()
    options = report.settings(app.config) | {"hours": app.hours}
    shown = visible_departments(app.config, user()) if shown is None else shown
    board = report_live.board(app.redis, shown, now(), **options)
    everything = len(shown) == len(app.config.departments)
    local = datetime.fromtimestamp(board.at, UTC).astimezone(app.hours.tz)
    return {
        "at": board.at,
        "at_text": f"{local:%H:%M:%S}",
        "limit": board.limit,
        "departments": [row_figures(r, board.limit) for r in board.rows],
        "total": row_figures(board.total, board.limit,
                             "All departments" if everything else "Your departments"),
    }


@bp.get("/wallboard")
def wallboard():
    """The wallboard page (agents: their departments; supervisors: all)."""
    return render_template("console/wallboard.html", board=figures(), poll_ms=POLL_MS)


@bp.get("/wallboard.json")
def wallboard_json():
    """What the wallboard polls; the script writes it into the page with textContent only."""
    return jsonify(figures())


PUBLIC.update({"console.kiosk_board", "console.kiosk_json"})


def _kiosk_link(token: str) -> kiosk.Link:
    found = kiosk.check(ivr().redis, token)
    if found is None:
        abort(404)
    return found


@bp.get("/kiosk/<token>")
def kiosk_board(token: str):
    """The kiosk wallboard: every department, read-only, for the holder of a live link."""
    link = _kiosk_link(token)
    return render_template("console/kiosk.html", board=figures(list(ivr().config.departments)),
                           poll_ms=POLL_MS, link=link, token=token)


@bp.get("/kiosk/<token>/board.json")
def kiosk_json(token: str):
    """What the kiosk polls; a revoked link gets 404 and the screen says so."""
    _kiosk_link(token)
    return jsonify(figures(list(ivr().config.departments)))
