"""Webhook throughput under gunicorn: the real app against a bare Flask endpoint, same run.

Two gunicorn servers with identical settings (2 sync workers, 127.0.0.1, free ports, no
access log) serve ``bench/bare_app.py`` and ``ivr.wsgi:app`` (on the bench Redis database,
config open all day so the daytime path runs). A load generator with a fixed number of
connections then drives, in turn:

  bare      POST /twiml                        fixed TwiML document (the baseline)
  floor     POST /floor                        signature check + one Redis pipeline + the
                                               same fixed document (the least a webhook does)
  incoming  POST /voice/incoming               signed, a new CallSid and number per request
  wait      POST /voice/queue/council_tax/wait signed waitUrl request (QueueTime 0-90 s)

Requests are signed once before the run (the signature depends only on URL + parameters) and
cycled, so the load generator does no cryptography. ``wrk`` is used when installed (a Lua
script cycles the pre-signed requests), else a bounded Python generator (threads,
http.client). Targets run in ABC CBA order over ``--rounds`` to cancel drift on a noisy
machine. Prints requests/s, p50 and p99 latency per target and the ratio app / bare
(target >= 0.85). Bounded: ``--duration`` seconds per target per round; servers stop at exit.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import _common as c

TARGET_RATIO = 0.85
DEPT = "council_tax"


@dataclass
class Target:
    name: str
    server: str  # "bare" or "app"
    path: str
    marker: str  # text every good response contains
    requests: list[tuple[str, str, str]]  # (path, urlencoded body, signature)


@dataclass
class Result:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


# -- requests --------------------------------------------------------------------------------


def signed(base: str, path: str, params: dict[str, str]) -> tuple[str, str, str]:
    return path, urlencode(params), c.sign(base + path, params)


def incoming_requests(base: str, n: int) -> list[tuple[str, str, str]]:
    path = "/voice/incoming"
    return [signed(base, path, c.standard(c.new_sid(), c.mobile(i), status="ringing"))
            for i in range(n)]


def wait_requests(base: str, n: int) -> list[tuple[str, str, str]]:
    path = f"/voice/queue/{DEPT}/wait"
    out = []
    for i in range(n):
        position = 1 + i % 10
        params = c.standard(c.new_sid(), c.mobile(i)) | {
            "QueueSid": "QU" + "1" * 32,
            "QueueTime": str(30 * (i % 4)),
            "QueuePosition": str(position),
            "AvgQueueTime": "45",
            "CurrentQueueSize": str(10),
            "MaxQueueSize": "100",
        }
        out.append(signed(base, path, params))
    return out


# -- servers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gunicorn_bin() -> str:
    local = Path(sys.executable).parent / "gunicorn"
    found = str(local) if local.exists() else shutil.which("gunicorn")
    if not found:
        sys.exit("gunicorn not found (install the project: pip install -e .)")
    return found


class Server:
    """One gunicorn master with its workers, stopped (SIGTERM, then SIGKILL) by ``stop``."""

    def __init__(self, name: str, spec: str, port: int, env: dict[str, str], workdir: Path,
                 workers: int, access_log: bool, worker_class: str = "sync",
                 threads: int = 1) -> None:
        self.name = name
        self.port = port
        self.log = workdir / f"gunicorn-{name}.log"
        cmd = [
            gunicorn_bin(), "--workers", str(workers), "--worker-class", worker_class,
            "--threads", str(threads),
            "--bind", f"127.0.0.1:{port}", "--chdir", str(c.ROOT),
            "--pythonpath", str(c.ROOT / "bench"), "--log-level", "warning",
            "--timeout", "30", "--graceful-timeout", "5",
        ]
        if access_log:
            cmd += ["--access-logfile", str(workdir / f"access-{name}.log")]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(cmd + [spec], env=env, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"{self.name} server exited:\n{self.log.read_text()[-2000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        sys.exit(f"{self.name} server not ready after {timeout:.0f}s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


def check(port: int, target: Target) -> None:
    """One request before the load: it must answer 200 with the expected document."""
    path, body, sig = target.requests[0]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", path, body, headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig})
    response = conn.getresponse()
    text = response.read().decode()
    conn.close()
    if response.status != 200 or target.marker not in text:
        sys.exit(f"{target.name}: unexpected answer {response.status}: {text[:300]}")


# -- load generators -------------------------------------------------------------------------

LUA = """
local bodies = {
%(bodies)s
}
local reqs = {}
local n = 0
function init(args)
  for i, b in ipairs(bodies) do
    reqs[i] = wrk.format("POST", b[1], {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["X-Twilio-Signature"] = b[3]}, b[2])
  end
end
function request()
  n = n %% #reqs + 1
  return reqs[n]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %%.0f, "duration_us": %%.0f, "p50_us": %%.0f, "p99_us": %%.0f, ' ..
    '"connect": %%.0f, "read": %%.0f, "write": %%.0f, "status": %%.0f, "timeout": %%.0f}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def lua_script(target: Target, directory: Path) -> Path:
    for path, body, sig in target.requests:  # plain ASCII, no quotes: safe in Lua strings
        assert '"' not in path + body + sig and "\\" not in path + body + sig
    rows = ",\n".join(f'  {{"{p}", "{b}", "{s}"}}' for p, b, s in target.requests)
    script = directory / f"{target.name}.lua"
    script.write_text(LUA % {"bodies": rows})
    return script


def run_wrk(port: int, target: Target, script: Path, conns: int, seconds: float) -> Result:
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{max(1, round(seconds))}s", "--timeout", "5s",
           "-s", str(script), f"http://127.0.0.1:{port}{target.path}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30)
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        sys.exit(f"wrk failed ({out.returncode}): {out.stdout}\n{out.stderr}")
    d = json.loads(line[6:])
    errors = int(d["connect"] + d["read"] + d["write"] + d["status"] + d["timeout"])
    return Result(int(d["requests"]), d["duration_us"] / 1e6, d["p50_us"] / 1000,
                  d["p99_us"] / 1000, errors)


def run_python(port: int, target: Target, conns: int, seconds: float,
               max_requests: int = 200_000) -> Result:
    """Bounded Python load: ``conns`` threads, each with a keep-alive connection when the
    server allows it (gunicorn's sync workers close after each response: then reconnect)."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start = time.perf_counter()
    deadline = start + seconds
    headers_base = {"Content-Type": "application/x-www-form-urlencoded"}

    def worker(offset: int) -> None:
        conn = None
        mine: list[float] = []
        bad = 0
        i = offset
        while time.perf_counter() < deadline and len(mine) < max_requests // conns:
            path, body, sig = target.requests[i % len(target.requests)]
            i += conns
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, body, headers=headers_base | {
                    "X-Twilio-Signature": sig})
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                bad += 1
                conn.close()
                conn = None
                continue
            mine.append(time.perf_counter() - t0)
            if response.status != 200:
                bad += 1
            if response.will_close:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 15)
    elapsed = time.perf_counter() - start
    return Result(len(latencies), elapsed, c.percentile(latencies, 50) * 1000,
                  c.percentile(latencies, 99) * 1000, errors[0])


# -- main ------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    c.redis_arg(parser)
    parser.add_argument("--duration", type=float, default=3.0,
                        help="seconds per target per round (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=8,
                        help="rounds, alternating the order of targets (default %(default)s)")
    parser.add_argument("--connections", type=int, default=4,
                        help="fixed concurrent connections (default %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"],
                        help="gunicorn worker class for both servers (default sync, as "
                             "`ivr serve`)")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads per worker for both servers (gthread; default 1)")
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--access-log", action="store_true",
                        help="both servers write an access log, as `ivr serve` does")
    parser.add_argument("--latency-seconds", type=float, default=3.0,
                        help="then each target with ONE connection for this long: the time a "
                             "request takes when nothing queues (0 to skip)")
    parser.add_argument("--signed", type=int, default=500,
                        help="distinct pre-signed requests cycled per target")
    args = parser.parse_args()
    c.exit_on_sigterm()
    if (not 0 < args.duration <= 60 or not 0 < args.rounds <= 10
            or not 0 <= args.latency_seconds <= 60):
        sys.exit("keep it bounded: 0 < --duration <= 60, 0 < --rounds <= 10, "
                 "0 <= --latency-seconds <= 60")

    loadgen = args.loadgen
    if loadgen == "auto":
        loadgen = "wrk" if shutil.which("wrk") else "python"
    if loadgen == "wrk" and not shutil.which("wrk"):
        sys.exit("wrk not installed (apt-get install wrk), or use --loadgen python")

    r = c.bench_redis(args.redis_url)
    now = time.time()
    c.add_answers(r, DEPT, now)
    workdir = Path(tempfile.mkdtemp(prefix="ivr-bench-web-"))
    config_path = c.open_all_day_config(workdir)
    from ivr.config import load_config

    print(c.machine(r))
    print(f"hours: {c.hours_note(load_config(config_path))}")
    print(f"settings: gunicorn {args.workers} {args.worker_class} workers "
          f"x {args.threads} threads on 127.0.0.1, "
          f"access log {'on' if args.access_log else 'off'}; load: {loadgen}, "
          f"{args.connections} connections, {args.duration:g}s x {args.rounds} rounds per target")

    env = {k: v for k, v in os.environ.items()
           if k not in ("PROMETHEUS_MULTIPROC_DIR", "IVR_INSECURE_SKIP_SIGNATURE",
                        "PUBLIC_BASE_URL")}
    env |= {"REDIS_URL": args.redis_url, "TWILIO_AUTH_TOKEN": c.AUTH_TOKEN,
            "TWILIO_ACCOUNT_SID": c.ACCOUNT_SID, "IVR_CONFIG": str(config_path),
            "IVR_SPOOL_DIR": str(workdir / "spool"), "PYTHONDONTWRITEBYTECODE": "1"}
    ports = {"bare": free_port(), "app": free_port()}
    while ports["app"] == ports["bare"]:
        ports["app"] = free_port()
    servers = {
        name: Server(name, spec, ports[name], env, workdir, args.workers, args.access_log,
                     args.worker_class, args.threads)
        for name, spec in (("bare", "bare_app:app"), ("app", "ivr.wsgi:app"))
    }
    try:
        for s in servers.values():
            s.wait_ready()
        base = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        incoming = incoming_requests(base["app"], args.signed)
        bare_reqs = [("/twiml", body, sig) for _, body, sig in incoming]
        floor_reqs = [signed(base["bare"], "/floor", dict(parse_qsl(body)))
                      for _, body, _ in incoming]
        targets = [
            Target("bare", "bare", "/twiml", "<Gather", bare_reqs),
            Target("floor", "bare", "/floor", "<Gather", floor_reqs),
            Target("incoming", "app", "/voice/incoming", "<Gather", incoming),
            Target("wait", "app", f"/voice/queue/{DEPT}/wait", "<Play",
                   wait_requests(base["app"], args.signed)),
        ]
        scripts = {t.name: lua_script(t, workdir) for t in targets} if loadgen == "wrk" else {}

        def run(t: Target, seconds: float, conns: int = args.connections) -> Result:
            port = ports[t.server]
            if loadgen == "wrk":
                return run_wrk(port, t, scripts[t.name], conns, seconds)
            return run_python(port, t, conns, seconds)

        for t in targets:  # correctness first, then a short warm-up (imports, connections)
            check(ports[t.server], t)
            run(t, 1)
        results: dict[str, list[Result]] = {t.name: [] for t in targets}
        for rnd in range(args.rounds):
            order = targets if rnd % 2 == 0 else list(reversed(targets))
            for t in order:
                res = run(t, args.duration)
                results[t.name].append(res)
                print(f"  round {rnd + 1} {t.name:<9} {res.rps:8.0f} req/s  "
                      f"p50 {res.p50_ms:6.2f} ms  p99 {res.p99_ms:6.2f} ms  "
                      f"errors {res.errors}", flush=True)
        single: dict[str, Result] = {}
        if args.latency_seconds:
            for t in targets:
                single[t.name] = run(t, args.latency_seconds, 1)
    finally:
        for s in servers.values():
            s.stop()
        r.flushdb()
        shutil.rmtree(workdir, ignore_errors=True)

    def total(name: str) -> tuple[float, float, float, int, int]:
        rs = results[name]
        reqs = sum(x.requests for x in rs)
        secs = sum(x.seconds for x in rs)
        return (reqs / secs, sum(x.p50_ms for x in rs) / len(rs),
                sum(x.p99_ms for x in rs) / len(rs), reqs, sum(x.errors for x in rs))

    bare_rps, floor_rps = total("bare")[0], total("floor")[0]
    rows = []
    verdicts = []
    for t in targets:
        rps, p50, p99, reqs, errs = total(t.name)
        ratio = rps / bare_rps if bare_rps else float("nan")
        app = t.server == "app"
        ok = ("ok" if ratio >= TARGET_RATIO else "BELOW TARGET") if app else ""
        if app:
            verdicts.append(ratio >= TARGET_RATIO)
        rows.append([f"{t.name} ({t.path})", f"{rps:.0f}", f"{p50:.2f}", f"{p99:.2f}", reqs,
                     errs, f"{ratio:.2f}", ok,
                     f"{rps / floor_rps:.2f}" if floor_rps and t.name != "bare" else ""])
    print()
    print(c.table(["target", "req/s", "p50 ms", "p99 ms", "requests", "errors", "vs bare",
                   f"target >= {TARGET_RATIO}", "vs floor"], rows))
    print("(req/s = all requests / all seconds over the rounds; p50/p99 = mean over rounds, "
          "including time queued for a worker)")
    if single:
        rows = []
        for t in targets:
            res = single[t.name]
            extra = res.p50_ms - single["bare"].p50_ms
            rows.append([t.name, f"{res.rps:.0f}", f"{res.p50_ms:.2f}", f"{res.p99_ms:.2f}",
                         "" if t.name == "bare" else f"{extra:+.2f}",
                         "1.00" if t.name == "bare"
                         else f"{single['bare'].p50_ms / res.p50_ms:.2f}"])
        print()
        print(f"one connection, {args.latency_seconds:g}s each (no queueing: the time one "
              "request takes)")
        print(c.table(["target", "req/s", "p50 ms", "p99 ms", "p50 vs bare",
                       "bare p50 / p50"], rows))
    del verdicts  # figures only: a slow run is reported, never a failure
    return 0


if __name__ == "__main__":
    sys.exit(main())
