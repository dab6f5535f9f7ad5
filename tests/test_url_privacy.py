"""No full phone number in any URL the app makes, so none in an access log, a proxy's log or
Twilio's debugger: the app served by real gunicorn as ``ivr serve`` runs it (2 workers, the
local token ``ivr serve`` makes on loopback, the access log written to a file), a resident's
whole journey driven through it over HTTP, and the access log and the app's own log lines
read for numbers afterwards.

Callers: a UK mobile who asks for the text link, queues, times out and leaves a message; a
withheld caller who queues, times out, keys a number while Redis answers and leaves a message
after Redis has gone (the ``<Record>`` action and the recording callback reach a second server
whose Redis is down): both messages reach Redis with their numbers.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest
from caller import ACCOUNT_SID, Caller
from conftest import DOWN_REDIS_URL, ROOT, TEST_REDIS_URL
from faults import free_port

from ivr import agents, local_token, serve
from ivr.phone import mask
from voicemail.tasks import OPEN_BY_NUMBER, load_task

TESTS = Path(__file__).parent
OPEN = "2026-12-01 10:00:00+00:00"  # Tuesday, 10:00 GMT
MOBILE = "+447911123031"
KEYED = "01206500600"
KEYED_E164 = "+441206500600"
NUMBERS = [MOBILE, KEYED_E164]
# Any UK number written whole: E.164 with a "+" as it is or percent-encoded, or national.
ANY_UK_NUMBER = re.compile(r"(?:\+|%2B)44\d{9,10}|(?<![\w%+])0[1-9]\d{8,9}(?!\w)", re.I)


def forms(e164: str) -> list[str]:
    """Every way a log could show ``e164`` whole: as it is, percent-encoded, without the
    plus, national, and its ten national digits wherever they stand."""
    national = e164[3:]
    return [e164, "%2B" + e164[1:], "%2b" + e164[1:], e164[1:], "0" + national, national]


def full_numbers(text: str) -> list[str]:
    """Each full number in ``text``: the journey's own in any form, and any UK number."""
    found = [f for n in NUMBERS for f in forms(n) if f in text]
    return found + ANY_UK_NUMBER.findall(text)


@dataclass
class Reply:
    """What ``Caller`` reads from a response (as from Flask's test client)."""

    status_code: int
    mimetype: str
    body: bytes

    def get_data(self, as_text: bool = False):
        return self.body.decode() if as_text else self.body


class Served:
    """``ivr serve``'s web process: its own gunicorn command line (``serve.child_specs``),
    with the access log in a file and the app on ``served_app``'s clock; posts as Twilio
    does, to ``http://localhost/...`` (the URL signed) on this server's loopback port."""

    def __init__(self, name: str, workdir: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.access_log = workdir / f"access-{name}.log"
        self.app_log = workdir / f"app-{name}.log"
        [web, *_] = serve.child_specs(f"127.0.0.1:{self.port}", 2, TEST_REDIS_URL, [], env)
        argv = list(web.argv)
        assert argv[argv.index("--access-logfile") + 1] == "-"  # as ivr serve: the access log
        argv[argv.index("--access-logfile") + 1] = str(self.access_log)
        argv[argv.index("ivr.wsgi:app")] = "served_app:app"
        self.requests = 0
        with self.app_log.open("wb") as out:
            self.proc = subprocess.Popen(argv, env=env, cwd=workdir, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.app_log.read_text()[-3000:]
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/livez")  # alive: /healthz is 503 with Redis down
                if conn.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.1)
            finally:
                conn.close()
        self.stop()
        pytest.fail(f"gunicorn not ready after {timeout:.0f} s: {self.app_log.read_text()}")

    def post(self, path: str, data: dict[str, str], headers: dict[str, str]) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            conn.request("POST", path, urlencode(data), headers={
                **headers, "Host": "localhost",
                "Content-Type": "application/x-www-form-urlencoded",
                "User-Agent": "TwilioProxy/1.1"})
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        self.requests += 1
        mimetype = (response.getheader("Content-Type") or "").split(";")[0].strip()
        return Reply(response.status, mimetype, body)

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


@pytest.fixture
def servers(tmp_path, redis_client):
    """Two servers sharing a spool and a token: one on the test Redis, one whose Redis is
    down; advisors on duty in every department, so callers queue."""
    token = local_token.ensure(tmp_path / "var" / "local-auth-token")  # as ivr serve on loopback
    env = {k: v for k, v in os.environ.items()
           if k not in ("TWILIO_AUTH_TOKEN", "PUBLIC_BASE_URL", "IVR_INSECURE_SKIP_SIGNATURE")}
    env |= {"TWILIO_AUTH_TOKEN": token, "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "IVR_CONFIG": str(ROOT / "config.yaml"), "IVR_SPOOL_DIR": str(tmp_path / "spool"),
            "IVR_TEST_AT": OPEN,
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS)])}
    for dept in ("council_tax", "benefits", "bins", "housing", "general"):
        redis_client.sadd(agents.ON_DUTY.format(dept=dept), "duty")
    started: list[Served] = []
    try:
        started.append(Served("up", tmp_path, env | {"REDIS_URL": TEST_REDIS_URL}))
        started.append(Served("down", tmp_path, env | {"REDIS_URL": DOWN_REDIS_URL}))
        yield token, *started
    finally:
        for server in started:
            server.stop()


def queue_then_voicemail(caller: Caller) -> None:
    """Hold, reach the two minutes, leave the queue and follow on to voicemail."""
    assert caller.doc.verbs[-1] == "Enqueue"
    assert caller.hold(10).text.startswith("You are number 1 in the queue.")
    assert caller.hold(120).verbs == ["Leave"]
    assert caller.leave_queue("leave", 120).verbs == ["Say", "Redirect"]
    caller.follow()


def test_a_served_journey_leaves_no_full_number_in_any_log(servers, redis_client):
    token, up, down = servers

    # A UK mobile: council tax, the link by text, the queue, two minutes, a message.
    mobile = Caller(up, from_=MOBILE, token=token)
    assert mobile.ring().has("Gather")
    mobile.press("2")
    assert "council tax" in mobile.follow().text
    doc = mobile.press("1")  # the link by text (an RQ job, with the number in Redis)
    assert doc.verbs[-1] == "Enqueue"
    queue_then_voicemail(mobile)
    assert mobile.doc.has("Record")
    doc, rec, status_url = mobile.record(duration=20)
    assert doc.text.startswith("Thank you. We've got your message")
    assert mobile.recording_ready(status_url, rec, duration=20).verbs == []
    assert mobile.hang_up().verbs == []

    # A withheld caller: anything else, the queue, two minutes, a number keyed and confirmed.
    withheld = Caller(up, from_="anonymous", token=token)
    withheld.ring()
    withheld.press("0")
    withheld.follow()
    queue_then_voicemail(withheld)
    assert withheld.doc.text.startswith("We can't see a number to call you back on.")
    assert "0 1 2 0 6, 5 0 0 6 0 0" in withheld.press(KEYED).text
    assert withheld.press("1").has("Record")
    # Redis goes: the message, its <Record> action and its recording callback reach a server
    # whose Redis is down. Each is spooled with the number its sealed URL carries.
    withheld.client = down
    doc, rec, status_url = withheld.record(duration=15)
    assert doc.text.startswith("Thank you. We've got your message")
    assert withheld.recording_ready(status_url, rec, duration=15).verbs == []
    assert withheld.hang_up().verbs == []

    # Redis is back: the next call replays the spool.
    Caller(up, from_="+447911123032", token=token).ring()
    tasks = {n: redis_client.get(OPEN_BY_NUMBER.format(number=n)) for n in NUMBERS}
    assert all(tasks.values()), tasks
    for number, task_id in tasks.items():
        task = load_task(redis_client, task_id.decode())
        assert (task["number"], task["needs_number"]) == (number, "0")

    for server in (up, down):
        server.stop()
    access = "".join(s.access_log.read_text() for s in (up, down))
    app_log = "".join(s.app_log.read_text() for s in (up, down))
    lines = access.splitlines()
    assert len(lines) >= up.requests + down.requests  # every request (and /livez) is there
    assert any('"POST /voicemail/recording?' in line for line in lines)  # the query-bearing
    assert any('"POST /voicemail/recorded?' in line for line in lines)  # URLs were logged
    assert any('"POST /voicemail/confirm?' in line for line in lines)
    leaks = [line for line in lines if full_numbers(line)]
    assert leaks == [], f"access-log lines with a full number: {len(leaks)} of {len(lines)}"
    assert full_numbers(app_log) == []
    assert mask(KEYED_E164) in app_log  # the spooled voicemail was logged, number masked
