"""Fault injection: no voicemail is lost or doubled, whatever breaks and when.

Real processes, broken the worst way: a redis-server of the tests' own (append-only,
``appendfsync always`` as the embedded one runs) killed with -9 right after each voicemail is
answered, or paused mid-request; real ``rq worker`` processes killed with -9 while they
release callbacks; Redis down with the spool unwritable. Each fault is applied to 50
voicemails, and each ends the same way: every voicemail is one task with one VOICEMAIL and one
CALLBACKCREATED event, and once its release time has passed it is on the worklist with one
CALLBACKRELEASED event, whether or not any job ran.
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import time_machine
from caller import Caller
from faults import RedisServer, kill9_group, missing_redis, rq_worker

from ivr import events, reconcile
from voicemail.tasks import load_task

pytestmark = pytest.mark.skipif(bool(missing_redis()), reason=missing_redis() or "ok")

N = 50  # voicemails per fault
FRIDAY_EVENING = datetime(2026, 11, 27, 18, 0, tzinfo=UTC).timestamp()
MONDAY_OPENING = datetime(2026, 11, 30, 9, 0, tzinfo=UTC).timestamp()


def number(i: int) -> str:
    return f"+4479112{i:05d}"  # valid UK mobiles (07911 2xxxxx)


@pytest.fixture
def server(tmp_path):
    s = RedisServer(tmp_path / "redis").start()
    yield s
    s.stop()


def leave_voicemail(app, i: int, expect: int = 200, twilio=None) -> str:
    """Voicemail ``i``: the tone, the message (the action), Twilio's recording callback.
    With ``twilio`` (the REST stand-in), Twilio keeps the recording and its call, as it does."""
    caller = Caller(app.test_client(), from_=number(i))
    with time_machine.travel(FRIDAY_EVENING + 60 * i, tick=False):
        assert caller.post("/voicemail/start?dept=council_tax").has("Record")
        doc, rec, status_url = caller.record()
        assert doc.text.startswith("Thank you. We've got your message"), doc.xml
        caller.recording_ready(status_url, rec, expect=expect)
    if twilio is not None:
        twilio.recording_info[rec] = {"call_sid": caller.sid, "duration": 12,
                                      "date_created": FRIDAY_EVENING + 60 * i,
                                      "source": "RecordVerb"}
        twilio.call_info[caller.sid] = {"from": number(i), "to": "+441206282222",
                                        "direction": "inbound", "status": "completed"}
    return rec


def audit(r, recordings: list[str]) -> dict[str, int]:
    """Lost and doubled, by what the stream and the tasks say of each recording."""
    evs = events.read_all(r)
    per_recording = Counter(e["data"].get("recording") for e in evs if e["event"] == "VOICEMAIL")
    created = Counter(e["data"].get("task") for e in evs if e["event"] == "CALLBACKCREATED")
    released = Counter(e["data"].get("task") for e in evs if e["event"] == "CALLBACKRELEASED")
    tasks = {}
    for rec in recordings:
        task_id = r.get(f"{{ivr}}:cb:rec:{rec}")
        if task_id:
            tasks[rec] = task_id.decode()
    return {
        "lost": sum(1 for rec in recordings if rec not in tasks or per_recording[rec] == 0),
        "doubled": sum(1 for rec in recordings if per_recording[rec] > 1)
        + sum(1 for t in created if created[t] > 1) + sum(1 for t in released if released[t] > 1),
        "tasks": len(set(tasks.values())),
        "released": sum(1 for t in set(tasks.values())
                        if load_task(r, t).get("status") == "open" and released[t] == 1),
    }


def release_all(app, r) -> None:
    """The reconciler after the release time: releases what no job released."""
    reconcile.run_once(app.extensions["ivr"], MONDAY_OPENING + 60, lock_seconds=0)


def test_redis_killed_right_after_each_voicemail_is_answered(make_app, server, spool_dir):
    """kill -9 the moment the Record action and the recording callback have answered: with
    ``appendfsync always`` what was answered was on disk, so the restart has every one."""
    app = make_app(REDIS_URL=server.url, staffed=False)
    recordings = []
    started = time.monotonic()
    for i in range(N):
        recordings.append(leave_voicemail(app, i))
        server.kill9()
        server.start()
    r = server.client()
    app.extensions["ivr"].spool.drain()  # what a restart's first request found down
    assert audit(r, recordings) | {"released": 0} == {"lost": 0, "doubled": 0, "tasks": N,
                                                      "released": 0}
    release_all(app, r)
    assert audit(r, recordings) == {"lost": 0, "doubled": 0, "tasks": N, "released": N}
    print(f"\n{N} voicemails, Redis kill -9 after each: 0 lost, 0 doubled, "
          f"{time.monotonic() - started:.1f} s")


def test_workers_killed_while_releasing_callbacks(make_app, server):
    """Real ``rq worker --with-scheduler`` processes (with their work horses) killed with -9
    the moment each takes a release job from the queue: those jobs are taken and never run,
    the rest never start; the tasks are released by their release time all the same, once."""
    app = make_app(REDIS_URL=server.url, staffed=False)
    recordings = [leave_voicemail(app, i) for i in range(N)]
    r = server.client()
    assert len(r.zrange("rq:scheduled:callbacks", 0, -1)) == N
    kills = 0
    for _ in range(8):  # each worker killed the moment it takes a job from the queue
        worker = rq_worker(server.url, "callbacks")
        deadline, waiting = time.monotonic() + 20, None
        while time.monotonic() < deadline and worker.poll() is None:
            now_waiting = r.llen("rq:queue:callbacks")
            if waiting is not None and now_waiting < waiting:
                break  # a job was just taken
            waiting = now_waiting if now_waiting else waiting
        kill9_group(worker)
        kills += 1
        if not r.llen("rq:queue:callbacks") and not r.zcard("rq:scheduled:callbacks"):
            break
    by_jobs = audit(r, recordings)["released"]
    release_all(app, r)
    assert audit(r, recordings) == {"lost": 0, "doubled": 0, "tasks": N, "released": N}
    print(f"\n{N} voicemails, {kills} workers killed -9: {by_jobs} released by their jobs, "
          f"{N - by_jobs} by the reconciler; 0 lost, 0 doubled")


def test_redis_paused_while_voicemails_are_left(make_app, server, spool_dir):
    """Redis hung (SIGSTOP) while 50 callers leave messages at once: every request gives up
    after its timeout and spools; after SIGCONT the replay stores each once."""
    app = make_app(REDIS_URL=server.url, staffed=False)
    with time_machine.travel(FRIDAY_EVENING, tick=False):
        callers = [Caller(app.test_client(), from_=number(i)) for i in range(N)]
        for c in callers:
            assert c.post("/voicemail/start?dept=council_tax").has("Record")
    server.pause()
    try:
        def message(c: Caller) -> str:
            doc, rec, status_url = c.record()
            assert doc.text.startswith("Thank you. We've got your message"), doc.xml
            c.recording_ready(status_url, rec)
            return rec

        with time_machine.travel(FRIDAY_EVENING + 60, tick=False), \
                ThreadPoolExecutor(max_workers=N) as pool:
            recordings = list(pool.map(message, callers))
    finally:
        server.resume()
    spool = app.extensions["ivr"].spool
    assert len([p for p in spool.pending() if "-voicemail-" in p.name]) >= N
    spool.drain()
    assert spool.pending() == []
    r = server.client()
    release_all(app, r)
    assert audit(r, recordings) == {"lost": 0, "doubled": 0, "tasks": N, "released": N}


def test_redis_down_and_spool_unwritable_every_voicemail_recovered_from_twilio(
        make_app, server, tmp_path, twilio, caplog):
    """Nothing can be written: each caller is thanked, each recording callback answered 503
    (Twilio may retry), each recording logged; the reconciler recovers all 50 from Twilio's
    recordings, once."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    dead = make_app(REDIS_URL="redis://127.0.0.1:1/0", IVR_SPOOL_DIR=str(blocker / "spool"),
                    staffed=False)
    recordings = [leave_voicemail(dead, i, expect=503, twilio=twilio) for i in range(N)]
    assert caplog.text.count("VOICEMAIL NOT STORED") == 2 * N
    app = make_app(REDIS_URL=server.url, staffed=False)
    results = reconcile.run_once(app.extensions["ivr"], FRIDAY_EVENING + 86400, lock_seconds=0)
    assert results["recordings"] == reconcile.Mended(fixed=N)
    r = server.client()
    assert reconcile.recordings_pass(app.extensions["ivr"], FRIDAY_EVENING + 86400 + 30) == \
        reconcile.Mended()
    release_all(app, r)
    assert audit(r, recordings) == {"lost": 0, "doubled": 0, "tasks": N, "released": N}
    numbers = {load_task(r, r.get(f"{{ivr}}:cb:rec:{rec}").decode())["number"]
               for rec in recordings}
    assert numbers == {number(i) for i in range(N)}
