"""The Controls page: supervisors change how calls are answered, live, with no restart.

Closures (a whole date, or a span today, with their message), announcements (every caller, or
one department's, between a start and an end), the emergency switch and each department's
queue open or closed. The values and their checks are ``ivr.controls``'; they are stored with
their audit entries by ``ivr.controls_store``, and the next call's first request reads them.
Times are typed and shown in the council's time zone (Europe/London).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import flash, redirect, render_template, request, url_for

from ivr import controls, controls_store
from ivr.console.base import bp, ivr, now, user
from ivr.console.manage import supervisors_only
from ivr.controls import ControlError


def _back():
    return redirect(url_for("console.controls_page"))


def _refused(exc: ControlError) -> None:
    text = str(exc)
    flash(text[:1].upper() + text[1:] + ".", "error")


def _now() -> datetime:
    return datetime.fromtimestamp(now(), UTC)


def _keep() -> int:
    return ivr().config.audit.retention_days


@bp.get("/controls")
@supervisors_only
def controls_page():
    """Every live control, and the forms that set them."""
    app = ivr()
    tz = app.hours.tz
    at = _now()
    live = controls_store.load(app.redis)
    local = at.astimezone(tz)
    closures = [{"id": c.id, "when": controls.describe(c, tz), "message": c.message,
                 "in_force": c.start <= at, "whole_day": c.whole_day}
                for c in live.closures if c.end > at]
    announcements = [{"id": a.id, "when": controls.describe(a, tz), "message": a.message,
                      "in_force": a.start <= at,
                      "who": (app.config.departments[a.department].name
                              if a.department in app.config.departments else "Every caller")}
                     for a in live.announcements if a.end > at]
    queues = [{"id": dept, "name": d.name, "closed": live.queues_closed.get(dept),
               "default": app.config.messages.queue_closed.format(department=d.name)}
              for dept, d in app.config.departments.items()]
    emergency = live.emergency
    return render_template(
        "console/controls.html", closures=closures, announcements=announcements,
        queues=queues, emergency=emergency,
        emergency_since=(emergency.since.astimezone(tz).strftime("%H:%M on %a %d %b")
                         if emergency else ""),
        today=local.date().isoformat(), now_hm=local.strftime("%H:%M"),
        later_hm=min(local + timedelta(hours=1),
                     local.replace(hour=23, minute=59)).strftime("%H:%M"),
        later_date=(local + timedelta(hours=1)).date().isoformat(),
        later_time=(local + timedelta(hours=1)).strftime("%H:%M"),
        departments=app.config.departments, max_message=controls.MAX_MESSAGE,
        baseline_closures=[d.isoformat() for d in sorted(app.config.hours.closures)])


@bp.post("/controls/closures")
@supervisors_only
def add_closure():
    """A closure: the whole of ``date``, or today ``start`` to ``end``."""
    form = request.form
    app = ivr()
    tz, at = app.hours.tz, _now()
    ident = controls_store.new_id()
    try:
        if form.get("kind") == "day":
            closure = controls.day_closure(ident, controls.parse_date(form.get("date", "")),
                                           form.get("message", ""), at, tz, set_by=user().id)
        else:
            start, end = controls.span_today(form.get("start", ""), form.get("end", ""), at, tz)
            closure = controls.span_closure(ident, start, end, form.get("message", ""), at,
                                            set_by=user().id)
    except ControlError as exc:
        _refused(exc)
        return _back()
    controls_store.put_closure(app.redis, closure, user().id, now(), _keep())
    flash(f"Closure set: {controls.describe(closure, tz)}. Callers hear: {closure.message}",
          "ok")
    return _back()


@bp.post("/controls/announcements")
@supervisors_only
def add_announcement():
    """An announcement from ``start`` (default now) until ``end``, for every caller or for
    those who choose ``department``."""
    form = request.form
    app = ivr()
    tz, at = app.hours.tz, _now()
    try:
        start = (controls.parse_when(f"{form.get('start_date', '')} {form.get('start', '')}",
                                     tz, "start") if form.get("start") else at)
        end = controls.parse_when(f"{form.get('end_date', '')} {form.get('end', '')}", tz,
                                  "end")
        a = controls.announcement(controls_store.new_id(), form.get("message", ""), start, end,
                                  form.get("department", ""), app.config.departments, at,
                                  set_by=user().id)
    except ControlError as exc:
        _refused(exc)
        return _back()
    controls_store.put_announcement(app.redis, a, user().id, now(), _keep())
    flash(f"Announcement set: {controls.describe(a, tz)}.", "ok")
    return _back()


@bp.post("/controls/<kind>/<ident>/end")
@supervisors_only
def end_control(kind: str, ident: str):
    """End a closure or an announcement now."""
    if kind not in ("closure", "announcement"):
        return _back()
    done = controls_store.clear(ivr().redis, f"{kind}:{ident}", user().id, now(), _keep())
    flash(f"The {kind} has ended." if done else f"That {kind} had ended already.",
          "ok" if done else "error")
    return _back()


@bp.post("/controls/emergency")
@supervisors_only
def emergency():
    """Switch the emergency on ("closed" or "aware", with its message) or ``off``."""
    form = request.form
    app = ivr()
    mode = form.get("mode", "")
    if mode == "off":
        done = controls_store.clear(app.redis, "emergency", user().id, now(), _keep())
        flash("Emergency switched off." if done else "No emergency was on.", "ok")
        return _back()
    try:
        if mode not in set(controls.EmergencyMode):
            raise ControlError("mode: choose closed or aware")
        e = controls.Emergency(controls.EmergencyMode(mode),
                               controls.check_message(form.get("message", "")), _now(),
                               user().id)
    except ControlError as exc:
        _refused(exc)
        return _back()
    controls_store.set_emergency(app.redis, e, user().id, now(), _keep())
    flash("Emergency on: " + ("the lines are closed. " if e.mode is controls.EmergencyMode.CLOSED
                              else "said to every caller. ") + f"Callers hear: {e.message}",
          "ok")
    return _back()


@bp.post("/controls/queues/<dept>")
@supervisors_only
def queue_state(dept: str):
    """Close a department's queue (its callers are offered a voicemail at once) or open it."""
    app = ivr()
    if dept not in app.config.departments:
        return _back()
    name = app.config.departments[dept].name
    if request.form.get("state") == "open":
        controls_store.clear(app.redis, f"queue:{dept}", user().id, now(), _keep())
        flash(f"The {name} queue is open.", "ok")
        return _back()
    raw = request.form.get("message", "")
    try:
        message = controls.check_message(raw) if raw.strip() else ""
    except ControlError as exc:
        _refused(exc)
        return _back()
    controls_store.close_queue(app.redis, controls.QueueClosed(dept, message, _now(),
                                                               user().id), user().id, now(),
                               _keep())
    flash(f"The {name} queue is closed: its callers are offered a voicemail at once.", "ok")
    return _back()
