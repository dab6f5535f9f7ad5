"""The console's signed session cookie, with a secret every web process shares.

The secret comes from ``IVR_SECRET_KEY``; when that is unset, one random secret is created once
in Redis (``SET NX``) so that all gunicorn workers, and a restarted process, sign alike: web
processes keep no state of their own. Only ``/console`` requests open a session, so Twilio's
webhooks never wait on (or fail with) Redis for a cookie they do not use.
"""

from __future__ import annotations

import logging
import secrets

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

SECRET = "{ivr}:console:secret"
PREFIX = "/console"
COOKIE = "ivr_console"


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
