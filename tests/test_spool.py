"""The spool's replay, exactly once: one drain at a time (a lock), one process per item (a
claim), and each spooled batch of events in the stream once (its id), however many web workers
and ``ivr replay-spool`` runs replay it, and whatever dies half-way.

Real processes on the real test Redis: ``spool_racer.py`` replays a shared spool the ways a
gunicorn worker and the command do.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from caller import AUTH_TOKEN
from conftest import DOWN_REDIS_URL, ROOT, TEST_REDIS_URL

from ivr import events
from ivr.events import Event
from ivr.spool import CLAIM, FAILED_SUFFIX, LOCK, Spool
from voicemail.tasks import Voicemail

TESTS = Path(__file__).parent
RACERS = 4
BATCHES = 500
VOICEMAILS = 20
RETENTION_DAYS = 400  # config.yaml's events.retention_days


@pytest.fixture
def spool(app) -> Spool:
    return app.extensions["ivr"].spool


def spool_events(spool: Spool, n: int) -> None:
    """``n`` batches of two events, as a webhook's failed commit spools them."""
    at = time.time() - 3600
    for i in range(n):
        sid = f"CAspool{i:05d}"
        spool.write("events", [events.fields(Event.INCOMING, sid, at + i / 1000, relay=False),
                               events.fields(Event.NOTICE, sid, at + i / 1000)])


def spool_voicemails(spool: Spool, n: int) -> None:
    at = time.time() - 3600
    for i in range(n):
        vm = Voicemail(call_sid=f"CAvm{i:05d}", recording_id=f"REspool{i:05d}",
                       recording_url="", duration=9, recording_status="completed",
                       number=f"+447700900{i:03d}", relay=False, department="general",
                       left_at=at + i, source="record_action")
        spool.write("voicemail", vm.to_json())


def assert_each_once(redis_client, spool: Spool, batches: int, voicemails: int = 0) -> None:
    found = events.read_all(redis_client)
    spooled = Counter((e["event"], e["call"]) for e in found if e["call"].startswith("CAspool"))
    assert len(spooled) == 2 * batches
    assert set(spooled.values()) == {1}
    recordings = Counter(e["data"]["recording"] for e in found if e["event"] == "VOICEMAIL")
    assert len(recordings) == voicemails and set(recordings.values()) <= {1}
    created = Counter(e["call"] for e in found if e["event"] == "CALLBACKCREATED")
    assert len(created) == voicemails and set(created.values()) <= {1}
    assert spool.size() == 0
    assert list(spool.directory.glob("*" + FAILED_SUFFIX)) == []


def racer(mode: str, spool_dir: Path, go: Path | str = "-") -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(TESTS)]),
               IVR_TEST_REDIS_URL=TEST_REDIS_URL)
    return subprocess.Popen([sys.executable, str(TESTS / "spool_racer.py"), mode,
                             str(spool_dir), str(go)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def racers(mode: str, spool_dir: Path, tmp_path: Path, n: int = RACERS) -> list[dict]:
    """``n`` processes replaying ``spool_dir`` together; what each did."""
    go = tmp_path / "go"
    procs = [racer(mode, spool_dir, go) for _ in range(n)]
    try:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("go.*.ready"))) < n and time.monotonic() < deadline:
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
            time.sleep(0.01)
    finally:
        go.touch()  # all ready (or given up on): off they go
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * n, outs
    return [json.loads(out.splitlines()[-1]) for out, _ in outs]


@pytest.mark.parametrize("mode", ["webhook", "drain", "no-lock", "no-claim"])
def test_processes_racing_replay_each_item_once(mode, spool, redis_client, tmp_path):
    """Four processes at once: as web workers (each ringing once, or draining), with only
    the claims (no lock), or with only the batches' ids (no lock, no claims)."""
    spool_events(spool, BATCHES)
    spool_voicemails(spool, VOICEMAILS)
    did = racers(mode, spool.directory, tmp_path)
    assert_each_once(redis_client, spool, BATCHES, VOICEMAILS)
    assert all(d["errors"] == [] for d in did)
    done = sum(d["done"] for d in did)
    if mode == "no-claim":
        assert done >= BATCHES + VOICEMAILS  # items replayed more than once, written once
    else:
        assert done == BATCHES + VOICEMAILS  # each item replayed by one process


def test_a_replay_killed_after_writing_adds_nothing_when_replayed_again(
        spool, redis_client, tmp_path):
    spool_events(spool, 3)
    killed = racer("crash", spool.directory)
    killed.communicate(timeout=60)  # reaped: its pid is gone, as a dead worker's is
    assert killed.returncode == -signal.SIGKILL
    assert redis_client.xlen(events.STREAM) == 2  # the first batch was written...
    claims = [p for p in spool.directory.iterdir() if CLAIM in p.name]
    assert len(claims) == 1 and spool.size() == 3  # ...and its file left, claimed by the dead
    assert spool.has_pending()
    written = json.loads(claims[0].read_text())["id"]

    assert spool.drain() == 3  # the claim goes back to pending; its batch is found written
    assert_each_once(redis_client, spool, 3)
    assert 0 < redis_client.ttl(events.REPLAYED.format(id=written)) <= RETENTION_DAYS * 86400


def test_a_batch_written_but_left_on_disk_is_not_written_twice(spool, redis_client):
    spool_events(spool, 2)
    path = spool.pending()[0]
    item = json.loads(path.read_text())
    spool.handlers["events"](item["payload"], item["id"])  # written; then the process died
    assert spool.drain() == 2
    assert_each_once(redis_client, spool, 2)


def test_a_file_from_before_ids_replays_once_by_its_name(spool, redis_client):
    batch = [events.fields(Event.INCOMING, "CAspool00000", time.time() - 60),
             events.fields(Event.NOTICE, "CAspool00000", time.time() - 60)]
    spool.directory.mkdir(parents=True)
    old = spool.directory / "1764586800.000000-events-0123456789ab.json"
    text = json.dumps({"kind": "events", "payload": batch})  # as written before ids
    old.write_text(text)
    assert spool.drain() == 1
    old.write_text(text)  # as if its removal had not reached the disk
    assert spool.drain() == 1
    assert_each_once(redis_client, spool, 1)
    assert redis_client.exists(events.REPLAYED.format(id="file-" + old.stem))


def test_add_once_writes_a_batch_and_its_marker_once(redis_client):
    batch = [events.fields(Event.INCOMING, "CAonce", 2_000_000_000.0)]
    assert events.add_once(redis_client, "B1", batch, RETENTION_DAYS) is True
    assert events.add_once(redis_client, "B1", batch, RETENTION_DAYS) is False
    assert events.add_once(redis_client, "B2", batch, RETENTION_DAYS) is True  # another batch
    assert [e["call"] for e in events.read_all(redis_client)] == ["CAonce", "CAonce"]
    assert redis_client.ttl(events.REPLAYED.format(id="B1")) > (RETENTION_DAYS - 1) * 86400


def test_a_live_claim_is_left_alone_until_it_is_stale(spool, redis_client):
    spool_events(spool, 1)
    path = spool.pending()[0]
    claimed = path.with_name(f"{path.name}{CLAIM}{os.getpid()}-{int(time.time())}")
    path.rename(claimed)  # another thread of a live process is replaying it
    assert spool.has_pending() and spool.size() == 1
    assert spool.drain() == 0
    assert claimed.exists()
    stale = path.with_name(f"{path.name}{CLAIM}{os.getpid()}-{int(time.time()) - 301}")
    claimed.rename(stale)  # ...for over five minutes: given up
    assert spool.drain() == 1
    assert_each_once(redis_client, spool, 1)


def test_while_another_process_drains_a_webhook_does_not_wait(spool, redis_client):
    spool_events(spool, 2)
    fd = os.open(spool.directory / LOCK, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as another process's drain does
        os.pwrite(fd, b"4242", 0)
        started = time.monotonic()
        assert spool.drain() == 0
        assert time.monotonic() - started < 0.05
        found = spool.replay(wait=0.2)
        assert (found.busy, found.holder, found.done) == (True, "4242", 0)
        assert spool.size() == 2 and redis_client.xlen(events.STREAM) == 0
    finally:
        os.close(fd)
    assert spool.drain() == 2
    assert_each_once(redis_client, spool, 2)


def test_write_syncs_the_item_and_its_directory(tmp_path, monkeypatch):
    synced = []
    real = os.fsync

    def fsync(fd):
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    path = Spool(tmp_path / "spool").write("events", [{"event": "X"}])
    assert synced == ["file", "dir"]
    item = json.loads(path.read_text())
    assert item["kind"] == "events" and item["payload"] == [{"event": "X"}]
    assert re.fullmatch(r"[0-9a-f]{32}", item["id"]) and item["id"][:12] in path.name
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


# -- ivr replay-spool ---------------------------------------------------------------------------


def cli(spool_dir: Path, *args: str, redis_url: str = TEST_REDIS_URL) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items()
           if k not in ("IVR_REDIS_CLUSTER", "RQ_REDIS_URL")}
    env.update(PYTHONPATH=str(ROOT), REDIS_URL=redis_url, IVR_SPOOL_DIR=str(spool_dir),
               IVR_CONFIG=str(ROOT / "config.yaml"), TWILIO_AUTH_TOKEN=AUTH_TOKEN)
    return subprocess.Popen([sys.executable, "-m", "ivr.cli", "replay-spool", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_replay_spool_commands_at_once_both_succeed(spool, redis_client):
    spool_events(spool, 300)
    spool_voicemails(spool, 10)
    runs = [cli(spool.directory) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in runs]
    assert [p.returncode for p in runs] == [0, 0], outs
    replayed = [int(m.group(1)) if (m := re.match(r"replayed (\d+) ", out)) else 0
                for out, _ in outs]
    assert sum(replayed) == 310
    assert all(re.match(r"(replayed \d+ spooled item\(s\); 0 left|process \d+ is replaying)",
                        out) for out, _ in outs), outs
    assert_each_once(redis_client, spool, 300, 10)


def test_replay_spool_leaves_the_spool_to_a_replay_under_way(spool, redis_client):
    spool_events(spool, 1)
    fd = os.open(spool.directory / LOCK, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.pwrite(fd, b"4242", 0)
        out, err = cli(spool.directory, "--wait", "0.2").communicate(timeout=60)
    finally:
        os.close(fd)
    assert out.startswith("process 4242 is replaying the spool") and err == ""
    assert spool.size() == 1


def test_replay_spool_with_redis_down_fails_in_one_line(spool):
    spool_events(spool, 2)
    spool_voicemails(spool, 1)
    run = cli(spool.directory, redis_url=DOWN_REDIS_URL)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 1
    assert out == ""
    assert len(err.splitlines()) == 1 and err.startswith("error: cannot reach Redis ("), err
    assert "3 left in" in err
    assert len(spool.pending()) == 3  # nothing claimed or set aside
