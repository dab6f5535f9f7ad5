"""Call flows, one module per step of the caller's journey. Only ``register`` knows them all."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> set[str]:
    """Register every webhook blueprint, its signature check and its fail-safe handler.

    Returns the blueprints' names (the Twilio-facing part of the app)."""
    from flows import (
        agent_callbacks,
        agent_calls,
        agent_line,
        closed,
        failsafe,
        feedback,
        incoming,
        menu,
        online,
        payments,
        queue,
        recordings,
        sms_status,
        status,
        textphone,
    )
    from ivr.security import protect
    from voicemail import flow as voicemail

    blueprints = [
        incoming.bp, menu.bp, closed.bp, online.bp, queue.bp, payments.bp, textphone.bp,
        status.bp, sms_status.bp, failsafe.bp, voicemail.bp, feedback.bp, recordings.bp,
        agent_line.bp, agent_calls.bp, agent_callbacks.bp,
    ]
    for bp in blueprints:
        if Exception not in bp.error_handler_spec[None][None]:  # blueprints outlive apps
            bp.register_error_handler(Exception, failsafe.handler_for(bp.name))
        app.register_blueprint(bp)
    protect(app, *blueprints)
    return {bp.name for bp in blueprints}
