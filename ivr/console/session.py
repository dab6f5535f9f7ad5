"""The console's sessions: a signed cookie naming a session that lives in Redis.

The cookie (signed with a secret every web process shares) carries the CSRF token, flashed
messages and, once signed in, the session id; the session itself is a Redis record
(``RECORD``: agent, when it started, the last action, the password's fingerprint), listed per
agent (``OF_AGENT``). Deleting the record ends the session wherever its cookie is, so signing
out, "sign out everywhere", a new password or removing the agent end it at once, and a cookie
copied before any of those is worthless. A session also ends ``agents.console_idle_minutes``
after the advisor's last page or form (``is_poll``: what a page fetches by itself does not
count) and ``agents.console_session_hours`` after sign-in; the cookie expires then too and is
never renewed by a poll. Nobody is in Redis before signing in: the sign-in page's cookie alone
carries its CSRF token, so anonymous visitors write nothing.

The secret comes from ``IVR_SECRET_KEY``; when that is unset, one random secret is created once
in Redis (``SET NX``) so that all gunicorn workers, and a restarted process, sign alike: web
processes keep no state of their own. Only ``/console`` requests open a session, so Twilio's
webhooks never wait on (or fail with) Redis for a cookie they do not use.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from itsdangerous import URLSafeTimedSerializer
from redis.exceptions import RedisError

from ivr import keys

log = logging.getLogger(__name__)

SECRET = "{ivr}:console:secret"
RECORD = "{{ivr}}:console:session:{sid}"  # hash: agent, started, seen, pw (expires)
OF_AGENT = "{{ivr}}:console:sessions:{agent}"  # zset: the agent's session ids -> started
PREFIX = "/console"
COOKIE = "ivr_console"
EXPIRES = "exp"  # the cookie's own end (epoch s), kept in it: the session's absolute end


class ConsoleSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, scoped to ``/console``, HttpOnly and SameSite=Lax."""

    salt = "ivr-console-session"

    def __init__(self, secret: str = "", *, secure: bool = False) -> None:
        self._secret: bytes | None = secret.encode() if secret else None
        self._secure = secure

    def secret(self, app: Flask) -> bytes:
        """The shared secret: from the environment, else created once in Redis (cached here)."""
        if self._secret is None:
            r = app.extensions["ivr"].redis
            r.set(SECRET, secrets.token_hex(32), nx=True)
            stored = r.get(SECRET)
            if not stored:
                raise RedisError(f"{SECRET} vanished right after SET NX")
            self._secret = stored
        return self._secret

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        try:
            key = self.secret(app)
        except RedisError as exc:
            log.warning("console: no session secret (Redis unavailable: %s)", exc)
            return None
        return URLSafeTimedSerializer(
            key, salt=self.salt, serializer=self.serializer,
            signer_kwargs={"key_derivation": self.key_derivation,
                           "digest_method": self.digest_method},
        )

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path != PREFIX and not request.path.startswith(PREFIX + "/"):
            return None  # a null session: webhooks never touch Redis for a cookie
        return super().open_session(app, request)

    def get_cookie_name(self, app: Flask) -> str:
        return COOKIE

    def get_cookie_path(self, app: Flask) -> str:
        return PREFIX

    def get_cookie_httponly(self, app: Flask) -> bool:
        return True

    def get_cookie_samesite(self, app: Flask) -> str:
        return "Lax"

    def get_cookie_secure(self, app: Flask) -> bool:
        return self._secure

    def should_set_cookie(self, app: Flask, session: SessionMixin) -> bool:
        """Only when the session changed: a poll never renews the cookie."""
        return session.modified

    def get_expiration_time(self, app: Flask, session: SessionMixin) -> datetime | None:
        """The session's absolute end, fixed at sign-in (none before: a browser-session cookie)."""
        end = session.get(EXPIRES)
        return datetime.fromtimestamp(float(end), UTC) if end else None


# -- the sessions in Redis -----------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    sid: str
    agent: str
    started: float
    seen: float  # the last page or form (polls excluded)
    pw: str      # the password's fingerprint at sign-in (``password_mark``)


@dataclass(frozen=True)
class Limits:
    idle: float      # seconds without an action
    lifetime: float  # seconds since sign-in


def ended_by(record: Record, now: float, limits: Limits) -> str:
    """Why the session is over at ``now`` ("idle", "lifetime"), or "" while it lasts."""
    if now - record.started >= limits.lifetime:
        return "lifetime"
    if now - record.seen >= limits.idle:
        return "idle"
    return ""


def is_poll(path: str, method: str) -> bool:
    """What a page fetches by itself (``live.json``, ``wallboard.json``): no advisor action.

    Every route a page polls ends in ``.json``; ``tests/test_console_access.py`` checks it.
    """
    return method == "GET" and path.endswith(".json")


def create(r: Any, agent_id: str, pw: str, now: float, limits: Limits) -> str:
    """A new session for the agent; returns its id (unguessable, never reused)."""
    sid = secrets.token_urlsafe(32)
    ttl = int(limits.lifetime) + 60  # Redis lets it go after the end; the check is ``ended_by``
    pipe = r.pipeline(transaction=True)  # atomic on a cluster too (one slot: ivr.keys)
    pipe.hset(RECORD.format(sid=sid), mapping={"agent": agent_id, "started": f"{now:.3f}",
                                               "seen": f"{now:.3f}", "pw": pw})
    pipe.expire(RECORD.format(sid=sid), ttl)
    index = OF_AGENT.format(agent=agent_id)
    pipe.zremrangebyscore(index, "-inf", now - limits.lifetime)
    pipe.zadd(index, {sid: now})
    pipe.expire(index, ttl)
    pipe.execute()
    return sid


def load(r: Any, sid: str) -> Record | None:
    return load_from(sid, r.hgetall(RECORD.format(sid=sid)) if sid else {})


def load_from(sid: str, raw: dict) -> Record | None:
    """The record from its hash as Redis returned it (None if there is none)."""
    if not raw:
        return None
    h = {k.decode(): v.decode() for k, v in raw.items()}
    return Record(sid, h.get("agent", ""), float(h.get("started") or 0),
                  float(h.get("seen") or 0), h.get("pw", ""))


# Only a session that still exists is updated: a page that raced its own sign-out must not
# bring back a record (without its expiry) that ``end`` has just deleted.
_SET_IF_LIVE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
return -1
"""


def touch(r: Any, sid: str, now: float) -> None:
    """An advisor's action: the idle time starts again (the absolute end stays)."""
    keys.eval_script(r, _SET_IF_LIVE, 1, RECORD.format(sid=sid), "seen", f"{now:.3f}")


def set_mark(r: Any, sid: str, pw: str) -> None:
    """The session's own password change: it carries on under the new fingerprint."""
    keys.eval_script(r, _SET_IF_LIVE, 1, RECORD.format(sid=sid), "pw", pw)


def end(r: Any, sid: str, agent_id: str) -> bool:
    """End one session (sign-out, expiry); True if it was still there."""
    pipe = r.pipeline(transaction=True)  # atomic on a cluster too (one slot: ivr.keys)
    pipe.delete(RECORD.format(sid=sid))
    pipe.zrem(OF_AGENT.format(agent=agent_id), sid)
    return bool(pipe.execute()[0])


def end_all(r: Any, agent_id: str, keep: str = "") -> int:
    """End every session of the agent (but ``keep``); returns how many were live."""
    index = OF_AGENT.format(agent=agent_id)
    sids = [s.decode() for s in r.zrange(index, 0, -1)]
    ending = [s for s in sids if s != keep]
    if not ending:
        return 0
    pipe = r.pipeline(transaction=True)  # atomic on a cluster too (one slot: ivr.keys)
    for sid in ending:
        pipe.delete(RECORD.format(sid=sid))
    pipe.zrem(index, *ending)
    return sum(pipe.execute()[:-1])


def live_counts(r: Any, agent_ids: list[str], now: float, limits: Limits) -> dict[str, int]:
    """How many sessions each agent has that have not ended (for the Agents page)."""
    pipe = r.pipeline(transaction=False)
    for agent_id in agent_ids:
        pipe.zrange(OF_AGENT.format(agent=agent_id), 0, -1)
    owned = [(a, s.decode()) for a, sids in zip(agent_ids, pipe.execute(), strict=True)
             for s in sids]
    pipe = r.pipeline(transaction=False)
    for _, sid in owned:
        pipe.hmget(RECORD.format(sid=sid), "started", "seen")
    counts = dict.fromkeys(agent_ids, 0)
    for (agent_id, sid), (started, seen) in zip(owned, pipe.execute(), strict=True):
        if started and not ended_by(Record(sid, agent_id, float(started), float(seen or 0), ""),
                                    now, limits):
            counts[agent_id] += 1
    return counts
