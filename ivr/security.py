"""Every Twilio-facing request must carry a valid ``X-Twilio-Signature``.

Checked once for all webhook blueprints with twilio's ``RequestValidator``. A missing or wrong
signature gets 403 before any handler runs, so nothing changes. The only way round it is the
explicit development setting ``IVR_INSECURE_SKIP_SIGNATURE=1``, which warns on every request.
"""

from __future__ import annotations

import base64
import hmac
import logging

from flask import Flask, Request, abort, current_app, request
from twilio.request_validator import RequestValidator

log = logging.getLogger(__name__)


def sent_target(environ: dict, query_string: bytes = b"") -> str | None:
    """The path and query exactly as the request line carried them, percent-encoding intact:
    gunicorn's ``RAW_URI``, or ``REQUEST_URI`` (werkzeug's servers, uWSGI, mod_wsgi). None
    when the server gives neither, or something that is not a path.

    An absolute-form target (``POST http://host/path``) gives its path and query. A target
    without its query (werkzeug's test client given ``query_string=`` apart) gets
    ``query_string`` (QUERY_STRING, as sent) back."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
    if "://" in raw.partition("?")[0]:
        raw = "/" + raw.partition("://")[2].partition("/")[2]
    if not raw.startswith("/"):
        return None
    if "?" not in raw and query_string:
        raw += "?" + query_string.decode("latin-1")
    return raw


def public_url(req: Request | None = None) -> str:
    """The URL Twilio requested, which is the URL it signed: PUBLIC_BASE_URL (behind a proxy)
    or the scheme and Host header as sent, then the path and query as sent.

    Twilio signs the URL it requested, byte for byte: werkzeug's ``request.path`` has its
    ``%XX`` decoded, so ``/a%2Bb`` and ``/a+b`` would look alike. The target as sent
    (``sent_target``) is used; without one, the decoded path and the raw query stand in.
    The app's own mount point (SCRIPT_NAME) is part of the base, as before: PUBLIC_BASE_URL
    names it, or ``request.script_root`` does. (Not werkzeug's ``host_url``, which re-encodes
    the whole URL as an IRI on every request, a tenth of a webhook's own time.) ``req``: the
    request, when the caller has it already (each use of the ``request`` proxy looks it up)."""
    req = request._get_current_object() if req is None else req
    base = current_app.extensions["ivr"].public_base_url or (
        f"{req.scheme}://{req.host}{req.script_root}"
    )
    target = sent_target(req.environ, req.query_string)
    if target is None:
        query = req.query_string.decode("latin-1")
        target = req.path + (f"?{query}" if query else "")
    else:
        target = _below(target, req.script_root)
    return base.rstrip("/") + target


def _below(target: str, mount: str) -> str:
    """``target`` less the mount point it starts with (the base carries it)."""
    if mount and target.startswith(mount) and target[len(mount):][:1] in ("", "/", "?"):
        return target[len(mount):]
    return target


def signature_matches(validator: RequestValidator, url: str, params, signature: str) -> bool:
    """Twilio's rules, cheapest case first.

    ``RequestValidator.validate`` always computes two HMACs (the URL with and without its
    port) because Twilio is inconsistent about ports; the URL as requested is always one of
    the two, and is the one Twilio signed in practice, so trying it alone first halves the
    cost of the usual request. A miss falls back to the full rules, so nothing is accepted
    that ``validate`` would refuse and nothing refused that it would accept. A raw body
    (``signed_params``) is ``validate``'s alone: it checks the body against ``bodySHA256``."""
    if isinstance(params, str):
        return validator.validate(url, params, signature)
    computed = form_signature(validator.token, url, params)
    if hmac.compare_digest(computed, signature.encode("utf-8", "replace")):
        return True
    return validator.validate(url, params, signature)


def form_signature(token: bytes, url: str, form) -> bytes:
    """``RequestValidator.compute_signature(url, form)`` (HMAC-SHA1) for werkzeug's MultiDict,
    byte for byte: each distinct name in order, then its distinct values in order. Twilio's
    ``get_values`` asks the MultiDict for ``getall`` first and gets an AttributeError for every
    parameter (werkzeug's is ``getlist``): that exception handling was most of the check."""
    lists = form.lists() if hasattr(form, "lists") else ((k, [v]) for k, v in form.items())
    data = url + "".join(name + value for name, values in sorted(lists)
                         for value in sorted(set(values)))
    digest = hmac.digest(token, data.encode("utf-8"), "sha1")  # hmac.new's result, in one C call
    return base64.b64encode(digest).strip()


def signed_params(req: Request | None = None):
    """What the signature covers besides the URL: the form of a POST; or, when the query has
    ``bodySHA256`` (Twilio's JSON requests), the body itself, for ``RequestValidator`` to
    check against that hash."""
    req = request._get_current_object() if req is None else req
    if req.method != "POST":
        return {}
    if "bodySHA256" in req.args and req.mimetype != "application/x-www-form-urlencoded":
        return req.get_data(as_text=True)
    return req.form


def check_signature() -> None:
    """before_request hook: 403 unless the request is signed by our Twilio account."""
    ivr = current_app.extensions["ivr"]
    if ivr.skip_signature:
        log.warning("signature check skipped (IVR_INSECURE_SKIP_SIGNATURE) for %s", request.path)
        return
    req = request._get_current_object()  # (once: each use of the proxy looks it up)
    signature = req.headers.get("X-Twilio-Signature", "")
    if not ivr.auth_token or not signature:
        log.warning("unsigned request to %s refused", req.path)
        abort(403)
    if not signature_matches(RequestValidator(ivr.auth_token), public_url(req),
                             signed_params(req), signature):
        log.warning("bad Twilio signature on %s refused", request.path)
        abort(403)


def protect(app: Flask, *blueprints) -> None:
    for bp in blueprints:
        app.before_request_funcs.setdefault(bp.name, []).insert(0, check_signature)
