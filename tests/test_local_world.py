"""Caller and advisor in one local world (issue 17): two ``ivr call`` terminals meet.

The service's webhooks (gunicorn, on ``served_app``'s clock in opening hours) and the local
Twilio (``ivr local-twilio``, as ``ivr serve`` starts it with no Twilio credentials) run as
processes on free loopback ports; a resident and an advisor each run ``ivr call`` in a
process of their own, typing on a pipe when they hear their prompt, as a person would. The
advisor signs in with the PIN and takes the resident from the queue; the resident hears the
introduction; the advisor hangs up into wrap-up and the resident gives feedback. Then the
console's *Call back* rings the advisor's terminal, and answering it rings the resident's.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import time_machine
from conftest import ROOT, TEST_REDIS_URL
from faults import free_port
from test_console import CLOSED, MOBILE, add_agent, as_user, leave_voicemail, release
from test_url_privacy import Served

from ivr import agents, events, serve
from ivr.sim.world import TEST_ACCOUNT_SID
from voicemail.tasks import load_task

TESTS = Path(__file__).parent
WED_10 = "2026-12-02 10:00:00+00:00"  # opening hours, and the day the callback is released
ADVISOR_PHONE = "+447911123457"
PIN = "246813"
TOKEN = "f" * 32


class Person:
    """``ivr call`` in a process of its own: what it prints, read as it comes; lines typed."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.name = name
        self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1, start_new_session=True)
        self.heard: list[str] = []
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))

    def expect(self, pattern: str, timeout: float = 60.0) -> str:
        """Wait until a line printed from now on matches ``pattern``; returns it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:  # no timed waits on locks: they stall under libfaketime (--clock-ahead)
                line = self._lines.get_nowait()
            except queue.Empty:
                if self.proc.poll() is not None and self._lines.empty():
                    break
                time.sleep(0.05)
                continue
            self.heard.append(line)
            if re.search(pattern, line):
                return line
        pytest.fail(f"{self.name} never printed {pattern!r}; printed:\n" + "\n".join(self.heard))

    def type(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.type("quit")
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


@pytest.fixture
def world(tmp_path, redis_client, monkeypatch, config, make_app):
    """Last night's voicemail, released this morning; Alice, an advisor with a phone and a
    PIN; then the webhooks, the RQ worker and the local Twilio as processes. Yields the
    local Twilio's URL, the app's, the environment, the callback task and Alice."""
    with time_machine.travel(CLOSED, tick=False) as clock:  # last night's voicemail...
        task_id, _ = leave_voicemail(lambda n: make_caller_for(make_app, n), "council_tax")
        clock.move_to(WED_10)
        release(redis_client, task_id)  # ...released to advisors this morning
        alice = add_agent(redis_client, "Alice Smith", ("council_tax",), ADVISOR_PHONE)
        agents.set_secret(redis_client, alice.id, "pin_hash", PIN)
    redis_client.srem(agents.ON_DUTY.format(dept="council_tax"), "duty")
    env = {k: v for k, v in os.environ.items()
           if k not in ("TWILIO_API_BASE", "PUBLIC_BASE_URL", "IVR_INSECURE_SKIP_SIGNATURE")}
    env |= {"TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_ACCOUNT_SID": TEST_ACCOUNT_SID,
            "IVR_CONFIG": str(ROOT / "config.yaml"), "IVR_SPOOL_DIR": str(tmp_path / "spool"),
            "IVR_TEST_AT": WED_10, "REDIS_URL": TEST_REDIS_URL,
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS)])}
    web = Served("web", tmp_path, env)
    app_url = f"http://127.0.0.1:{web.port}"
    port = free_port()
    spec = serve.local_twilio(f"127.0.0.1:{web.port}", dict(env))  # as ivr serve starts it
    argv = list(spec.argv)
    argv[argv.index("--bind") + 1] = f"127.0.0.1:{port}"
    argv[argv.index("--url-file") + 1] = str(tmp_path / "local-twilio")
    twilio_log = (tmp_path / "twilio.log").open("wb")
    twilio = subprocess.Popen([*argv, "--speech-rate", "25"], env=env, cwd=tmp_path,
                              stdout=twilio_log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    deadline = time.monotonic() + 30
    while not (tmp_path / "local-twilio").exists():
        assert twilio.poll() is None and time.monotonic() < deadline, (
            tmp_path / "twilio.log").read_text()
        time.sleep(0.1)
    url = (tmp_path / "local-twilio").read_text().strip()
    for name, value in {"TWILIO_API_BASE": url, "TWILIO_ACCOUNT_SID": TEST_ACCOUNT_SID,
                        "TWILIO_AUTH_TOKEN": TOKEN}.items():
        monkeypatch.setenv(name, value)  # the console in this process calls it too
    env = env | {"TWILIO_API_BASE": url}
    queues = [config.callbacks.rq_queue, config.callbacks.sms_rq_queue]
    [worker, _] = serve.job_children(TEST_REDIS_URL, queues, env, "test")  # as ivr serve's
    worker_log = (tmp_path / "worker.log").open("wb")
    jobs = subprocess.Popen(list(worker.argv), env=env, cwd=tmp_path, stdout=worker_log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield url, app_url, env, task_id, alice
    finally:
        jobs.send_signal(signal.SIGTERM)
        try:
            jobs.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(jobs.pid, signal.SIGKILL)
            jobs.wait(timeout=5)
        worker_log.close()
        twilio.send_signal(signal.SIGTERM)
        try:
            twilio.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(twilio.pid, signal.SIGKILL)
            twilio.wait(timeout=5)
        twilio_log.close()
        web.stop()


def ivr_call(name: str, url: str, env: dict[str, str], cwd: Path, *args: str) -> Person:
    return Person(name, [sys.executable, "-m", "ivr.cli", "call", "--twilio", url, *args],
                  env, cwd)


def test_resident_and_advisor_meet_then_the_console_calls_back(world, tmp_path, make_app,
                                                               redis_client):
    url, app_url, env, task_id, alice = world

    advisor = ivr_call("advisor", url, env, tmp_path, "--from", ADVISOR_PHONE, "--advisor")
    resident = None
    try:
        advisor.expect(r"Council: Agent line\. We recognise this phone")
        advisor.expect(r"> keys")
        advisor.type(PIN + "#")
        advisor.expect(r"Council: Hello Alice\.")
        advisor.expect(r"Council: No callers are waiting in your queues\.")

        resident = ivr_call("resident", url, env, tmp_path, "--from", MOBILE)
        resident.expect(r"council tax, press 2")
        resident.expect(r"> keys")
        resident.type("2")
        resident.expect(r"-- you join the queue")
        advisor.expect(r"Council: Council Tax\. Waited")  # the whisper, once offered
        resident.expect(r"Council: You're through to Alice in the Council Tax team\.")
        resident.expect(r"-- connected to")
        advisor.expect(r"-- connected to")
        advisor.type("*")  # the advisor ends the conversation and stays on the line...
        advisor.expect(r"Council: Call ended\. If the query was resolved on this call, press 1")
        resident.expect(r"Council: .*press 1 to 5")  # ...the resident is asked for feedback
        advisor.expect(r"> keys")
        advisor.type("1")  # resolved: the wrap-up outcome
        resident.expect(r"> keys")
        resident.type("5")
        resident.expect(r"> your message")
        resident.type("Very helpful, thank you")
        resident.expect(r"-- call ended: completed")
        advisor.expect(r"Council: .*press 9")  # back at the agent menu, available
        advisor.type("9")  # signs out
        advisor.expect(r"-- call ended: completed")

        kinds = [e["event"] for e in events.read_all(redis_client)]
        assert {"ENTERQUEUE", "CONNECT", "WRAPUP", "FEEDBACK", "FEEDBACKCOMMENT"} <= set(
            kinds), kinds
        states = [e["data"].get("state") for e in events.read_all(redis_client)
                  if e["event"] == "AGENTSTATE"]
        assert "wrap_up" in states, states

        console_app = make_app(PUBLIC_BASE_URL=app_url, TWILIO_AUTH_TOKEN=TOKEN,
                               TWILIO_ACCOUNT_SID=TEST_ACCOUNT_SID, staffed=False)
        with time_machine.travel(WED_10, tick=True):
            response = as_user(console_app, alice).post(f"/console/callbacks/{task_id}/call")
        assert response.status_code == 302
        advisor.expect(r"-- your phone rings: a call from ")
        advisor.expect(r"Council: ")  # the callback's summary, then the resident is dialled
        resident.expect(r"-- your phone rings: a call from ")
        resident.expect(r"Council: This is Colchester Borough Council returning your call")
        advisor.expect(r"-- connected to")
        resident.type("hangup")
        resident.expect(r"-- call ended: completed")
        assert load_task(redis_client, task_id)["status"] == "done"  # answered: closed
        assert "CALLBACKDONE" in [e["event"] for e in events.read_all(redis_client)]
        print("\n".join(["--- advisor", *advisor.heard, "--- resident", *resident.heard]))
    finally:
        advisor.stop()
        if resident is not None:
            resident.stop()


def test_a_terminal_killed_mid_call_hangs_up(world, tmp_path, redis_client):
    """``kill`` (SIGTERM) or a closed terminal (SIGHUP) hangs up as Ctrl-C does: the call
    ends in the local Twilio (its status reaches the app) instead of staying on."""
    from ivr import store

    url, _app_url, env, _task_id, _alice = world
    for sig in (signal.SIGTERM, signal.SIGHUP):
        resident = ivr_call("resident", url, env, tmp_path, "--from", MOBILE)
        try:
            resident.expect(r"council tax, press 2")
            resident.expect(r"> keys")
            resident.proc.send_signal(sig)
            resident.expect(r"-- you hung up and left")
            assert resident.proc.wait(timeout=10) == 0
        finally:
            resident.stop()
        deadline = time.monotonic() + 20
        while True:
            calls = [redis_client.hgetall(k) for k in redis_client.scan_iter(
                store.call_key("*"))]
            if calls and all(c.get(b"status") == b"completed" for c in calls):
                break
            assert time.monotonic() < deadline, calls
            time.sleep(0.1)


def make_caller_for(make_app, number: str):
    from caller import Caller

    return Caller(make_app(staffed=False).test_client(), from_=number)


# -- the parts, without processes --------------------------------------------------------------


def test_serve_runs_the_local_twilio_only_without_credentials(tmp_path, monkeypatch):
    """The child ``ivr serve`` adds: a loopback port, the app's URL, the URL file the
    terminals read; the app's processes get the test account and the API base."""
    env: dict[str, str] = {"TWILIO_AUTH_TOKEN": TOKEN}
    spec = serve.local_twilio("127.0.0.1:5000", env)
    argv = list(spec.argv)
    assert spec.name == "twilio" and argv[-7:-6] == ["local-twilio"]
    assert argv[argv.index("--app") + 1] == "http://127.0.0.1:5000"
    assert argv[argv.index("--url-file") + 1] == "var/local-twilio"
    bind = argv[argv.index("--bind") + 1]
    assert bind.startswith("127.0.0.1:") and env["TWILIO_API_BASE"] == f"http://{bind}"
    assert env["TWILIO_ACCOUNT_SID"] == TEST_ACCOUNT_SID and spec.env["TWILIO_API_BASE"]


def test_ivr_call_finds_the_local_twilio_only_when_it_answers(tmp_path, monkeypatch):
    from argparse import Namespace

    from ivr.sim import phone_cli

    monkeypatch.chdir(tmp_path)
    args = Namespace(twilio=None, url="http://127.0.0.1:5000")
    assert phone_cli.local_twilio(args) is None  # no file: a stand-in of its own
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "local-twilio").write_text(f"http://127.0.0.1:{free_port()}\n")
    assert phone_cli.local_twilio(args) is None  # nothing answers there
    assert phone_cli.local_twilio(Namespace(twilio="http://h:1/", url=None)) == "http://h:1"
    assert phone_cli.local_twilio(Namespace(twilio=None, url=None)) is None  # in-process


def test_a_remote_phone_answers_prompts_with_what_was_typed(make_app, config):
    """Lines typed ahead answer the next prompts, in order; 'hangup' ends the call at once;
    a prompt with nothing typed is asked (an event the terminal shows) and waited for."""
    from ivr.sim.legs import GatherPrompt, Leg, RecordPrompt
    from ivr.sim.phone import RemotePhone
    from ivr.sim.world import in_process

    world = in_process(make_app(), jobs=False)
    phone = RemotePhone(world.engine, "+447911123456")
    leg = Leg("CA" + "1" * 32, TEST_ACCOUNT_SID, phone.number, config.council.main_number,
              "inbound", phone, status="in-progress")
    world.engine.legs[leg.sid] = leg
    ask = GatherPrompt("/a", frozenset({"dtmf", "speech"}), 5.0, None, "#", ())
    for line in ("2", "council tax", ""):
        assert phone.typed(line) == ""
    assert phone.awaiting(leg, ask) is None  # typed ahead: answered at once
    assert phone.gather(leg, ask).digits == "2"
    assert phone.gather(leg, ask).speech == "council tax"
    assert not phone.gather(leg, ask).digits and not phone.gather(leg, ask).speech
    waiting = phone.awaiting(leg, RecordPrompt("/r", 30.0, 5.0, "#", ()))
    assert waiting is not None and phone.events[-1]["kind"] == "ask"
    phone.typed("Please call me back")
    world.run_for(1)
    assert waiting.fired and phone.record(leg, None).words == "Please call me back"
    assert phone.typed("hangup") == "hung up"
    assert phone.typed("hangup") == "no call to hang up"
    assert phone.since(0) == phone.events and phone.since(len(phone.events)) == []
