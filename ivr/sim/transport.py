"""How the stand-in reaches the app: in-process through WSGI, or over HTTP to a running server.

Both take the exact URL Twilio would request and the form parameters, and return the status,
body, content type and how long the answer took, so the engine applies Twilio's rules (non-2xx,
over 15 s, invalid TwiML) the same way whichever is used. ``Faults`` wraps either to make one
URL fail, answer slowly or answer nonsense, for failure-injection tests and demos.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from io import BytesIO
from typing import Any, Protocol
from urllib.parse import quote_plus, unquote, urlencode, urlsplit

from ivr.sim.meter import APP, METER


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "text/xml"
    seconds: float = 0.0  # how long the answer took (virtual seconds for injected delays)
    error: str = ""  # a transport failure (connection refused, read timeout)


class Transport(Protocol):
    def send(self, method: str, url: str, params: dict[str, str],
             headers: dict[str, str]) -> Reply: ...


def with_query(url: str, params: dict[str, str]) -> str:
    """GET requests carry the parameters in the query string, after the URL's own query."""
    if not params:
        return url
    return url + ("&" if urlsplit(url).query else "?") + urlencode(params)


class WsgiTransport:
    """Calls the Flask app in this process through WSGI: no sockets, no threads.

    The environ is the one a WSGI server (or Flask's test client, which this replaced for
    speed: its request builder cost more than many webhooks) gives the app for Twilio's
    request: method, path, query string, the form url-encoded in the body, the headers, the
    host of the URL requested. No cookies are kept between requests (Twilio's calls share
    none)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def send(self, method: str, url: str, params: dict[str, str],
             headers: dict[str, str]) -> Reply:
        if method == "GET":
            url, body = with_query(url, params), b""
        else:
            body = form_encode(params).encode("ascii")
        environ = wsgi_environ(method, url, body, headers)
        status: list[str] = []

        def start_response(line: str, response_headers: list[tuple[str, str]],
                           exc_info: Any = None) -> Callable[[bytes], object]:
            status[:] = [line, dict((k.lower(), v) for k, v in response_headers)
                         .get("content-type", "")]
            return lambda data: None

        with METER.part(APP):  # the app's CPU, reported apart from the stand-in's
            chunks = self.app(environ, start_response)
            try:
                data = b"".join(chunks)
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
        mimetype = status[1].split(";", 1)[0].strip().lower()
        return Reply(int(status[0].split(" ", 1)[0]), data, mimetype)


_PLAIN = re.compile(r"[A-Za-z0-9_.~-]*")  # what quote_plus leaves as it is


@lru_cache(maxsize=65536)
def _quoted(text: str) -> str:
    return text if _PLAIN.fullmatch(text) else quote_plus(text)


def form_encode(params: dict[str, str]) -> str:
    """``urlencode(params)`` for string values, the same bytes at a fraction of its cost (most
    names and values need no quoting, and many repeat from request to request)."""
    return "&".join(f"{_quoted(name)}={_quoted(value)}" for name, value in params.items())


def wsgi_environ(method: str, url: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """The WSGI environ for one request to ``url`` (as werkzeug's ``EnvironBuilder`` makes it
    for the same request: PATH_INFO percent-decoded as WSGI's latin-1 string, the raw URI in
    REQUEST_URI and RAW_URI)."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    raw_path = parts.path or "/"
    raw_uri = raw_path + (f"?{parts.query}" if parts.query else "")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote(raw_path).encode().decode("latin1"),
        "QUERY_STRING": parts.query,
        "REQUEST_URI": raw_uri,
        "RAW_URI": raw_uri,
        "SERVER_NAME": parts.hostname or "localhost",
        "SERVER_PORT": str(parts.port or (443 if https else 80)),
        "HTTP_HOST": parts.netloc or "localhost",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": parts.scheme or "http",
        "wsgi.input": BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if method != "GET":
        environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
        environ["CONTENT_LENGTH"] = str(len(body))
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


class HttpTransport:
    """Calls a running server; Twilio's 15 s budget is the read timeout."""

    def __init__(self, timeout: float = 15.0) -> None:
        import requests  # installed with twilio; imported here to keep in-process runs light

        self.session = requests.Session()
        self.timeout = timeout
        self._errors = (requests.RequestException,)

    def send(self, method: str, url: str, params: dict[str, str],
             headers: dict[str, str]) -> Reply:
        started = time.monotonic()
        try:
            if method == "GET":
                response = self.session.get(with_query(url, params), headers=headers,
                                            timeout=(10.0, self.timeout))
            else:
                response = self.session.request(method, url, data=params, headers=headers,
                                                timeout=(10.0, self.timeout))
        except self._errors as exc:
            return Reply(0, b"", "", time.monotonic() - started, error=str(exc))
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return Reply(response.status_code, response.content, content_type,
                     time.monotonic() - started)


@dataclass
class Fault:
    """What to do instead of (or on top of) the app's answer for matching URLs."""

    pattern: str  # a regular expression searched in the URL path (and query)
    status: int | None = None  # answer this HTTP status with an error page
    delay: float = 0.0  # seconds the answer takes (beyond 15 s Twilio gives up)
    body: bytes | None = None  # answer this body (e.g. malformed XML) with status 200
    times: int | None = 1  # how many matching requests it affects (None: all)
    hits: int = 0


@dataclass
class Faults:
    """A transport wrapper that injects failures; everything else goes to ``inner``."""

    inner: Transport
    faults: list[Fault] = field(default_factory=list)

    def add(self, pattern: str, **how: Any) -> Fault:
        fault = Fault(pattern, **how)
        self.faults.append(fault)
        return fault

    def send(self, method: str, url: str, params: dict[str, str],
             headers: dict[str, str]) -> Reply:
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        for fault in self.faults:
            if (fault.times is None or fault.hits < fault.times) and re.search(fault.pattern,
                                                                                target):
                fault.hits += 1
                if fault.status is not None:
                    return Reply(fault.status, b"<html>Internal Server Error</html>",
                                 "text/html", fault.delay)
                if fault.body is not None:
                    return Reply(200, fault.body, "text/xml", fault.delay)
                reply = self.inner.send(method, url, params, headers)
                return Reply(reply.status, reply.body, reply.content_type,
                             reply.seconds + fault.delay, reply.error)
        return self.inner.send(method, url, params, headers)


_FRAGMENT = re.compile(r"#.*$")


def strip_fragment(url: str) -> str:
    """Twilio's connection overrides (``#rt=...``) are not part of the URL it requests."""
    return _FRAGMENT.sub("", url)
