"""What durability costs per voicemail: the voicemail's one atomic script, timed on a private
redis-server with ``appendfsync everysec`` and with ``appendfsync always`` (what the embedded
Redis runs and docs/durability.md asks of a production Redis).

With ``always`` Redis writes and fsyncs the append-only file before it replies, so a voicemail
the caller heard "we've got your message" for survives ``kill -9`` of Redis and a power cut;
with ``everysec`` up to a second (more when the disk is slow) of answered voicemails can be
lost. Each setting stores ``--voicemails`` voicemails one after another (as the webhooks do),
and prints the median, p99 and mean time per voicemail and the fsyncs Redis counted.

    .venv/bin/python bench/durability.py [--voicemails 500]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import _common as c
import redis

from ivr.calendar import OpeningHours, callback_window
from ivr.config import load_config
from voicemail.tasks import Voicemail, save_voicemail


def private_redis(directory: Path, appendfsync: str, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
         "--appendonly", "yes", "--appendfsync", appendfsync, "--save", ""],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            redis.Redis(port=port).ping()
            return proc
        except redis.RedisError:
            time.sleep(0.02)
    proc.kill()
    raise SystemExit(f"redis-server with appendfsync {appendfsync} did not start")


def measure(appendfsync: str, count: int, hours: OpeningHours) -> list[float]:
    work = Path(tempfile.mkdtemp(prefix=f"ivr-durability-{appendfsync}-"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = private_redis(work, appendfsync, port)
    try:
        r = redis.Redis(port=port)
        left = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
        window = callback_window(left, hours)
        times = []
        for i in range(count):
            vm = Voicemail(call_sid=c.new_sid(), recording_id=c.new_sid("RE"),
                           recording_url="https://api.twilio.com/x", duration=20,
                           recording_status="completed", number=c.mobile(i), relay=False,
                           department="council_tax", left_at=left.timestamp() + i,
                           source="record_action")
            start = time.perf_counter()
            save_voicemail(r, vm, window, 400)
            times.append((time.perf_counter() - start) * 1000)
        info = r.info("persistence")
        print(f"  appendfsync {appendfsync}: aof_delayed_fsync {info.get('aof_delayed_fsync')}, "
              f"AOF {info.get('aof_current_size', 0):,} bytes")
        return times
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voicemails", type=int, default=500)
    args = parser.parse_args()
    if not 10 <= args.voicemails <= 100_000:
        print("error: --voicemails takes 10 to 100000", file=sys.stderr)
        return 2
    if shutil.which("redis-server") is None:
        print("error: redis-server is not on PATH", file=sys.stderr)
        return 2
    config = load_config(c.ROOT / "config.yaml")
    hours = config.hours.opening_hours()
    print(f"== {c.machine()}; disk {c.ROOT}")
    rows = []
    results = {}
    for setting in ("everysec", "always"):
        times = measure(setting, args.voicemails, hours)
        results[setting] = times
        rows.append([setting, f"{c.median(times):.3f}", f"{c.percentile(times, 99):.3f}",
                     f"{sum(times) / len(times):.3f}"])
    print(c.table(["appendfsync", "median ms", "p99 ms", "mean ms"], rows))
    extra = c.median(results["always"]) - c.median(results["everysec"])
    print(f"cost of appendfsync always: +{extra:.3f} ms median per voicemail "
          f"({args.voicemails} voicemails each)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
