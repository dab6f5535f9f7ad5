"""The local Twilio: the project's stand-in as an HTTP server, one world for every terminal.

``ivr serve`` with no Twilio credentials runs this as one more child (``ivr local-twilio``) on
a loopback port and points the app's REST client at it (``TWILIO_API_BASE``), so the app's
calls.create, calls.update and queue lookups reach the same engine that carries the calls.
Each ``ivr call`` terminal joins it as a phone (``ivr.sim.phone``): a resident in one
terminal and an advisor in another are two legs of one engine, so the advisor takes the
resident from the queue, the console's *Call back* rings the advisor's terminal and then the
resident's.

One engine, one lock. The engine thread runs the clock's due events holding the lock; the
HTTP threads (REST from the app, the terminals' events and typing) take it for their short
work, which only schedules on the clock. While a webhook is on its way to the app the lock is
let go (``UnlockedTransport``), because the app may call the REST API back during it, as it
does in-process. Waits poll with ``time.sleep`` rather than timed lock waits, which stall
under libfaketime (``scripts/test --clock-ahead``), as in ``ivr.supervise``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ivr.sim.clock import RealClock
from ivr.sim.engine import Engine, Fidelity
from ivr.sim.phone import RemotePhone
from ivr.sim.rest import TwilioRestStandIn
from ivr.sim.transport import HttpTransport, Reply
from ivr.sim.world import TEST_ACCOUNT_SID, configure_numbers

POLL = 0.02  # seconds between looks at the clock when nothing is due
LONG_POLL = 20.0  # a terminal's request for events waits at most this long for one


class UnlockedTransport:
    """HTTP to the app with the world's lock let go for the request's duration."""

    def __init__(self, inner: HttpTransport, lock: threading.Lock) -> None:
        self.inner, self.lock = inner, lock

    def send(self, method: str, url: str, params: dict[str, str],
             headers: dict[str, str]) -> Reply:
        self.lock.release()
        try:
            return self.inner.send(method, url, params, headers)
        finally:
            self.lock.acquire()


class LocalTwilio:
    """The engine, its REST stand-in and the phones of the terminals that joined."""

    def __init__(self, app_url: str, config: Any, *, auth_token: str,
                 account_sid: str = TEST_ACCOUNT_SID, fidelity: Fidelity | None = None) -> None:
        self.lock = threading.Lock()
        self.account_sid, self.auth_token = account_sid, auth_token
        transport = UnlockedTransport(HttpTransport(), self.lock)
        self.engine = Engine(transport, auth_token=auth_token, account_sid=account_sid,
                             clock=RealClock(), fidelity=fidelity or Fidelity(strict=False))
        self.engine.keep_requests = False  # it runs for days: keep no log of every request
        configure_numbers(self.engine, config, app_url)
        self.rest = TwilioRestStandIn()
        self.rest.engine = self.engine
        self.engine.rest = self.rest
        self.phones: dict[str, RemotePhone] = {}
        self.stopping = False

    def phone(self, number: str) -> RemotePhone:
        """The terminal's phone for ``number`` (made when first used; it answers calls to it)."""
        phone = self.phones.get(number)
        if phone is None:
            phone = self.phones[number] = RemotePhone(self.engine, number)
            self.engine.lines[number] = phone
        return phone

    def run(self) -> None:
        """The engine thread: run what is due, then look again shortly."""
        clock = self.engine.clock
        while not self.stopping:
            with self.lock:
                try:
                    clock.run(until=time.time())
                except Exception as exc:  # noqa: BLE001 - one call's failure, not the world's
                    print(f"local-twilio: a call failed: {exc!r}", file=sys.stderr, flush=True)
            time.sleep(POLL)

    def dial(self, number: str, to: str) -> tuple[str, int]:
        """Call ``to`` from the terminal's ``number``: the call, and its first event's number."""
        with self.lock:
            if to not in self.engine.numbers:
                raise LookupError(f"{to} is not a number of this Twilio; it has "
                                  f"{', '.join(sorted(self.engine.numbers))}")
            phone = self.phone(number)
            phone.seen_at = time.monotonic()
            start = phone.first + len(phone.events)  # a new terminal: nothing from before
            return self.engine.call(number, to, phone).sid, start

    def events(self, number: str, after: int, wait: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + wait
        while True:
            with self.lock:
                found = self.phone(number).since(after)
            if found or time.monotonic() >= deadline or self.stopping:
                return found
            time.sleep(0.05)

    def typed(self, number: str, text: str) -> str:
        with self.lock:
            return self.phone(number).typed(text)

    def rest_request(self, method: str, url: str, query: dict[str, str],
                     form: dict[str, list[str]], auth: tuple[str, str]) -> Any:
        if auth != (self.account_sid, self.auth_token):
            auth = ("", "")  # the stand-in answers 401 Authenticate
        with self.lock:
            return self.rest.request(method, url, params=query, data=form, auth=auth)


def _basic(header: str) -> tuple[str, str]:
    if not header.startswith("Basic "):
        return "", ""
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return "", ""
    return user, password


def handler(world: LocalTwilio) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Quiet: terminals poll every few seconds."""

        def _reply(self, status: int, body: bytes | str, content_type: str) -> None:
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _json(self, status: int, value: Any) -> None:
            self._reply(status, json.dumps(value), "application/json")

        def _form(self) -> dict[str, list[str]]:
            length = int(self.headers.get("Content-Length") or 0)
            return parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)

        def _route(self, method: str) -> None:
            parts = urlsplit(self.path)
            form = self._form() if method == "POST" else {}
            if parts.path == "/healthz":
                return self._json(200, {"ok": True, "phones": len(world.phones)})
            if parts.path.startswith("/2010-04-01/"):
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                answer = world.rest_request(method, f"http://local{parts.path}", query, form,
                                            _basic(self.headers.get("Authorization", "")))
                headers = answer.headers or {}
                body = answer.content if isinstance(answer.content, bytes) else answer.text
                return self._reply(answer.status_code, body or "",
                                   headers.get("Content-Type", "application/json"))
            bits = parts.path.strip("/").split("/")
            if len(bits) == 3 and bits[0] == "phone":
                return self._phone(method, unquote(bits[1]), bits[2], parts.query, form)
            self._json(404, {"error": f"no such resource: {method} {parts.path}"})

        def _phone(self, method: str, number: str, what: str, query: str,
                   form: dict[str, list[str]]) -> None:
            one = {k: v[-1] for k, v in form.items()}
            if what == "events" and method == "GET":
                asked = parse_qs(query)
                after, wait = asked.get("after", ["0"])[-1], asked.get("wait", [""])[-1]
                wait_s = min(LONG_POLL, float(wait)) if wait.isdigit() else LONG_POLL
                found = world.events(number, int(after) if after.isdigit() else 0, wait_s)
                return self._json(200, {"events": found})
            if what == "dial" and method == "POST":
                try:
                    call, start = world.dial(number, one.get("to", ""))
                    return self._json(201, {"call": call, "events": start})
                except LookupError as exc:
                    return self._json(400, {"error": str(exc)})
            if what == "input" and method == "POST":
                return self._json(200, {"said": world.typed(number, one.get("text", ""))})
            self._json(404, {"error": f"no such phone action: {method} {what}"})

        def do_GET(self) -> None:  # noqa: N802 - http.server's names
            self._route("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._route("POST")

        def do_DELETE(self) -> None:  # noqa: N802
            self._route("DELETE")

    return Handler


def serve(bind: str, world: LocalTwilio) -> ThreadingHTTPServer:
    """The HTTP server on ``bind`` (host:port; port 0 picks a free one), not yet serving."""
    host, _, port = bind.rpartition(":")
    server = ThreadingHTTPServer((host or "127.0.0.1", int(port or 0)), handler(world))
    server.daemon_threads = True
    return server


def main(args: argparse.Namespace) -> int:
    """``ivr local-twilio``: serve until SIGTERM or Ctrl-C."""
    import signal

    from ivr import local_token
    from ivr.config import load_for_command

    config = load_for_command()
    if config is None:
        return 2
    if not args.speech_rate > 0:
        print(f"error: --speech-rate must be above 0 (got {args.speech_rate:g})", file=sys.stderr)
        return 2
    if urlsplit(args.app).scheme not in ("http", "https") or not urlsplit(args.app).netloc:
        print(f"error: --app must be the service's http:// or https:// URL (got {args.app!r})",
              file=sys.stderr)
        return 2
    token = os.environ.get("TWILIO_AUTH_TOKEN") or local_token.read()
    if not token:
        print(f"error: no TWILIO_AUTH_TOKEN and no local token in {local_token.PATH} to sign "
              "webhooks with (ivr serve makes one)", file=sys.stderr)
        return 2
    world = LocalTwilio(args.app, config, auth_token=token,
                        account_sid=os.environ.get("TWILIO_ACCOUNT_SID") or TEST_ACCOUNT_SID,
                        fidelity=Fidelity(strict=False, words_per_second=args.speech_rate))
    try:
        server = serve(args.bind, world)
    except (OSError, ValueError, OverflowError) as exc:
        print(f"error: --bind {args.bind}: not a free host:port here ({exc})", file=sys.stderr)
        return 2
    host, port = server.server_address[:2]
    url = f"http://{host}:{port}"
    if args.url_file:
        try:
            with open(args.url_file, "w") as out:
                out.write(url + "\n")
        except OSError as exc:
            server.server_close()
            print(f"error: --url-file: cannot write {args.url_file} ({exc.strerror})",
                  file=sys.stderr)
            return 2
    engine = threading.Thread(target=world.run, name="engine", daemon=True)
    engine.start()

    def stop(signum: int, frame: Any) -> None:  # noqa: ARG001
        world.stopping = True
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"Local Twilio at {url} for {args.app} (calls and REST; numbers: "
          f"{', '.join(sorted(world.engine.numbers))})", flush=True)
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    return 0
