"""The agent console: a small server-rendered web app under ``/console`` for advisors.

Sign-in, the live view of queues and agents, the wallboard, the callbacks worklist and (for
supervisors) managing agents and reading the audit trail. It keeps no state in the web
process: sessions live in Redis, named by a signed cookie whose secret is shared through the
environment or Redis, and every figure is read from Redis (``ivr.report.live``; the wallboard
caches today's events per process, reading only new ones).
"""

from __future__ import annotations

import os
from datetime import timedelta

from flask import Flask


def register(app: Flask) -> None:
    """Mount the console on ``app``: its blueprint and its session cookie."""
    from ivr.console import (  # noqa: F401 - routes register on bp
        advisors,
        auditlog,
        auth,
        callbacks,
        controls,
        kiosk_links,
        live,
        manage,
        wallboard,
    )
    from ivr.console.base import bp
    from ivr.console.session import ConsoleSessions

    ivr = app.extensions["ivr"]
    app.session_interface = ConsoleSessions(
        os.environ.get("IVR_SECRET_KEY", ""),
        secure=ivr.public_base_url.startswith("https://"),
    )
    # No cookie signed longer ago than a session's lifetime is read at all.
    app.permanent_session_lifetime = timedelta(hours=ivr.config.agents.console_session_hours)
    app.register_blueprint(bp)
