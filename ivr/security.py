"""Every Twilio-facing request must carry a valid ``X-Twilio-Signature``.

Checked once for all webhook blueprints with twilio's ``RequestValidator``. A missing or wrong
signature gets 403 before any handler runs, so nothing changes. The only way round it is the
explicit development setting ``IVR_INSECURE_SKIP_SIGNATURE=1``, which warns on every request.
"""

from __future__ import annotations

import hmac
import logging

from flask import Flask, abort, current_app, request
from twilio.request_validator import RequestValidator

log = logging.getLogger(__name__)


def public_url() -> str:
    """The URL Twilio requested: PUBLIC_BASE_URL (behind a proxy) plus the raw path and query.

    The scheme and Host header as sent, not werkzeug's ``host_url`` (which re-encodes the
    whole URL as an IRI on every request, a tenth of a webhook's own time): Twilio signs the
    URL it requested, in ASCII."""
    base = current_app.extensions["ivr"].public_base_url or (
        f"{request.scheme}://{request.host}{request.script_root}"
    )
    query = request.query_string.decode("latin-1")
    return base.rstrip("/") + request.path + (f"?{query}" if query else "")


def signature_matches(validator: RequestValidator, url: str, params, signature: str) -> bool:
    """Twilio's rules, cheapest case first.

    ``RequestValidator.validate`` always computes two HMACs (the URL with and without its
    port) because Twilio is inconsistent about ports; the URL as requested is always one of
    the two, and is the one Twilio signed in practice, so trying it alone first halves the
    cost of the usual request. A miss falls back to the full rules, so nothing is accepted
    that ``validate`` would refuse and nothing refused that it would accept."""
    computed = validator.compute_signature(url, params).encode()
    if hmac.compare_digest(computed, signature.encode("utf-8", "replace")):
        return True
    return validator.validate(url, params, signature)


def check_signature() -> None:
    """before_request hook: 403 unless the request is signed by our Twilio account."""
    ivr = current_app.extensions["ivr"]
    if ivr.skip_signature:
        log.warning("signature check skipped (IVR_INSECURE_SKIP_SIGNATURE) for %s", request.path)
        return
    signature = request.headers.get("X-Twilio-Signature", "")
    if not ivr.auth_token or not signature:
        log.warning("unsigned request to %s refused", request.path)
        abort(403)
    params = request.form if request.method == "POST" else {}
    if not signature_matches(RequestValidator(ivr.auth_token), public_url(), params, signature):
        log.warning("bad Twilio signature on %s refused", request.path)
        abort(403)


def protect(app: Flask, *blueprints) -> None:
    for bp in blueprints:
        app.before_request_funcs.setdefault(bp.name, []).insert(0, check_signature)
