"""The console blueprint and what every page shares: who is signed in, CSRF, headers, scope.

Every request re-reads the agent from Redis (a removed agent, or one whose password changed,
is signed out at once) and every POST must carry the session's CSRF token. Pages are served
with a Content-Security-Policy that allows only our own files, so even a mistake in escaping
could not run a script a caller managed to store.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
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

from ivr import agents, clock
from ivr.agents import Agent
from ivr.config import Config
from ivr.phone import national_format
from ivr.services import Ivr

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static")

PUBLIC = frozenset({"console.login", "console.static"})
CSP = ("default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; "
       "object-src 'none'")


def ivr() -> Ivr:
    return current_app.extensions["ivr"]


def now() -> float:
    return clock.now().timestamp()


def user() -> Agent:
    """The signed-in agent (routes outside ``PUBLIC`` only ever run with one)."""
    return g.user


def password_mark(r, agent_id: str) -> str:
    """A fingerprint of the stored password hash: changing the password ends other sessions."""
    stored = r.hget(agents.AGENT.format(id=agent_id), "password_hash") or b""
    return hashlib.sha256(stored).hexdigest()[:16] if stored else ""


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def start_session(agent: Agent) -> None:
    """A fresh session on sign-in (never reuse a pre-login one: no session fixation)."""
    session.clear()
    session.permanent = True
    session["agent"] = agent.id
    session["pw"] = password_mark(ivr().redis, agent.id)
    session["csrf"] = secrets.token_urlsafe(32)


def _check_csrf() -> None:
    expected = session.get("csrf", "")
    sent = request.form.get("csrf_token", "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        current_app.logger.warning("console: CSRF token missing or wrong on %s", request.path)
        abort(400, "Your form was out of date or incomplete; reload the page and try again.")


def _load_user() -> Agent | None:
    agent_id = session.get("agent")
    if not agent_id:
        return None
    r = ivr().redis
    agent = agents.get(r, agent_id)
    mark = session.get("pw", "")
    if agent is None or not mark or not hmac.compare_digest(mark, password_mark(r, agent_id)):
        session.clear()
        return None
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


@bp.context_processor
def _page_globals() -> dict:
    return {"user": g.get("user"), "council": ivr().config.council.name,
            "csrf_token": csrf_token, "department_name": department_name}
