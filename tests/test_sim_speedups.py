"""The simulation's speed-ups change its cost, never what is sent or read.

The app's form parser (``ivr.forms``) must give ``parse_qsl``'s pairs, as werkzeug calls it.

``ivr.sim.packer`` must put the very bytes redis-py would on the wire (and refuse what it
refuses), ``ivr.sim.webhooks.parsed`` must give the tree ``ET.fromstring`` gives, the
collector setting must come back after a run, the clock must keep (time, order of
scheduling), and a simulated advisor's cheaper PIN hash must still be checked by the app's
own rule (a wrong PIN refused).
"""

from __future__ import annotations

import gc
import random
import xml.etree.ElementTree as ET
from urllib.parse import parse_qsl

import pytest
import redis
import werkzeug.urls  # noqa: F401  (registers werkzeug's "werkzeug.url_quote" error handler)
from flask import Flask

from ivr import agents, forms
from ivr.forms import parse_urlencoded
from ivr.sim import packer
from ivr.sim.clock import VirtualClock
from ivr.sim.collector import fewer_collections
from ivr.sim.simulate import AGENT_PIN, SIM_PIN_METHOD
from ivr.sim.webhooks import parsed

COMMANDS = [
    ("SET", "k", "v"),
    ("HSET", b"{ivr}:agent:1", "state", "available", "since", 1_796_119_200.125, "n", -3),
    ("ZADD", "{ivr}:idle", 1e20, "a", float("inf"), "b", 10**30, "c"),
    ("CLIENT SETNAME", "ivr"),
    (b"CLIENT SETNAME", "ivr"),
    ("EVALSHA", "0" * 40, 2, "{ivr}:a", "{ivr}:b", "Colchester — café ✓", b"\x00\xff"),
    ("SET", "k", memoryview(b"abc")),
    ("SET", "k", bytearray(b"abc")),
    ("SET", "k", ""),
]


def wire(chunks: list) -> bytes:
    return b"".join(bytes(chunk) for chunk in chunks)


@pytest.fixture
def packers():
    """redis-py's own packer and the simulation's, on one (unconnected) connection each."""
    plain = redis.Connection()
    fast = redis.Connection()
    packer.install(fast)
    assert isinstance(fast._command_packer, packer.FastPacker)
    return plain, fast


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: str(c[0]))
def test_the_fast_packer_sends_redis_pys_bytes(packers, command):
    plain, fast = packers
    assert wire(fast.pack_command(*command)) == wire(plain.pack_command(*command))


def test_a_pipeline_packs_the_same(packers):
    plain, fast = packers
    assert wire(fast.pack_commands(COMMANDS)) == wire(plain.pack_commands(COMMANDS))


@pytest.mark.parametrize("bad", [True, None, object(), 1j])
def test_the_fast_packer_refuses_what_redis_py_refuses(packers, bad):
    for connection in packers:
        with pytest.raises(redis.DataError):
            connection.pack_command("SET", "k", bad)


def test_parsed_documents_are_the_same_tree_and_malformed_ones_fail_every_time():
    body = b'<Response><Say voice="alice">Hello</Say><Redirect>/next</Redirect></Response>'
    first, again = parsed(body), parsed(body)
    assert again is first
    assert ET.tostring(first) == ET.tostring(ET.fromstring(body))
    for _ in range(2):
        with pytest.raises(ET.ParseError):
            parsed(b"<Response><Say>")


def test_the_collector_setting_comes_back_after_a_run():
    before = gc.get_threshold()
    with fewer_collections((12_345, 11, 13)):
        assert gc.get_threshold() == (12_345, 11, 13)
    assert gc.get_threshold() == before
    with pytest.raises(RuntimeError), fewer_collections((12_345, 11, 13)):
        raise RuntimeError("a failed run")
    assert gc.get_threshold() == before


def test_the_clock_runs_events_by_time_then_by_scheduling():
    clock = VirtualClock(1_796_119_200.0)
    ran: list[str] = []
    clock.at(clock.now + 5, ran.append, "b")
    clock.at(clock.now + 1, ran.append, "a")
    clock.at(clock.now + 5, ran.append, "c")
    dropped = clock.at(clock.now + 3, ran.append, "cancelled")
    dropped.cancel()
    clock.run()
    assert ran == ["a", "b", "c"]


def test_a_simulated_advisors_cheap_pin_hash_is_checked_by_the_apps_rule():
    hashed = agents.hash_secret(AGENT_PIN, method=SIM_PIN_METHOD)
    assert hashed.startswith(SIM_PIN_METHOD + "$")
    assert agents.hash_secret(AGENT_PIN).startswith("scrypt:32768:8:1$")  # real ones unchanged
    assert agents.secret_matches(hashed, AGENT_PIN)
    assert not agents.secret_matches(hashed, "730518")


FORMS = ["", "a", "a=", "=b", "a=b&&c", "&a=1&", "From=%2B447911123456&Digits=1%23",
         "SpeechResult=my+council+tax&Confidence=0.9", "a=%zz&b=%C3%A9&c=%FF&d=%e2%9c%93",
         "x=1=2&y", "caf%C3%A9=cr%C3%A8me+br%C3%BBl%C3%A9e", "a+b%2Bc=%20+%2b"]


@pytest.mark.parametrize("body", FORMS)
def test_the_form_parser_gives_parse_qsls_pairs(body):
    assert parse_urlencoded(body) == parse_qsl(body, keep_blank_values=True,
                                               errors="werkzeug.url_quote")


def test_the_form_parser_agrees_on_random_bodies():
    rng = random.Random(19)
    alphabet = "ab=&+% 2BCEF9zé✓"
    for _ in range(20_000):
        body = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        assert parse_urlencoded(body) == parse_qsl(body, keep_blank_values=True,
                                                   errors="werkzeug.url_quote"), body


def test_the_app_parses_a_form_with_it():
    app = Flask(__name__)
    app.request_class = forms.Request
    with app.test_request_context("/", method="POST", data={"From": "+447911123456",
                                                             "Digits": "1#", "Empty": ""}):
        from flask import request

        assert request.form.to_dict() == {"From": "+447911123456", "Digits": "1#", "Empty": ""}


def test_the_sim_worker_runs_jobs_as_rq_does_and_sends_its_state_with_a_beat(redis_client,
                                                                            monkeypatch):
    """The simulation's worker (``ivr.sim.jobs``) runs a queued job through RQ's own code;
    its state (idle, busy), set alone two or three times a job, is written with the next
    heartbeat rather than in a round trip of its own each time."""
    from rq import Queue

    from ivr.sim import jobs

    queue = Queue("sim-test", connection=redis_client)
    pump = jobs.RqJobs(VirtualClock(1_796_119_200.0, travel=False), [queue])
    sent: list[str] = []
    real_hset = redis_client.hset

    def hset(name, key=None, value=None, *args, **kwargs):
        if key == "state":
            sent.append(value)
        return real_hset(name, key, value, *args, **kwargs)

    monkeypatch.setattr(redis_client, "hset", hset)
    job = queue.enqueue("builtins.len", "abcd")
    try:
        pump.check()
        assert pump.ran == 1
        assert job.get_status(refresh=True) == "finished" and job.return_value() == 4
        worker = pump._worker
        assert sent == []  # none alone: the first beat came before the job, in a pipeline
        assert redis_client.hget(worker.key, "state") != worker.get_state().encode()  # not yet

        monkeypatch.setattr(jobs, "BEAT_SECONDS", 0.0)
        worker.heartbeat()  # the next beat carries the state
        assert redis_client.hget(worker.key, "state") == worker.get_state().encode()
    finally:
        pump.close()
