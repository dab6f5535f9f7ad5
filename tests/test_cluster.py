"""Redis Cluster: every key in one slot group, no key name in Lua, and the caller's journey run
with the state on a real 3-master cluster (RQ on the plain test Redis, as README describes).

The cluster tests start ``redis-server`` nodes on ports 7101-7103 and skip, saying why, when
the binaries are missing (CI installs them).
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
import time_machine
from caller import Caller
from cluster import missing_binaries, running_cluster
from conftest import DOWN_REDIS_URL, TEST_REDIS_URL
from jobs import run_due_jobs
from redis.cluster import RedisCluster
from redis.commands.core import Script, ScriptCommands
from redis.crc import key_slot
from rq.job import Job
from test_agent_line import (
    LANDLINE,
    MOBILE,
    OPEN,
    PRIYA_PHONE,
    PRIYA_PIN,
    T0,
    at,
    leave_voicemail,
    next_callback,
    queue_up,
    sign_in,
)

import flows
import ivr
import voicemail
from ivr import agents, connections, events, keys, store
from ivr.agents import Role, State, changes, lockout, offer
from ivr.agents import context as agent_context
from ivr.calendar import callback_window
from ivr.console import session as console_session
from ivr.events import STREAM, read_all
from ivr.spool import Spool
from voicemail import callbacks, jobs, tasks
from voicemail.tasks import WORKLIST, load_task

ROOT = Path(__file__).resolve().parent.parent
KEYISH = re.compile(r"ivr}*:")  # a key or pattern of the app, tagged or not
SCRIPT_MODULES = (store, agents, offer, agent_context, lockout, changes, callbacks, tasks, jobs,
                  events, console_session)
FRAGMENTS = {offer.LEAVE_IDLE_LUA, offer._REDIS_NOW, callbacks._COMMON,
             events.LUA_ADD, events.LUA_ADD_FROM,
             tasks.LUA_RELEASE}  # only ever run inside other scripts
KEY_MODULES = (store, agents, lockout, callbacks, tasks, "ivr.events", "ivr.console.auth",
               "ivr.console.work", "ivr.console.session", "flows.agent_line",
               "ivr.controls_store")


def scripts() -> dict[str, str]:
    """Every Lua script the code runs, by module and name."""
    return {f"{m.__name__}.{name}": value for m in SCRIPT_MODULES
            for name, value in vars(m).items()
            if isinstance(value, str) and "redis.call" in value and value not in FRAGMENTS}


def lua_literals() -> dict[str, str]:
    """Every string literal in the source that holds Lua (a ``redis.call``), by place."""
    found = {}
    for package in (ivr, voicemail, flows):
        for path in Path(package.__file__).parent.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                        and "redis.call" in node.value:
                    found[f"{path.relative_to(ROOT)}:{node.lineno}"] = node.value
    return found


# -- without a cluster ---------------------------------------------------------------------------


def test_no_key_name_is_written_in_lua():
    literals = lua_literals()
    assert len(literals) >= len(scripts())
    offenders = {where: word for where, lua in literals.items()
                 for word in ("ivr:", "{ivr}", "rq:") if word in lua}
    assert offenders == {}


def test_every_module_running_lua_is_checked_on_the_cluster():
    modules = {str(Path(m.__file__).relative_to(ROOT)) for m in SCRIPT_MODULES}
    assert {where.split(":")[0] for where in lua_literals()} <= modules


def test_every_key_of_the_app_lives_in_one_slot():
    slot = key_slot(keys.TAG.encode())
    found = {}
    for module in KEY_MODULES:
        module = importlib.import_module(module) if isinstance(module, str) else module
        for name, value in vars(module).items():
            if name.isupper() and isinstance(value, str) and KEYISH.search(value):
                key = value.format_map({"id": "X", "sid": "CA1", "dept": "d", "number": "+44",
                                        "agent": "1001", "phone": "+44", "caller": "+44",
                                        "kind": "account"}
                                       ) if "{{" in value else value  # a pattern, or a key
                found[f"{module.__name__}.{name}"] = key_slot(key.encode())
    assert len(found) > 25
    assert {name: s for name, s in found.items() if s != slot} == {}


def test_the_cluster_switch_needs_rq_apart():
    with pytest.raises(ValueError, match="RQ_REDIS_URL"):
        connections.rq_url({"IVR_REDIS_CLUSTER": "1"}, "redis://node:7000/0")
    assert connections.rq_url({}, "redis://one/0") == "redis://one/0"
    assert connections.rq_url({"RQ_REDIS_URL": "redis://rq/0"}, "redis://one/0") == "redis://rq/0"
    job_conn = object()
    assert connections.state_for_job(job_conn, {"REDIS_URL": "redis://one/0"}) is job_conn


RQ_APART_URL = TEST_REDIS_URL.rsplit("/", 1)[0] + "/14"  # RQ's own Redis (another database)


@pytest.fixture
def rq_apart():
    client = redis.Redis.from_url(RQ_APART_URL)
    client.flushdb()
    yield client
    client.flushdb()


@time_machine.travel(OPEN, tick=False)
def test_rq_apart_writes_the_state_first_and_a_lost_job_costs_nothing(
        make_app, redis_client, rq_apart):
    """RQ on a Redis of its own (as on a cluster): the task and its events are stored in one
    script before the job is tried; when the job cannot be written nothing is lost or spooled,
    and the task is released from its release time all the same."""
    with time_machine.travel(OPEN, tick=False) as traveller:
        rq_down = make_app(RQ_REDIS_URL=DOWN_REDIS_URL, IVR_REDIS_CLUSTER="", staffed=False)
        task_id = leave_voicemail(lambda number: Caller(rq_down.test_client(), from_=number),
                                  traveller, "2026-12-01 11:00:00+00:00", MOBILE, "council_tax")
    found = load_task(redis_client, task_id)
    assert found["status"] == "scheduled"
    assert rq_down.extensions["ivr"].spool.pending() == []
    assert not rq_apart.exists(Job.key_for(tasks.release_job_id(task_id)))
    events = [e["event"] for e in read_all(redis_client)]
    assert events.count("VOICEMAIL") == events.count("CALLBACKCREATED") == 1

    assert tasks.release_due(redis_client, float(found["release_at"]) + 1) == [0, 1]
    assert load_task(redis_client, task_id)["status"] == "open"
    assert not redis_client.keys("rq:*")  # RQ's keys stay on RQ's Redis


# -- on a real cluster ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory):
    why = missing_binaries()
    if why:
        pytest.skip(f"no Redis Cluster to test against: {why}")
    with running_cluster(tmp_path_factory.mktemp("cluster")) as url:
        yield url


@pytest.fixture
def state(cluster_url):
    client = RedisCluster.from_url(cluster_url)
    client.flushall()
    yield client
    client.flushall()
    client.close()


@pytest.fixture
def ran(monkeypatch):
    """The Lua scripts run (by text): sent through ``eval_script``, or registered (EVALSHA)."""
    seen: set[str] = set()
    real, real_call = keys.eval_script, Script.__call__

    def record(target, script, numkeys, *keys_and_args):
        seen.add(script)
        return real(target, script, numkeys, *keys_and_args)

    def record_call(self, *args, **kwargs):
        seen.add(self.script)
        return real_call(self, *args, **kwargs)

    by_sha = {hashlib.sha1(lua.encode()).hexdigest(): lua for lua in scripts().values()}
    real_evalsha = ScriptCommands.evalsha

    def record_evalsha(self, sha, numkeys, *keys_and_args):  # EVALSHA sent directly
        seen.add(by_sha.get(sha, sha))
        return real_evalsha(self, sha, numkeys, *keys_and_args)

    monkeypatch.setattr(keys, "eval_script", record)
    monkeypatch.setattr(Script, "__call__", record_call)
    monkeypatch.setattr(ScriptCommands, "evalsha", record_evalsha)
    return seen


def not_run(ran: set[str]) -> set[str]:
    return {name for name, lua in scripts().items() if lua not in ran}


@pytest.fixture
def app(make_app, cluster_url, state, monkeypatch):
    """The app on the cluster, RQ on the plain test Redis; workers find the state likewise."""
    for name, value in {"REDIS_URL": cluster_url, "IVR_REDIS_CLUSTER": "1",
                        "RQ_REDIS_URL": TEST_REDIS_URL}.items():
        monkeypatch.setenv(name, value)
    connections._state.clear()
    yield make_app(REDIS_URL=cluster_url, IVR_REDIS_CLUSTER="1", RQ_REDIS_URL=TEST_REDIS_URL,
                   staffed=False)
    connections._state.clear()


@pytest.fixture
def priya(state):
    agent = agents.add(state, name="Priya Shah", departments=("council_tax", "benefits"),
                       phone=PRIYA_PHONE, role=Role.AGENT, now=T0 - 86400)
    agents.set_secret(state, agent.id, "pin_hash", PRIYA_PIN)
    return agent.id


def kinds(state) -> list[str]:
    return [e["event"] for e in read_all(state)]


@time_machine.travel(OPEN, tick=False)
def test_the_journey_runs_on_the_cluster(app, state, redis_client, priya, make_caller, ran,
                                         monkeypatch):
    """Incoming, menu, queue, an advisor takes the call; a second caller times out to
    voicemail; the callback task is released by RQ's job and an advisor works it."""
    with time_machine.travel(OPEN, tick=False) as traveller:
        line = sign_in(make_caller)  # idle in the agent menu: offerable
        caller = queue_up(make_caller, LANDLINE, "council_tax")  # the offer claims Priya
        assert state.hget(agents.AGENT.format(id=priya), "offer") == caller.sid.encode()
        traveller.shift(20)
        line.press("1")  # take: leaves idle, holds the queue's take marker
        queue = line.follow().first("Queue")
        caller.queue_url(queue.get("url"), queue_time=20, dequeuing_sid=line.sid)
        assert agents.get(state, priya).state is State.ON_CALL
        caller.leave_queue("bridged", queue_time=20)
        line.dial_queue_result("completed", duration=200, queue_time=20)
        line.press("1")  # resolved: available again

        task_id = leave_voicemail(make_caller, traveller, "2026-12-01 11:00:00+00:00", MOBILE,
                                  "council_tax")
        assert load_task(state, task_id)["status"] == "scheduled"
        assert run_due_jobs(redis_client, "callbacks", at("2026-12-02 09:00:00+00:00")) == 1
        assert state.zscore(WORKLIST, task_id) is not None

        traveller.move_to("2026-12-02 10:00:00+00:00")
        worker = sign_in(make_caller)
        assert next_callback(worker).first("Gather").get("action").endswith(task_id)
        worker.press("1")  # call now: the claim held, the resident dialled
        worker.dial_result("completed", duration=120)
    assert load_task(state, task_id)["status"] == "done"
    assert callbacks.attempts(state, task_id)[0]["outcome"] == "answered"
    for kind in ("INCOMING", "ENTERQUEUE", "CONNECT", "VOICEMAIL", "CALLBACKCREATED",
                 "CALLBACKRELEASED", "CALLBACKATTEMPT", "CALLBACKDONE"):
        assert kind in kinds(state)
    assert not_run(ran) == _DIRECT_ONLY


# Scripts the journey above does not reach; ``test_every_script_runs_on_the_cluster`` runs them.
_DIRECT_ONLY = {"ivr.agents.offer._LEAVE_IDLE", "ivr.agents.offer._CONFIRM",
                "ivr.agents.offer._RELEASE", "ivr.events._ADD_ONCE",
                "voicemail.tasks._NOTE_OVERDUE", "voicemail.callbacks._DIAL_CALL",
                "voicemail.callbacks._END_DIAL", "ivr.console.session._SET_IF_LIVE",
                "ivr.agents.lockout._FAILED", "ivr.agents.changes._CHANGE",
                "ivr.agents.changes._PHONE"}


@time_machine.travel(OPEN, tick=False)
def test_every_script_runs_on_the_cluster(app, state, redis_client, priya, ran, tmp_path):
    """Each script, through the function that sends it, on its own and in pipelines."""
    now = T0
    line_sid, caller_sid = "CA" + "1" * 32, "CA" + "2" * 32
    state.set(agents.AGENT_CALL.format(sid=line_sid), priya)
    state.hset(agents.AGENT.format(id=priya), "state", "available")

    pipe = state.pipeline()
    offer.mark_idle(pipe, priya, line_sid, now)
    offer.claim(pipe, "council_tax", caller_sid)
    assert pipe.execute()[1] == [priya.encode(), line_sid.encode()]
    assert offer.still_offered(state, priya, caller_sid, line_sid)
    assert offer.release(state, priya, caller_sid)
    pipe = state.pipeline()
    offer.queue_release(pipe, priya, caller_sid)
    pipe.execute()
    assert offer.leave_idle(state, priya) is True

    assert agents._by_index(state, agents.AGENT_CALL.format(sid=line_sid)).id == priya
    pipe = state.pipeline()
    agents.hold_taking(pipe, "council_tax", line_sid)
    agents.release_taking(pipe, "council_tax", line_sid)
    assert pipe.execute() == [1, 1]
    ctx = agent_context.load(state, line_sid, now=now, departments=["council_tax"])
    assert ctx.agent.id == priya and ctx.counts == {"council_tax": 0, "benefits": 0}

    spool = Spool(tmp_path / "spool")
    batch = store.Batch(state, spool, call_sid=caller_sid, caller=MOBILE, now=now,
                        retention_days=30, keep_calls=3600)
    store.leave_queue(batch, "council_tax", "hangup", 12, "ABANDON")
    assert batch.commit("test") == [1]
    assert state.xlen(STREAM) == 1
    batch = store.Batch(state, spool, call_sid=caller_sid, caller=MOBILE, now=now - 5,
                        retention_days=30, keep_calls=3600)
    batch.event("CALLEND")  # written after the leave, though it happened earlier
    assert batch.commit("test") == []  # no ops; the event took a second round trip
    assert [e["event"] for e in read_all(state)] == ["ABANDON", "CALLEND"]
    spool.handlers["events"] = store.replay_events(state, 30, keep_calls=3600)
    spool.write("events", [events.fields("FAILSAFE", caller_sid, now - 2)])
    pending = spool.pending()[0]
    again = pending.read_text()
    assert spool.drain() == 1
    pending.write_text(again)  # its removal lost: replayed again, written once
    assert spool.drain() == 1
    assert [e["event"] for e in read_all(state)] == ["ABANDON", "CALLEND", "FAILSAFE"]

    vm = tasks.Voicemail(call_sid=caller_sid, recording_id="RE1", recording_url="https://x/RE1",
                         duration=5, recording_status="completed", number=MOBILE, relay=False,
                         department="council_tax", left_at=now, source="record_action")
    window = callback_window(datetime.now(UTC), app.extensions["ivr"].hours)
    saved = tasks.save_voicemail(state, vm, window)
    assert (saved.outcome, saved.needs_job) == ("created", True)
    again = tasks.save_voicemail(state, vm, window)
    assert (again.outcome, again.needs_job) == ("duplicate", True)  # no job written yet
    batch = store.Batch(state, spool, call_sid=caller_sid, caller=MOBILE, now=now,
                        retention_days=30, keep_calls=3600)
    tasks.schedule_release(batch, app.extensions["ivr"].callbacks, saved)
    assert batch.commit("voicemail") is not None
    assert not tasks.save_voicemail(state, vm, window).needs_job
    assert run_due_jobs(redis_client, "callbacks", saved.release_at + 1) == 1
    assert tasks.release_due(state, saved.release_at + 2) == [0, 0]  # released once

    index = agents.AGENT_CALL.format(sid=line_sid)
    claimed, held, logged = _work(state, index, saved.task_id, saved.due_at + 1)
    assert claimed.task["id"] == saved.task_id and held.held and logged.logged
    assert logged.status == "open"  # busy: tried again later
    assert tasks.note_overdue(state, saved.due_at + 1) == 1
    assert tasks.note_overdue(state, saved.due_at + 2) == 0
    late = callbacks.log_attempt(state, saved.task_id, agent_id=priya, outcome="answered",
                                 now=saved.due_at + 7200, retry_gap=3600, max_attempts=3,
                                 keep_closed=86400)
    assert late.status == "done"

    limits = lockout.Limits(caller_failures=5, agent_failures=1, window=900)
    pipe = state.pipeline()
    lockout.queue_check(pipe, MOBILE, priya)
    lockout.record_failure(pipe, caller=MOBILE, agent_id=priya, call_sid=line_sid, now=now,
                           limits=limits, reason="wrong pin", retention_days=30)
    failed = lockout.failure(pipe.execute()[-1], limits)
    assert failed.agent_locked_now and failed.locked
    assert lockout.lockouts(state, now) == [lockout.Lockout(priya, now + 900)]
    assert lockout.unlock(state, priya, "cli", now, retention_days=30).agent_line
    changes.set_departments(state, priya, ["council_tax"])
    changes.rename(state, priya, "Priya Shah")
    assert agents.get(state, priya).departments == ("council_tax",)
    changes.set_phone(state, priya, "+447911123499", agents.get(state, priya).phone or "")
    assert agents.get(state, priya).phone == "+447911123499"

    # a console dial's marker: its call named, then the dial over without a result
    dialling = callbacks.DIALLING.format(id=saved.task_id)
    state.hset(dialling, mapping={"dial": "D1", "agent": priya})
    pipe = state.pipeline()
    callbacks.note_dial_call(pipe, saved.task_id, "D1", line_sid)
    assert pipe.execute() == [1]
    assert callbacks.end_dial(state, saved.task_id, "D1") == 1
    # a console session touched and marked only while it lives
    sid = console_session.create(state, priya, "pw", now, console_session.Limits(60, 3600))
    console_session.touch(state, sid, now + 1)
    console_session.set_mark(state, sid, "pw2")
    assert console_session.end(state, sid, priya)
    console_session.touch(state, sid, now + 2)  # gone: not brought back
    assert not state.exists(console_session.RECORD.format(sid=sid))
    assert not_run(ran) == set()


def _work(state, index: str, task_id: str, now: float):
    pipe = state.pipeline()
    parse = callbacks.next_due(pipe, index_key=index, departments=["council_tax"], now=now)
    claimed = parse(pipe.execute()[0])
    pipe = state.pipeline()
    parse_held = callbacks.hold(pipe, task_id, index_key=index, take=True)
    callbacks.release_claim(pipe, task_id, claimed.agent_id)
    held = parse_held(pipe.execute()[0])
    pipe = state.pipeline()
    parse_attempt = callbacks.queue_attempt(pipe, task_id, index_key=index, outcome="busy",
                                            now=now, retry_gap=3600, max_attempts=3,
                                            keep_closed=86400)
    logged = parse_attempt(pipe.execute()[0])
    return claimed, held, logged
