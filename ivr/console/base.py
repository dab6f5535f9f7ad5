"""The console blueprint and what every page shares: who is signed in, CSRF, headers, scope.

Every request finds its session in Redis (``ivr.console.session``) and re-reads the agent: a
session that was ended (sign-out, "sign out everywhere", a removed agent, a new password) or
has run out (idle, or past its lifetime) is refused at once; an advisor's page or form starts
the idle time again, a page's own polling does not. Every POST must carry the session's CSRF
token. Pages are served with a Content-Security-Policy that allows only our own files, so even
a mistake in escaping could not run a script a caller managed to store.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import NullSession
from redis.exceptions import RedisError

from flows.agent_line import spoken_duration
from ivr import agents, audit, clock
from ivr.agents import Agent
from ivr.audit import Action
from ivr.config import Config
from ivr.console import session as sessions
from ivr.phone import national_format
from ivr.services import Ivr

log = logging.getLogger(__name__)

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static")

# Endpoints served without a signed-in agent (a module adds its own, e.g. the kiosk).
PUBLIC: set[str] = {"console.login", "console.static"}
CSP = ("default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; "
       "object-src 'none'")
# Nothing on the console needs a camera, a microphone, the location or payments: deny them all
# (a script that slipped through could not ask for them either).
PERMISSIONS = ("accelerometer=(), autoplay=(self), camera=(), display-capture=(), "
               "fullscreen=(self), geolocation=(), gyroscope=(), magnetometer=(), "
               "microphone=(), midi=(), payment=(), publickey-credentials-get=(), usb=()")


def ivr() -> Ivr:
    return current_app.extensions["ivr"]


def now() -> float:
    return clock.now().timestamp()


def user() -> Agent:
    """The signed-in agent (routes outside ``PUBLIC`` only ever run with one)."""
    return g.user


def limits(config: Config) -> sessions.Limits:
    cfg = config.agents
    return sessions.Limits(idle=cfg.console_idle_minutes * 60,
                           lifetime=cfg.console_session_hours * 3600)


def mark_of(stored: bytes | str | None) -> str:
    """A fingerprint of a stored password hash ("" for none)."""
    raw = stored.encode() if isinstance(stored, str) else (stored or b"")
    return hashlib.sha256(raw).hexdigest()[:16] if raw else ""


def password_mark(r, agent_id: str) -> str:
    """A fingerprint of the stored password hash: changing the password ends other sessions."""
    return mark_of(r.hget(agents.AGENT.format(id=agent_id), "password_hash"))


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def start_session(agent: Agent) -> str:
    """A fresh session on sign-in (a new id and CSRF token: no session fixation); any session
    this browser still had ends first. Returns the new session's id."""
    app = ivr()
    r = app.redis
    if old := session.get("sid"):
        sessions.end(r, old, session.get("agent", ""))
    session.clear()
    at = now()
    bounds = limits(app.config)
    sid = sessions.create(r, agent.id, password_mark(r, agent.id), at, bounds)
    session["sid"] = sid
    session["agent"] = agent.id
    session["csrf"] = secrets.token_urlsafe(32)
    session[sessions.EXPIRES] = int(at + bounds.lifetime)
    return sid


def end_this_session() -> str:
    """Sign-out: the session ends in Redis (its cookie is worthless anywhere); returns the
    agent it belonged to ("" if none)."""
    agent_id = session.get("agent", "")
    if sid := session.get("sid"):
        sessions.end(ivr().redis, sid, agent_id)
    session.clear()
    return agent_id


def record_audit(action: Action, target: str = "", *, actor: str | None = None,
                 **detail: Any) -> None:
    """One audit entry, by the signed-in agent unless ``actor`` says otherwise."""
    app = ivr()
    who = actor if actor is not None else (g.user.id if g.get("user") else "")
    audit.record(app.redis, who, action, target, now=now(),
                 retention_days=app.config.audit.retention_days, **detail)


def voicemail_played(sid: str, task_id: str) -> None:
    """Audit a voicemail served to the signed-in agent (``VOICEMAIL_PLAYED``), once per play:
    the player's later range requests (``Range: bytes=N-`` with N > 0) are not new plays."""
    wanted = request.headers.get("Range", "")
    if wanted and not wanted.replace(" ", "").startswith("bytes=0-"):
        return
    record_audit(Action.VOICEMAIL_PLAYED, sid, task=task_id)


def _check_csrf() -> None:
    expected = session.get("csrf", "")
    sent = request.form.get("csrf_token", "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        current_app.logger.warning("console: CSRF token missing or wrong on %s", request.path)
        abort(400, "Your form was out of date or incomplete; reload the page and try again.")


ENDED_MESSAGES = {
    "ended": "You have been signed out; please sign in again.",
    "password changed": "Your password was changed, so you have been signed out; please sign "
                        "in again.",
    "idle": "You were signed out after {idle} minutes without activity; please sign in again.",
    "lifetime": "Your session reached its {hours}-hour limit; please sign in again.",
}


def _refused(record: sessions.Record | None, agent: Agent | None, stored_hash: bytes | None,
             at: float, bounds: sessions.Limits) -> str:
    """Why this session may not go on ("" if it may)."""
    if record is None or record.agent != session.get("agent"):
        return "ended"
    if why := sessions.ended_by(record, at, bounds):
        return why
    if agent is None:
        return "removed"
    if not record.pw or not hmac.compare_digest(record.pw, mark_of(stored_hash)):
        return "password changed"
    return ""


def _load_user() -> Agent | None:
    """The agent whose live session this cookie names; a session that ended is cleared."""
    sid = session.get("sid")
    if not sid:
        if "agent" in session:  # a cookie from before sessions lived in Redis
            session.clear()
        return None
    app = ivr()
    r = app.redis
    at = now()
    pipe = r.pipeline(transaction=False)
    pipe.hgetall(sessions.RECORD.format(sid=sid))
    pipe.hgetall(agents.AGENT.format(id=session.get("agent", "")))
    raw_record, raw_agent = pipe.execute()
    record = sessions.load_from(sid, raw_record)
    agent = (agents.from_hash({k.decode(): v.decode() for k, v in raw_agent.items()})
             if raw_agent else None)
    why = _refused(record, agent, raw_agent.get(b"password_hash"), at, limits(app.config))
    if why:
        if record is not None:
            sessions.end(r, sid, record.agent)
        log.info("console: session of agent %s refused on %s (%s)", session.get("agent", "?"),
                 request.path, why)
        session.clear()
        if why in ENDED_MESSAGES:
            cfg = app.config.agents
            flash(ENDED_MESSAGES[why].format(idle=cfg.console_idle_minutes,
                                             hours=cfg.console_session_hours), "error")
        return None
    if not sessions.is_poll(request.path, request.method):
        sessions.touch(r, sid, at)
    g.sid = sid
    return agent


@bp.before_request
def guard() -> Response | None:
    """Sessions must work, POSTs must carry the CSRF token, and pages need a signed-in agent."""
    if request.endpoint == "console.static":
        return None
    if isinstance(session, NullSession):
        abort(503, "The console cannot reach its data store; try again shortly.")
    if request.method == "POST":
        _check_csrf()
    g.user = _load_user()
    if g.user is None and request.endpoint not in PUBLIC:
        if request.path.endswith(".json"):
            return jsonify(error="signed out"), 401
        return redirect(url_for("console.login"))
    return None


@bp.after_request
def headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Permissions-Policy"] = PERMISSIONS
    if request.endpoint != "console.static":
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(RedisError)
def redis_down(exc: RedisError):
    current_app.logger.warning("console: Redis unavailable on %s: %s", request.path, exc)
    return render_template("console/error.html", message="The console cannot reach its data "
                           "store; try again shortly."), 503


def visible_departments(config: Config, agent: Agent) -> list[str]:
    """Supervisors see every department; agents see theirs (none listed means all, as by phone)."""
    if agent.supervisor:
        return list(config.departments)
    return [d for d in agent.departments if d in config.departments] or list(config.departments)


def may_see(config: Config, agent: Agent, department: str) -> bool:
    return agent.supervisor or department in visible_departments(config, agent)


def shares_department(config: Config, viewer: Agent, other: Agent) -> bool:
    """Which colleagues an agent sees on the live view: those serving one of their departments."""
    if viewer.supervisor:
        return True
    mine = set(visible_departments(config, viewer))
    return bool(mine.intersection(other.departments or config.departments))


def department_name(department: str) -> str:
    known = ivr().config.departments.get(department)
    return known.name if known else department


def phone_display(number: str) -> str:
    """National format for a number we stored; anything else is shown as it is (escaped)."""
    if not number:
        return "withheld"
    try:
        return national_format(number)
    except ValueError:
        return number


def elapsed(seconds: float) -> str:
    """'45 seconds', '2 minutes 10 seconds', '3 h 20 min', '4 days': how long, for the eye."""
    seconds = max(0, int(seconds))
    if seconds < 3600:
        return spoken_duration(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours // 24} days" if hours >= 48 else f"{hours} h {rest // 60} min"


def when(ts: float | str | None) -> str:
    """A time in the council's timezone, e.g. 'Tue 1 Dec 10:05' ('' if unknown)."""
    try:
        value = float(ts or 0)
    except ValueError:
        return ""
    if value <= 0:
        return ""
    local = datetime.fromtimestamp(value, UTC).astimezone(ivr().hours.tz)
    return f"{local:%a} {local.day} {local:%b %H:%M}"


# The console's navigation, in order: (endpoint, label, supervisors only). A page module adds
# its own entry with ``add_nav``; the accessibility test visits every page the app serves.
NAV: list[tuple[str, str, bool]] = [
    ("console.live", "Live view", False),
    ("console.wallboard", "Wallboard", False),
    ("console.callbacks_page", "Callbacks", False),
    ("console.my_state", "My state", False),
    ("console.controls_page", "Controls", True),
    ("console.agents_page", "Agents", True),
    ("console.audit_page", "Audit", True),
]


def add_nav(endpoint: str, label: str, *, supervisor: bool = False) -> None:
    """List a page in the console's navigation (once)."""
    if all(item[0] != endpoint for item in NAV):
        NAV.append((endpoint, label, supervisor))


def console_nav() -> list[tuple[str, str]]:
    """The navigation the signed-in agent sees."""
    viewer = g.get("user")
    if viewer is None:
        return []
    return [(endpoint, label) for endpoint, label, sup in NAV
            if not sup or viewer.supervisor]


@bp.context_processor
def _page_globals() -> dict:
    return {"user": g.get("user"), "council": ivr().config.council.name,
            "csrf_token": csrf_token, "department_name": department_name,
            "console_nav": console_nav}
