"""The documented deployment is the tested one (docs/deploy.md).

Debian's Caddy runs deploy/caddy/ivr-proxy.caddy, unchanged, on a free loopback port with a
certificate openssl makes now, in front of gunicorn started by ivr-web.service's own
ExecStart, on the Redis that ivr-redis.service's ExecStart starts with deploy's redis.conf;
the worker, scheduler and reconciler run their units' ExecStart too (``units.exec_start``
reads each command from its file, so unit and test cannot drift). The one change: the app
module is ``served_app:app``, the same app on a clock that starts at a Tuesday 10:00, so the
journey is in opening hours whatever today is.

Signed Twilio journeys go through the proxy over TLS (verified against that certificate),
signed for PUBLIC_BASE_URL, the public https URL; a request signed for any other URL is
refused, and so is one whose forged X-Forwarded-* headers claim that other URL, through the
proxy or straight to gunicorn's socket: the URL the signature is checked against is
PUBLIC_BASE_URL, whatever a client says. /metrics answers only with its bearer token.
"""

from __future__ import annotations

import http.client
import http.server
import os
import re
import secrets
import shutil
import signal
import socket
import socketserver
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import requests
from caller import ACCOUNT_SID, AUTH_TOKEN, Caller, sign
from conftest import ROOT, real_clock_env
from faults import free_port
from rq import Worker
from units import DEPLOY, environment, exec_start, read_env_file, working_directory

from ivr import connections
from voicemail.tasks import OPEN_BY_NUMBER

TESTS = Path(__file__).parent
OPEN = "2026-12-01 10:00:00+00:00"  # Tuesday, 10:00 GMT: the lines are open
MOBILE = "+447911123047"
missing = [tool for tool in ("caddy", "openssl", "redis-server") if not shutil.which(tool)]
pytestmark = pytest.mark.skipif(
    bool(missing), reason=f"{', '.join(missing)} not installed (scripts/test installs them)")


@dataclass
class Reply:
    """What ``Caller`` reads from a response."""

    status_code: int
    mimetype: str
    body: bytes
    headers: dict[str, str]

    def get_data(self, as_text: bool = False):
        return self.body.decode() if as_text else self.body


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP to gunicorn's unix socket, as Caddy reaches it (a client that skips the proxy)."""

    def __init__(self, path: Path, timeout: float = 15.0) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = str(path)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


class Direct:
    """Posts straight to gunicorn's socket, with whatever Host and headers it is given."""

    def __init__(self, path: Path, headers: dict[str, str] | None = None) -> None:
        self.path = path
        self.headers = headers or {}

    def request(self, method: str, target: str, body: str = "",
                headers: dict[str, str] | None = None) -> Reply:
        conn = UnixHTTPConnection(self.path)
        try:
            conn.request(method, target, body, headers={"Host": "localhost", **self.headers,
                                                        **(headers or {})})
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        mimetype = (response.getheader("Content-Type") or "").split(";")[0].strip()
        return Reply(response.status, mimetype, data, dict(response.getheaders()))

    def post(self, path: str, data: dict[str, str], headers: dict[str, str]) -> Reply:
        from urllib.parse import urlencode

        return self.request("POST", path, urlencode(data), {
            **headers, "Content-Type": "application/x-www-form-urlencoded"})


class Through:
    """Posts to the proxy over TLS as Twilio does, the certificate verified."""

    def __init__(self, base: str, cert: Path, headers: dict[str, str] | None = None) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.trust_env = False  # no proxy from the environment: this proxy only
        self.session.verify = str(cert)
        self.headers = headers or {}

    def request(self, method: str, path: str, **kw) -> Reply:
        headers = {**self.headers, **kw.pop("headers", {})}
        r = self.session.request(method, self.base + path, headers=headers, timeout=15,
                                 allow_redirects=False, **kw)
        mimetype = r.headers.get("Content-Type", "").split(";")[0].strip()
        return Reply(r.status_code, mimetype, r.content, dict(r.headers))

    def post(self, path: str, data: dict[str, str], headers: dict[str, str]) -> Reply:
        return self.request("POST", path, data=data,
                            headers={**headers, "User-Agent": "TwilioProxy/1.1"})


def wait_for(check, what: str, proc: subprocess.Popen | None, log: Path,
             timeout: float = 30.0) -> None:
    """Until ``check()`` holds; fails at once if ``proc`` (when given) exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"{what} exited ({proc.returncode}): {log.read_text()[-3000:]}")
        try:
            if check():
                return
        except (OSError, redis.RedisError, requests.RequestException):
            pass
        time.sleep(0.1)
    pytest.fail(f"{what} not ready after {timeout:.0f} s: {log.read_text()[-3000:]}")


@dataclass
class Deployment:
    base: str  # PUBLIC_BASE_URL: https://localhost:<port>, Caddy's address
    cert: Path
    web_socket: Path
    redis_url: str
    env: dict[str, str]
    procs: dict[str, tuple[subprocess.Popen, Path]]
    workdir: Path

    def start(self, name: str, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = (proc, log)

    def stop(self, name: str, timeout: float = 30.0) -> int:
        """SIGTERM, then SIGKILL after ``timeout`` (as systemd's TimeoutStopSec)."""
        proc, _ = self.procs[name]
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        return proc.returncode

    def proxy(self, **headers: str) -> Through:
        return Through(self.base, self.cert, headers)

    def direct(self, **headers: str) -> Direct:
        return Direct(self.web_socket, headers)


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost, made now (real clock, ten years: still valid
    under ``scripts/test --clock-ahead 1200d``)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "3650", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True, env=real_clock_env(), timeout=60)
    return cert, key


def caddyfile(directory: Path, port: int, cert: Path, key: Path) -> Path:
    """The test's site block around deploy's proxy snippet: this address and certificate
    instead of the council's host and ACME; no admin endpoint, nothing written to $HOME."""
    path = directory / "Caddyfile"
    path.write_text(f"""{{
	admin off
	auto_https off
	storage file_system {{
		root {directory / "caddy-data"}
	}}
}}

https://localhost:{port} {{
	tls {cert} {key}
	import {DEPLOY / "caddy" / "ivr-proxy.caddy"}
}}
""")
    return path


@pytest.fixture(scope="module")
def deployment(tmp_path_factory) -> Iterator[Deployment]:
    work = tmp_path_factory.mktemp("deploy")
    cert, key = make_certificate(work)
    port = free_port()
    base = f"https://localhost:{port}"
    # systemd's directories for the units: %t (/run) and the StateDirectory.
    run = work / "run"
    run_redis, state_redis, run_web = run / "ivr-redis", work / "lib-redis", run / "ivr-web"
    for d in (run_redis, state_redis, run_web):
        d.mkdir(parents=True)
    redis_url = f"unix://{run_redis / 'redis.sock'}?db=0"
    # The EnvironmentFile as the checklist has it filled in, here pointed at this test's
    # Redis, address and secrets; Twilio's REST at a closed port (no job reaches the network).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IVR_", "TWILIO_"))}
    env.pop("PUBLIC_BASE_URL", None)
    env |= read_env_file() | {
        "PUBLIC_BASE_URL": base, "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "IVR_SECRET_KEY": secrets.token_hex(32),
        "IVR_METRICS_TOKEN": secrets.token_hex(16), "REDIS_URL": redis_url,
        "RQ_REDIS_URL": redis_url, "IVR_CONFIG": str(ROOT / "config.yaml"),
        "IVR_SPOOL_DIR": str(work / "spool"), "TWILIO_API_BASE": "http://127.0.0.1:1",
        "IVR_TEST_AT": OPEN, "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS)])}
    found = Deployment(base, cert, run_web / "gunicorn.sock", redis_url, env, {}, work)
    try:
        # Redis keeps the real time, as production's does (scripts/test --clock-ahead).
        argv = exec_start("ivr-redis.service", {"RUNTIME_DIRECTORY": str(run_redis),
                                                "STATE_DIRECTORY": str(state_redis)})
        found.start("redis", argv, real_clock_env(), work)
        client = redis.Redis.from_url(redis_url)
        wait_for(client.ping, "redis-server", *found.procs["redis"])

        web_env = env | environment("ivr-web.service", str(run)) | {
            "RUNTIME_DIRECTORY": str(run_web)}
        web = exec_start("ivr-web.service", web_env)
        web[web.index("ivr.wsgi:app")] = "served_app:app"
        found.start("web", web, web_env, working_directory("ivr-web.service"))
        wait_for(lambda: found.direct().request("GET", "/healthz").status_code == 200,
                 "gunicorn", *found.procs["web"])

        caddy = ["caddy", "run", "--config", str(caddyfile(work, port, cert, key)),
                 "--adapter", "caddyfile"]
        caddy_env = real_clock_env() | {"HOME": str(work), "XDG_DATA_HOME": str(work),
                                        "XDG_CONFIG_HOME": str(work),
                                        "IVR_UPSTREAM": f"unix/{found.web_socket}"}
        found.start("caddy", caddy, caddy_env, work)
        wait_for(lambda: found.proxy().request("GET", "/healthz").status_code == 200,
                 "caddy", *found.procs["caddy"])
        yield found
    finally:
        for name in reversed(list(found.procs)):
            found.stop(name)


def test_the_units_redis_is_append_only_with_fsync_always(deployment):
    """ivr-redis.service's command and deploy's redis.conf give the durability ivr serve
    asks of any Redis (a voicemail on disk before the webhook answers)."""
    client = connections.connect(deployment.redis_url)
    assert connections.durability_check(client) == ""
    assert client.config_get("port")["port"] == "0"  # no TCP: the unix socket only


def test_the_sockets_are_open_to_their_owners_only(deployment):
    """gunicorn's socket: owner and group (Caddy joins group ivr), nobody else; Redis's: its
    owner alone. File permissions are what stand between a local user and the app."""
    assert deployment.web_socket.stat().st_mode & 0o777 == 0o770
    redis_socket = Path(deployment.redis_url.removeprefix("unix://").partition("?")[0])
    assert redis_socket.stat().st_mode & 0o777 == 0o700


def test_a_signed_journey_through_the_proxy_over_tls(deployment):
    """A resident rings, chooses council tax, is sent to voicemail (no advisor signed in)
    and leaves a message: every request signed for the public https URL, through Caddy."""
    client = deployment.proxy()
    caller = Caller(client, from_=MOBILE, base=deployment.base)
    doc = caller.ring()
    assert doc.has("Gather") and "recorded" in doc.text
    caller.press("2")
    for _ in range(6):  # the online message, the choices after it: on to voicemail
        if caller.doc.has("Record"):
            break
        caller.silence() if caller.doc.has("Gather") else caller.follow()
    assert caller.doc.has("Record"), caller.doc.xml
    doc, rec, status_url = caller.record(duration=20)
    assert doc.text.startswith("Thank you. We've got your message")
    assert status_url.startswith(deployment.base + "/"), status_url  # made from PUBLIC_BASE_URL
    assert caller.recording_ready(status_url, rec, duration=20).verbs == []
    assert caller.hang_up().verbs == []
    state = redis.Redis.from_url(deployment.redis_url)
    assert state.get(OPEN_BY_NUMBER.format(number=MOBILE)), "no callback task in the unit's Redis"
    # HTTPS end to end: the app says so (HSTS), the proxy sends plain HTTP elsewhere.
    assert client.request("GET", "/healthz").headers["Strict-Transport-Security"]


def incoming(call_sid: str) -> dict[str, str]:
    return {"CallSid": call_sid, "AccountSid": ACCOUNT_SID, "From": MOBILE,
            "To": "+441206282222", "CallStatus": "ringing", "Direction": "inbound"}


def test_a_request_signed_for_another_url_is_refused(deployment):
    form = incoming("CA" + secrets.token_hex(16))
    public = deployment.base + "/voice/incoming"
    via = deployment.proxy()
    assert via.post("/voice/incoming", form, {"X-Twilio-Signature": sign(public, form)}
                    ).status_code == 200
    for other in (public.replace("https://", "http://"), public + "?x=1",
                  "https://evil.example/voice/incoming", deployment.base + "/voice/status"):
        assert via.post("/voice/incoming", form, {"X-Twilio-Signature": sign(other, form)}
                        ).status_code == 403, other
    assert via.post("/voice/incoming", form, {}).status_code == 403  # unsigned


@pytest.mark.parametrize("route", ["proxy", "direct"])
def test_forged_forwarded_headers_change_nothing(deployment, route):
    """A client's own X-Forwarded-Proto/-Host (and Host), through the proxy or straight to
    gunicorn's socket, cannot move the URL the signature is checked against: a request signed
    for the URL they claim is refused, one signed for PUBLIC_BASE_URL still accepted."""
    forged = {"X-Forwarded-Proto": "http", "X-Forwarded-Host": "evil.example",
              "X-Forwarded-For": "127.0.0.1", "Forwarded": "for=127.0.0.1;proto=http"}
    if route == "direct":
        client = deployment.direct(**forged, Host="evil.example")
    else:
        client = deployment.proxy(**forged)
    form = incoming("CA" + secrets.token_hex(16))
    claimed = "http://evil.example/voice/incoming"
    assert client.post("/voice/incoming", form, {"X-Twilio-Signature": sign(claimed, form)}
                       ).status_code == 403
    public = deployment.base + "/voice/incoming"
    assert client.post("/voice/incoming", form, {"X-Twilio-Signature": sign(public, form)}
                       ).status_code == 200


def test_metrics_need_the_token_through_the_proxy_and_past_it(deployment):
    """Behind the proxy every client is loopback to gunicorn: only the bearer token counts,
    whatever X-Forwarded-For a client sends."""
    token = deployment.env["IVR_METRICS_TOKEN"]
    for client in (deployment.proxy(), deployment.direct(),
                   deployment.proxy(**{"X-Forwarded-For": "127.0.0.1"}),
                   deployment.direct(**{"X-Forwarded-For": "127.0.0.1"})):
        assert client.request("GET", "/metrics").status_code == 403
        wrong = client.request("GET", "/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 403
    form = incoming("CA" + secrets.token_hex(16))
    public = deployment.base + "/voice/incoming"
    for _ in range(4):  # answered by either gunicorn worker
        assert deployment.proxy().post("/voice/incoming", form, {
            "X-Twilio-Signature": sign(public, form)}).status_code == 200
    scraped = deployment.proxy().request("GET", "/metrics",
                                         headers={"Authorization": f"Bearer {token}"})
    assert scraped.status_code == 200
    text = scraped.get_data(as_text=True)
    assert "ivr_redis_up 1.0" in text
    # ivr-web.service's PROMETHEUS_MULTIPROC_DIR: every worker's webhooks counted in one scrape
    assert sum(metric(text, "ivr_webhook_seconds_count")) >= 4
    assert list(deployment.web_socket.parent.glob("*.db"))


def metric(text: str, name: str) -> list[float]:
    return [float(v) for v in re.findall(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text,
                                         re.M)]


def test_the_worker_scheduler_and_reconciler_units_run(deployment):
    """Their ExecStart commands, with the EnvironmentFile's variables, start, show in
    /metrics as alive, and stop cleanly on systemd's SIGTERM."""
    env = deployment.env
    cwd = working_directory("ivr-worker.service")
    for unit in ("worker", "scheduler", "reconciler"):
        deployment.start(unit, exec_start(f"ivr-{unit}.service", env), env, cwd)
    token = env["IVR_METRICS_TOKEN"]

    def alive() -> bool:
        text = deployment.proxy().request("GET", "/metrics", headers={
            "Authorization": f"Bearer {token}"}).get_data(as_text=True)
        return (metric(text, "ivr_workers") == [1.0]
                and metric(text, "ivr_scheduler_up") and all(metric(text, "ivr_scheduler_up"))
                and bool(metric(text, "ivr_reconcile_last_run_age_seconds")))

    wait_for(alive, "worker, scheduler and reconciler", *deployment.procs["worker"], timeout=60)
    for unit in ("worker", "scheduler", "reconciler"):
        proc, log = deployment.procs[unit]
        assert proc.poll() is None, log.read_text()[-2000:]
    for unit in ("scheduler", "reconciler"):
        proc, log = deployment.procs[unit]
        assert deployment.stop(unit) == 0, log.read_text()[-2000:]
    # The worker's warm shutdown: it leaves RQ's registry at once; its exit can then hang
    # joining RQ's pubsub thread (rq/rq#1613), which systemd ends after TimeoutStopSec with
    # SIGKILL, harmlessly: no job is running and the worker has already said it is gone.
    proc, log = deployment.procs["worker"]
    proc.send_signal(signal.SIGTERM)
    state = redis.Redis.from_url(deployment.redis_url)
    wait_for(lambda: not Worker.all(connection=state), "the worker's deregistration", None, log)
    assert Worker.all(connection=state) == [], log.read_text()[-2000:]
    assert "warm shut down requested" in log.read_text()
    deployment.stop("worker", timeout=10)


KIOSK_TOKEN = "kioskTokenNeverLogged_" + "x" * 24


class _EchoHeaders(http.server.BaseHTTPRequestHandler):
    """Answers with the request's headers, one per line: what the upstream receives."""

    def do_GET(self) -> None:
        body = "".join(f"{k}: {v}\n" for k, v in self.headers.items()).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # quiet
        pass


class _UnixEcho(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        conn, _ = super().get_request()
        return conn, ("unix", 0)  # BaseHTTPRequestHandler wants an address pair


def test_the_proxy_sends_its_own_forwarded_headers_not_the_clients(tmp_path):
    """What gunicorn would receive, seen by an upstream that echoes it: Caddy with deploy's
    snippet replaces a client's X-Forwarded-For/-Host/-Proto with the true values and drops
    its Forwarded and X-Real-IP, so the only forwarding headers upstream are the proxy's."""
    cert, key = make_certificate(tmp_path)
    echo = _UnixEcho(str(tmp_path / "echo.sock"), _EchoHeaders)
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    port = free_port()
    argv = ["caddy", "run", "--config", str(caddyfile(tmp_path, port, cert, key)), "--adapter",
            "caddyfile"]
    log = tmp_path / "caddy.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
                                env=real_clock_env() | {
                                    "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path),
                                    "XDG_CONFIG_HOME": str(tmp_path),
                                    "IVR_UPSTREAM": f"unix/{tmp_path / 'echo.sock'}"})
    try:
        client = Through(f"https://localhost:{port}", cert, {
            "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Host": "evil.example",
            "X-Forwarded-Proto": "http", "Forwarded": "for=203.0.113.9;proto=http",
            "X-Real-IP": "203.0.113.9"})
        wait_for(lambda: client.request("GET", "/").status_code == 200, "caddy", proc, log)
        seen = dict(line.split(": ", 1) for line in
                    client.request("GET", "/").get_data(as_text=True).splitlines())
        kiosk_page = f"https://localhost:{port}/console/kiosk/{KIOSK_TOKEN}"
        assert client.request("GET", f"/console/kiosk/{KIOSK_TOKEN}/board.json",
                              headers={"Referer": kiosk_page}).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        echo.shutdown()
        echo.server_close()
    assert seen["X-Forwarded-For"] == "127.0.0.1"
    assert seen["X-Forwarded-Host"] == f"localhost:{port}"
    assert seen["X-Forwarded-Proto"] == "https"
    assert "Forwarded" not in seen and "X-Real-Ip" not in seen and "X-Real-IP" not in seen
    # the access line of a kiosk's poll names neither its token nor its page's
    logged = log.read_text()
    assert "/console/kiosk/***/board.json" in logged and KIOSK_TOKEN not in logged
