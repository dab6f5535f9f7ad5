"""Webhooks as Twilio makes them: signed, checked, and failed over as twilio.md §1.3 says.

Every request carries the standard parameters and an ``X-Twilio-Signature`` computed with
twilio's own ``RequestValidator`` over the exact URL requested (fragment overrides removed) and
the form; every answer is judged as Twilio judges it: non-2xx (11217), no answer within 15 s
(11205), over 64 kB (11750), not XML (12100) are failures that send the call to the fallback URL;
off-schema TwiML (12200) is, in strict mode, a ``TwimlViolation`` that stops the run.
"""

from __future__ import annotations

import base64
import hmac
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from ivr.sim.legs import Leg, Next
from ivr.sim.transport import Transport, strip_fragment, with_query
from ivr.sim.twiml_schema import TwimlError, check

if TYPE_CHECKING:
    from twilio.request_validator import RequestValidator

    from ivr.sim.engine import Fidelity

MAX_BODY = 64 * 1024  # error 11750


class TwimlViolation(AssertionError):
    """Strict mode: the app sent TwiML Twilio would warn about (12200) or refuse."""


class SimulationError(RuntimeError):
    """The simulation cannot go on faithfully (e.g. a call looping without end)."""


@dataclass
class FetchFailed(Exception):
    code: int  # Twilio error code: 11205 timeout, 11217 HTTP error, 11750 size, 12100 parse
    url: str
    detail: str


@dataclass
class Doc:
    url: str
    root: ET.Element
    xml: str


@dataclass(frozen=True)
class Logged:
    at: float
    call_sid: str
    method: str
    url: str
    params: dict[str, str]
    status: int
    context: str


_TREES: dict[bytes, ET.Element] = {}  # documents already parsed (read, never changed)
_TREES_MAX = 20_000


def parsed(body: bytes) -> ET.Element:
    """``ET.fromstring(body)``, remembering the trees: the stand-in reads the same few thousand
    documents again and again (menus, hold loops, status answers), and only ever reads a tree,
    so one tree serves every request that got the same bytes. Malformed XML raises
    ``ParseError`` every time."""
    root = _TREES.get(body)
    if root is None:
        root = ET.fromstring(body)
        if len(_TREES) >= _TREES_MAX:
            _TREES.clear()
        _TREES[body] = root
    return root


# ``urljoin`` remembered: a call's actions are resolved against the same few documents' URLs
# again and again, and each join parses both URLs anew.
_joined = lru_cache(maxsize=65536)(urljoin)


def new_sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


def signature(token: bytes, url: str, form: dict[str, str]) -> str:
    """``X-Twilio-Signature``: what twilio's ``RequestValidator.compute_signature`` gives for a
    form of one string value per name (the URL, then each name and its value in name order,
    HMAC-SHA1 with the auth token, base64), without its per-value list handling."""
    data = url + "".join(name + form[name] for name in sorted(form))
    # hmac.digest: the same HMAC in one C call, without an hmac object's Python set-up
    return base64.b64encode(hmac.digest(token, data.encode("utf-8"), "sha1")).decode("ascii")


def rfc2822(ts: float) -> str:
    return format_datetime(datetime.fromtimestamp(ts, UTC))


class Webhooks:
    """The request side of the engine (a mixin: ``Engine`` provides the state it uses)."""

    transport: Transport
    validator: RequestValidator
    fidelity: Fidelity
    requests: list[Logged]
    after_request: list[Callable[[], None]]
    keep_requests: bool

    @property
    def now(self) -> float:
        raise NotImplementedError

    def notify(self, leg: Leg, kind: str, text: str = "", **data: Any) -> None:
        raise NotImplementedError

    def hangup(self, leg: Leg, reason: str = "caller") -> None:
        raise NotImplementedError

    def resolve(self, base: str, url: str) -> str:
        return _joined(base, url.strip())

    def fetch_or_fallback(self, leg: Leg, nxt: Next) -> Generator[Any, Any, Doc | None]:
        if nxt.twiml is not None:  # inline TwiML: no request; its action URLs must be absolute
            doc = self._parse(leg, nxt.url, nxt.twiml.encode(), "text/xml", "call")
            return None if isinstance(doc, FetchFailed) else doc
        try:
            return (yield from self.fetch(leg, nxt.url, nxt.method, nxt.params, "call"))
        except FetchFailed as failure:
            leg.errors.append(f"{failure.code} at {failure.url}: {failure.detail}")
            self.notify(leg, "fault", f"error {failure.code}", url=failure.url)
            if not leg.fallback_url or strip_fragment(failure.url) == leg.fallback_url:
                return None
            params = {"ErrorCode": str(failure.code), "ErrorUrl": failure.url}
            try:
                return (yield from self.fetch(leg, leg.fallback_url, leg.fallback_method, params,
                                              "call"))
            except FetchFailed as again:
                leg.errors.append(f"{again.code} at fallback {again.url}: {again.detail}")
                return None

    def fetch(self, leg: Leg, url: str, method: str = "POST", params: dict[str, str] | None = None,
              context: str = "call") -> Generator[Any, Any, Doc]:
        """Request a TwiML document (taking the time the answer took); raises FetchFailed."""
        doc, seconds = self.request(leg, url, method, params or {}, context)
        if seconds > 0:
            yield min(seconds, self.fidelity.request_timeout)
        if isinstance(doc, FetchFailed):
            raise doc
        return doc

    def request(self, leg: Leg, url: str, method: str, params: dict[str, str], context: str,
                standard: bool = True) -> tuple[Doc | FetchFailed, float]:
        """One signed request, answered and checked as Twilio would; no time passes here."""
        url = strip_fragment(url)
        leg.requests += 1
        if leg.requests == self.fidelity.max_requests_per_call:
            message = f"loop guard: call {leg.sid} made {leg.requests} requests (last {url})"
            if self.fidelity.strict:
                raise SimulationError(message)
            leg.errors.append(message)
            self.hangup(leg, "loop guard")
        form = (leg.standard() if standard else {}) | params
        if method == "POST":
            signed = signature(self.validator.token, url, form)
        else:  # GET: the parameters are in the query string, nothing is appended
            signed = signature(self.validator.token, with_query(url, form), {})
        headers = {"X-Twilio-Signature": signed, "User-Agent": "TwilioProxy/1.1"}
        reply = self.transport.send(method, url, form, headers)
        if self.keep_requests:
            self.requests.append(Logged(self.now, leg.sid, method, url, form, reply.status,
                                        context))
        for hook in self.after_request:
            hook()
        if reply.error or reply.seconds > self.fidelity.request_timeout:
            return FetchFailed(11205, url, reply.error or f"no answer in {reply.seconds:.0f} s"), \
                reply.seconds
        if not 200 <= reply.status < 300:
            return FetchFailed(11217, url, f"HTTP {reply.status}"), reply.seconds
        if len(reply.body) > MAX_BODY:
            return FetchFailed(11750, url, f"{len(reply.body)} bytes"), reply.seconds
        return self._parse(leg, url, reply.body, reply.content_type, context), reply.seconds

    def _parse(self, leg: Leg, url: str, body: bytes, content_type: str,
               context: str) -> Doc | FetchFailed:
        if context == "status" and not body.strip():
            return Doc(url, ET.Element("Response"), "")  # 204-style empty answers are fine
        if content_type.startswith("audio/"):
            return Doc(url, ET.fromstring(f"<Response><Play>{url}</Play></Response>"), "")
        try:
            root = parsed(body)
        except ET.ParseError as exc:
            if content_type == "text/plain":
                say = ET.Element("Say")
                say.text = body.decode("utf-8", "replace")
                root = ET.Element("Response")
                root.append(say)
                return Doc(url, root, say.text)
            return FetchFailed(12100, url, f"document parse failure: {exc}")
        xml = body.decode("utf-8", "replace")
        try:
            check(body, context)
        except TwimlError as exc:
            if self.fidelity.strict:
                raise TwimlViolation(f"call {leg.sid}, {url}:\n{exc}") from None
            leg.errors.append(f"12200 at {url}: {exc}")
        return Doc(url, root, xml)

    def callback(self, leg: Leg, url: str, method: str, params: dict[str, str],
                 standard: bool = True) -> None:
        """An asynchronous callback (status, recording): the answer only has to be 2xx."""
        doc, _ = self.request(leg, url, method, params, "status", standard=standard)
        if isinstance(doc, FetchFailed):
            leg.errors.append(f"15003 callback {doc.url}: {doc.detail}")

    def ignored(self, leg: Leg, url: str, method: str, params: dict[str, str]) -> None:
        """An action request after the caller hung up: made, checked, and its TwiML ignored."""
        doc, _ = self.request(leg, url, method, params, "call")
        if isinstance(doc, FetchFailed):
            leg.errors.append(f"{doc.code} at {doc.url} (after hang-up): {doc.detail}")
