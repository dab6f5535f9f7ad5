"""Shared helpers for the benchmark scripts: settings, signed requests, Redis set-up, machine.

Every bench uses its own Redis database (``--redis-url``, default db 8), flushes it before and
after, and refuses database 0. Requests are signed exactly as Twilio signs them
(``X-Twilio-Signature`` over the URL requested and the form parameters).
"""

from __future__ import annotations

import argparse
import atexit
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

import redis
import yaml
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
COUNCIL_NUMBER = "+441206282222"
AGENT_LINE = "+441206282299"
BASE = "http://localhost"  # what the Flask test client's requests are signed against


# -- settings --------------------------------------------------------------------------------


def exit_on_sigterm() -> None:
    """Turn SIGTERM (``timeout``, CI cancelling) into SystemExit, so ``finally`` blocks stop
    the servers this bench started and flush its database."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def redis_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--redis-url",
        default=DEFAULT_REDIS_URL,
        help="Redis database used (flushed before and after; default %(default)s)",
    )


def bench_redis(url: str) -> redis.Redis:
    """A client for the bench database, checked and flushed (never database 0)."""
    r = redis.Redis.from_url(url)
    db = r.connection_pool.connection_kwargs.get("db", 0)
    if int(db or 0) == 0:
        sys.exit(f"refusing to flush Redis database 0 ({url}): pass --redis-url .../N, N > 0")
    try:
        r.ping()
    except redis.ConnectionError as exc:
        sys.exit(f"no Redis at {url}: {exc}")
    r.flushdb()
    return r


class PrivateRedis:
    """A throw-away redis-server (unix socket, no persistence) for figures that read
    server-wide counters (``INFO commandstats``, ``used_memory``), which other users of a
    shared server would disturb. ``stop`` ends it and removes its directory."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if not binary:
            sys.exit("--private-redis needs redis-server on PATH")
        self.dir = Path(tempfile.mkdtemp(prefix="ivr-bench-redis-"))
        self.sock = self.dir / "redis.sock"
        self.proc = subprocess.Popen(
            [binary, "--port", "0", "--unixsocket", str(self.sock), "--save", "",
             "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"unix://{self.sock}?db=1"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.ConnectionError:
                time.sleep(0.1)
        self.stop()
        sys.exit("private redis-server did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        shutil.rmtree(self.dir, ignore_errors=True)


def open_all_day_config(directory: Path) -> Path:
    """config.yaml with every day open 00:00-23:59:59 and no closure dates.

    Benchmarks must take the daytime path (menu, queues) whatever the time they run at;
    bank holidays still close the lines (``hours_note`` says which path runs).
    """
    raw = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    days = raw["hours"]["weekly"]
    for day in days:
        days[day] = {"open": "00:00", "close": "23:59:59"}
    raw["hours"]["closures"] = []
    path = directory / "bench-config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def hours_note(config) -> str:
    from ivr import clock
    from ivr.calendar import is_open

    if is_open(clock.now(), config.hours.opening_hours()):
        return "lines open (bench config: open all day) -> daytime path"
    return "lines CLOSED now (bank holiday?) -> out-of-hours path; figures not typical"


def make_app(redis_url: str, workdir: Path | None = None):
    """The real app, in-process, on the bench database, open all day, signatures checked."""
    from ivr.app import create_app
    from ivr.config import load_config

    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="ivr-bench-"))
        atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    config = load_config(open_all_day_config(workdir))
    app = create_app(
        {
            "config": config,
            "REDIS_URL": redis_url,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "PUBLIC_BASE_URL": "",
            "IVR_SPOOL_DIR": str(workdir / "spool"),
            "IVR_INSECURE_SKIP_SIGNATURE": False,
        }
    )
    app.testing = True
    return app


# -- Twilio's side of a request --------------------------------------------------------------


def new_sid(prefix: str = "CA") -> str:
    return prefix + uuid.uuid4().hex


def sign(url: str, params: dict[str, str]) -> str:
    return RequestValidator(AUTH_TOKEN).compute_signature(url, params)


def standard(sid: str, from_: str, to: str = COUNCIL_NUMBER, status: str = "in-progress"):
    """The parameters Twilio sends on every voice request."""
    return {
        "CallSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": from_,
        "To": to,
        "Caller": from_,
        "Called": to,
        "CallStatus": status,
        "ApiVersion": "2010-04-01",
        "Direction": "inbound",
        "FromCountry": "GB",
        "ToCountry": "GB",
        "FromCity": "",
        "ToCity": "COLCHESTER",
    }


def mobile(i: int) -> str:
    """A distinct valid UK mobile number (07911 range) for caller ``i``."""
    return f"+447911{i % 1_000_000:06d}"


def landline(i: int) -> str:
    """A distinct valid Colchester landline number (01206) for caller ``i``."""
    return f"+441206{500_000 + i % 400_000:06d}"


class Signed:
    """Posts signed requests through the Flask test client; returns (status, body)."""

    def __init__(self, app) -> None:
        self.client = app.test_client()

    def post(self, url: str, params: dict[str, str]) -> tuple[int, str]:
        absolute = url if url.startswith("http") else BASE + url
        parts = urlsplit(absolute)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        response = self.client.post(
            path, data=params, headers={"X-Twilio-Signature": sign(absolute, params)}
        )
        return response.status_code, response.get_data(as_text=True)


def twiml_attr(xml: str, tag: str, attr: str | None = None) -> str:
    """The first ``tag``'s attribute (or text) in a TwiML document; '' when absent."""
    root = ET.fromstring(xml)
    found = root.find(f".//{tag}")
    if found is None:
        return ""
    return (found.get(attr) or "") if attr else (found.text or "").strip()


# -- Redis state as the app would leave it ---------------------------------------------------


def sign_in_agent(r: redis.Redis, departments: Iterable[str], now: float,
                  phone: str = "+447911999001") -> tuple[str, str]:
    """An available agent serving ``departments`` on a linked agent-line call.

    Returns (agent id, agent-line CallSid)."""
    from ivr import agents

    agent = agents.add(r, name="Bench Advisor", departments=list(departments), phone=phone,
                       role=agents.Role.AGENT, now=now)
    agents.set_state(r, agent, agents.State.AVAILABLE, now, reason="bench")
    sid = new_sid()
    agents.link_call(r, sid, agent.id)
    return agent.id, sid


def add_answers(r: redis.Redis, dept: str, now: float, count: int = 50, every: float = 40.0):
    """Recent answer times, so the wait estimate uses measured rates (as on a busy day)."""
    from ivr import store

    key = store.answers_key(dept)
    r.delete(key)
    r.lpush(key, *[f"{now - i * every:.3f}" for i in reversed(range(count))])


def fill_queue(r: redis.Redis, dept: str, start: int, stop: int, now: float,
               keep_calls: int = 172800, chunk: int = 1000) -> list[str]:
    """Callers ``start``..``stop - 1`` waiting in ``dept``, written as the app writes them
    (queue zset member, call hash with its TTL, the caller's recent-calls zset).

    Caller ``i`` joined at ``now - 100000 + i``, so lower numbers wait longer."""
    from ivr import store

    sids = []
    key = store.queue_key(dept)
    for lo in range(start, stop, chunk):
        pipe = r.pipeline(transaction=False)
        for i in range(lo, min(stop, lo + chunk)):
            sid = f"CA{dept[:6]:x<6}{i:026d}"  # 34 characters, as a real CallSid
            sids.append(sid)
            number = mobile(i)
            entered = now - 100_000 + i
            pipe.zadd(key, {sid: entered}, nx=True)
            call = store.call_key(sid)
            pipe.hset(call, mapping={
                "caller": number, "to": COUNCIL_NUMBER, "relay": "0",
                "started_at": f"{entered - 60:.3f}", "status": "in-progress", "menu": "2",
                "dept": dept, "queue_entered_at": f"{entered:.3f}",
            })
            pipe.expire(call, keep_calls)
            ckey = store.caller_key(number)
            pipe.zadd(ckey, {sid: entered - 60})
            pipe.expire(ckey, 30 * 86400)
        pipe.execute()
    return sids


def trim_queue(r: redis.Redis, dept: str, size: int) -> None:
    """Remove the newest callers until ``size`` wait (the front caller stays)."""
    from ivr import store

    key = store.queue_key(dept)
    extra = r.zcard(key) - size
    if extra <= 0:
        return
    gone = [m.decode() for m, _ in r.zpopmax(key, extra)]
    for lo in range(0, len(gone), 1000):
        r.delete(*[store.call_key(s) for s in gone[lo:lo + 1000]])


# -- reporting -------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine(r: redis.Redis | None = None) -> str:
    parts = [
        f"nproc={os.cpu_count()}",
        f"cpu={cpu_model()}",
        f"python={platform.python_version()}",
    ]
    try:
        load = os.getloadavg()
        parts.append(f"load={load[0]:.2f},{load[1]:.2f},{load[2]:.2f}")
    except OSError:
        pass
    if r is not None:
        parts.append(f"redis={r.info('server').get('redis_version', '?')}")
    return "machine: " + "  ".join(parts)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def table(headers: list[str], rows: list[list[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip()

    out = [line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in cells[1:]]
    return "\n".join(out)


_ID_SEGMENT = re.compile(r"\d")


def key_family(key: str | bytes) -> str:
    """``{ivr}:call:CA12..`` -> ``{ivr}:call:*``: a key with its identifying parts starred."""
    text = key.decode(errors="replace") if isinstance(key, bytes) else key
    return ":".join("*" if _ID_SEGMENT.search(seg) or seg.startswith("+") else seg
                    for seg in text.split(":"))
