"""The live reconcile: after a Redis outage, our record of the queues and of the advisors is
put right from what Twilio knows (``ivr.live_reconcile``).

The stand-in engine plays Twilio, so its queues and calls are real: callers ring, queue and
hang up through the app's webhooks, and the reconcile asks the stand-in's REST API about them.
An outage is Redis unreachable for the app's requests for a stretch of the run (``Outage``);
the test's own Redis client, RQ and Twilio's side go on as they would.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import redis
import requests
from caller import ACCOUNT_SID, AUTH_TOKEN
from conftest import DOWN_REDIS_URL, TEST_REDIS_URL
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.rest import Client

from ivr import agents, store
from ivr.agents import Role, State
from ivr.events import read_all
from ivr.hold import LeaveReason
from ivr.live_reconcile import (
    NOT_FOUND,
    AgentReconcile,
    CallState,
    QueueReconcile,
    ghost_exit,
    reconcile_agents,
    reconcile_queues,
)
from ivr.phone import national_format
from ivr.report.facts import collect
from ivr.sim.legs import Leg
from ivr.sim.scenario import Agent, Caller, press
from ivr.sim.world import World, in_process

OPEN = datetime(2026, 12, 1, 10, 0, tzinfo=UTC).timestamp()  # Tuesday 10:00
ALICE_PHONE, BOB_PHONE = "+447700900123", "+447700900124"
PIN = "246813"  # each advisor's agent line PIN (asked on their own phones too)
NO_AGENTS = "Sorry, there's no one available in the Council Tax team at the moment."
CONNECTING = "Putting you through to the Council Tax team."


class Outage:
    """Redis unreachable for the app's requests while ``down`` (as ``down_app`` in
    test_failsafe, but for a stretch of one running world): each request then runs with a
    client that cannot connect."""

    def __init__(self, world: World) -> None:
        self.ivr = world.app.extensions["ivr"]
        self.inner = world.faults.inner
        world.faults.inner = self
        self.unreachable = redis.Redis.from_url(DOWN_REDIS_URL, socket_connect_timeout=0.5)
        self.down = False

    def send(self, method, url, params, headers):
        if not self.down:
            return self.inner.send(method, url, params, headers)
        healthy, self.ivr.redis = self.ivr.redis, self.unreachable
        try:
            return self.inner.send(method, url, params, headers)
        finally:
            self.ivr.redis = healthy


class Failing(HttpClient):
    """The stand-in's REST API, except that requests whose URL contains ``part`` fail: with
    Twilio's 503, or (``network``) a connection error."""

    def __init__(self, stand_in, part: str, network: bool = False) -> None:
        super().__init__(logger=stand_in.logger, is_async=False)
        self.stand_in, self.part, self.network = stand_in, part, network
        self.failed = 0

    def request(self, method, url, *args, **kwargs):
        if self.part in url:
            self.failed += 1
            if self.network:
                raise requests.ConnectionError("connection reset by peer")
            return Response(503, '{"code": 20500, "message": "Service unavailable", '
                                 '"status": 503}')
        return self.stand_in.request(method, url, *args, **kwargs)


@pytest.fixture
def make_world(make_app, twilio):
    def make(staffed: bool = True) -> tuple[World, Outage]:
        world = in_process(make_app(staffed=staffed), start=OPEN, rest=twilio)
        return world, Outage(world)

    return make


@pytest.fixture
def rest(twilio) -> Client:
    """The REST client the reconcile is given, served by the stand-in."""
    return Client(ACCOUNT_SID, AUTH_TOKEN, http_client=twilio)


@pytest.fixture
def alice(redis_client):
    agent = agents.add(redis_client, name="Alice Smith", departments=["council_tax"],
                       phone=ALICE_PHONE, role=Role.AGENT, now=OPEN - 86400)
    agents.set_secret(redis_client, agent.id, "pin_hash", PIN)
    return agent


def landline(i: int) -> str:
    return f"+44120650{i:04d}"


def queue_caller(world: World, i: int, at: float, patience: float | None = None) -> Leg:
    """A caller from a landline who presses 2 (council tax) at once and queues."""
    return world.call(Caller([press("2", after=1.0)], patience=patience), from_=landline(i),
                      at=at)


def when(leg: Leg, kind: str, text: str = "") -> float:
    return next(n.at for n in leg.notices if n.kind == kind and text in n.text)


def kinds(redis_client, kind: str) -> list[dict]:
    return [e for e in read_all(redis_client) if e["event"] == kind]


def waiting(redis_client, dept: str = "council_tax") -> dict[str, float]:
    return {sid.decode(): score for sid, score in
            redis_client.zrange(store.queue_key(dept), 0, -1, withscores=True)}


def snapshot(redis_client) -> dict[bytes, bytes]:
    """Every key's value (``DUMP``): equal snapshots mean nothing was written."""
    return {key: redis_client.dump(key) for key in redis_client.scan_iter()}


def run_until(world: World, done, limit: float = 600) -> None:
    """Run the world a second at a time until ``done()`` (at most ``limit`` seconds)."""
    end = world.now + limit
    while not done():
        assert world.now < end, "the scenario never got there"
        world.run_for(1)


def hang_up_in_outage(world: World, outage: Outage, redis_client) -> Leg:
    """A caller queues, then hangs up while Redis is down: their Enqueue action and status
    callback both fail, so our record still has them waiting (a ghost)."""
    leg = queue_caller(world, 1, OPEN, patience=60)
    world.run(until=OPEN + 40)  # in Twilio's queue since about 24 s
    outage.down = True
    world.run(until=OPEN + 120)  # hung up at about 84 s
    outage.down = False
    assert not leg.live and set(waiting(redis_client)) == {leg.sid}
    assert not kinds(redis_client, "ABANDON")
    return leg


# -- deciding how a ghost left (pure) ---------------------------------------------------------

NOW = 10_000.0
LIMIT = 125.0  # voicemail_after 120 + max_overrun 5


@pytest.mark.parametrize(("entered", "call", "expected"), [
    # hung up inside the limit: an abandon with its wait, at the hang-up
    (NOW - 100, CallState("completed", NOW - 40), (LeaveReason.HUNG_UP, 60, NOW - 40)),
    (NOW - 100, CallState("canceled", NOW - 100.4), (LeaveReason.HUNG_UP, 0, NOW - 100.4)),
    # the call ended too recently: its status callback may be on its way
    (NOW - 100, CallState("completed", NOW - 10), None),
    # our record too new (the Say before <Enqueue>)
    (NOW - 10, CallState("in-progress"), None),
    # out of the queue but on the line: only past the limit (and the grace) is it a ghost
    (NOW - 100, CallState("in-progress"), None),
    (NOW - 200, CallState("in-progress"), (LeaveReason.ERROR, 125, NOW - 75)),
    # ended well after the limit: out by the limit, answered or to voicemail: unknown
    (NOW - 400, CallState("completed", NOW - 60), (LeaveReason.ERROR, 125, NOW - 275)),
    # a call Twilio does not know: gone, how unknown
    (NOW - 100, CallState(NOT_FOUND), None),
    (NOW - 141, CallState(NOT_FOUND), (LeaveReason.ERROR, 125, NOW - 16)),
])
def test_how_a_ghost_left(entered, call, expected):
    assert ghost_exit(entered, call, NOW, limit=LIMIT, grace=15) == expected


# -- the queues --------------------------------------------------------------------------------


def test_a_caller_who_hung_up_in_an_outage_is_removed_with_one_abandon(
        make_world, redis_client, config, rest):
    world, outage = make_world()
    leg = hang_up_in_outage(world, outage, redis_client)
    entered = waiting(redis_client)[leg.sid]

    result = reconcile_queues(redis_client, rest, config, world.now)
    assert result == QueueReconcile(checked=1, removed=1, abandoned=1)
    assert waiting(redis_client) == {}
    (abandon,) = kinds(redis_client, "ABANDON")
    ended = int(leg.ended_at)  # Twilio's end_time is in whole seconds
    assert abandon["call"] == leg.sid and abandon["dept"] == "council_tax"
    assert abandon["ts"] == ended
    assert abandon["data"] == {"reason": "hung_up", "wait": round(ended - entered),
                               "reconciled": True, "call_status": "completed"}
    stored = redis_client.hgetall(store.call_key(leg.sid))
    assert stored[b"left_reason"] == b"hung_up"

    again = snapshot(redis_client)
    assert reconcile_queues(redis_client, rest, config, world.now + 30) == QueueReconcile()
    assert snapshot(redis_client) == again


@pytest.mark.parametrize("replayed", ["before", "after"])
def test_the_spooled_leave_and_the_reconcile_count_the_hang_up_once(
        make_world, redis_client, config, rest, replayed):
    """The web server that took the Enqueue action spooled its ABANDON: replayed before the
    reconcile it removes the ghost itself; after it, it finds the leave recorded."""
    world, outage = make_world()
    leg = hang_up_in_outage(world, outage, redis_client)
    spool = world.app.extensions["ivr"].spool
    assert spool.pending()
    if replayed == "before":
        spool.drain()
        assert waiting(redis_client) == {}
    result = reconcile_queues(redis_client, rest, config, world.now)
    if replayed == "after":
        assert spool.drain()
    (abandon,) = kinds(redis_client, "ABANDON")
    assert abandon["call"] == leg.sid
    assert bool(abandon["data"].get("reconciled")) is (replayed == "after")
    assert result.abandoned == (replayed == "after")
    visits = collect(read_all(redis_client)).visits
    assert [(v.call, v.outcome) for v in visits] == [(leg.sid, "abandoned")]


@pytest.mark.parametrize("reconciled", [True, False])
def test_a_caller_who_joined_in_an_outage_is_added_and_taken_first(
        make_world, redis_client, config, rest, alice, reconciled):
    world, outage = make_world(staffed=False)
    outage.down = True
    leg = queue_caller(world, 1, OPEN + 1)
    world.run(until=OPEN + 40)  # queued at Twilio, never in our record
    outage.down = False
    assert waiting(redis_client) == {}
    joined = when(leg, "enqueue")
    if reconciled:
        result = reconcile_queues(redis_client, rest, config, world.now)
        assert result == QueueReconcile(checked=1, added=1)
        assert waiting(redis_client) == {leg.sid: pytest.approx(joined, abs=1)}
        (enter,) = kinds(redis_client, "ENTERQUEUE")
        assert enter["data"] == {"reconciled": True}
        assert enter["ts"] == int(joined)  # Twilio's date_enqueued, in whole seconds
        call = redis_client.hgetall(store.call_key(leg.sid))
        assert call[b"caller"] == landline(1).encode() and call[b"dept"] == b"council_tax"
    line = world.agent(Agent(pin=PIN), phone=ALICE_PHONE, at=world.now + 1)
    world.run(until=OPEN + 100)
    if not reconciled:  # the advisor is told nobody waits, while the caller does
        assert "No callers are waiting in your queues." in line.said
        assert not any(n.kind == "bridge" for n in line.notices)
        return
    assert "There are 1 callers waiting in your queues." in " ".join(line.said)
    whisper = next(s for s in line.said if s.startswith("Council Tax. Waited"))
    # as long as at Twilio, whose date_enqueued (the record's, once reconciled) is whole seconds
    waited = when(line, "say", "Council Tax. Waited") - int(joined)
    assert whisper.startswith(f"Council Tax. Waited {int(waited)} seconds. "
                              f"Caller {national_format(landline(1))}.")
    assert "You're through to Alice in the Council Tax team." in leg.said
    (connect,) = kinds(redis_client, "CONNECT")
    assert connect["call"] == leg.sid and connect["data"]["agent"] == alice.id


def thirty_gone_thirty_joined(world: World, outage: Outage, redis_client):
    """30 callers hang up while Redis is down, and 30 join meanwhile."""
    gone = [queue_caller(world, i, OPEN + i, patience=60) for i in range(30)]
    world.run(until=OPEN + 80)  # all queued; they hang up from about 84 s
    outage.down = True
    joined = [queue_caller(world, 100 + i, OPEN + 80 + i) for i in range(30)]
    world.run(until=OPEN + 160)  # joined at Twilio from about 104 s
    outage.down = False
    assert all(not leg.live for leg in gone) and all(leg.live for leg in joined)
    assert set(waiting(redis_client)) == {leg.sid for leg in gone}
    return gone, joined


def test_sixty_callers_after_an_outage(make_world, redis_client, config, twilio, rest):
    """One pass puts all 60 right, with at most one REST request per caller (and one per
    queue), and a second changes nothing."""
    world, outage = make_world()
    gone, joined = thirty_gone_thirty_joined(world, outage, redis_client)
    asked = len(twilio.requests)

    result = reconcile_queues(redis_client, rest, config, world.now)
    assert result == QueueReconcile(checked=60, removed=30, abandoned=30, added=30)
    assert len(twilio.requests) - asked <= 1 + len(config.departments) + 60
    assert waiting(redis_client) == {
        leg.sid: pytest.approx(when(leg, "enqueue"), abs=1) for leg in joined}
    abandons = kinds(redis_client, "ABANDON")
    assert {e["call"] for e in abandons} == {leg.sid for leg in gone}
    assert all(e["data"]["reconciled"] and e["data"]["reason"] == "hung_up" for e in abandons)
    enters = [e for e in kinds(redis_client, "ENTERQUEUE") if e["data"].get("reconciled")]
    assert sorted(e["call"] for e in enters) == sorted(leg.sid for leg in joined)

    again = snapshot(redis_client)
    assert reconcile_queues(redis_client, rest, config, world.now) == QueueReconcile(checked=30)
    assert snapshot(redis_client) == again
    world.run(until=OPEN + 300)  # the added callers leave at the limit, recorded as usual
    assert waiting(redis_client) == {}
    assert len(kinds(redis_client, "EXITWITHTIMEOUT")) == 30


def test_passes_on_several_machines_at_once_change_each_caller_once(
        make_world, redis_client, config, twilio):
    world, outage = make_world()
    gone, joined = thirty_gone_thirty_joined(world, outage, redis_client)

    def one_machine(_: int) -> QueueReconcile:
        own = redis.Redis.from_url(TEST_REDIS_URL)  # each machine its own connection
        try:
            return reconcile_queues(own, Client(ACCOUNT_SID, AUTH_TOKEN, http_client=twilio),
                                    config, world.now)
        finally:
            own.close()

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(one_machine, range(3)))
    assert sum(r.removed for r in results) == sum(r.abandoned for r in results) == 30
    assert sum(r.added for r in results) == 30
    assert sorted(e["call"] for e in kinds(redis_client, "ABANDON")) == sorted(
        leg.sid for leg in gone)
    enters = [e["call"] for e in kinds(redis_client, "ENTERQUEUE") if e["data"].get("reconciled")]
    assert sorted(enters) == sorted(leg.sid for leg in joined)
    assert set(waiting(redis_client)) == {leg.sid for leg in joined}


def test_a_record_too_new_to_judge_is_left_and_an_unknown_call_is_removed(
        make_world, redis_client, config, rest):
    world, _ = make_world()
    now = world.now
    fresh, stale = "CA" + "1" * 32, "CA" + "2" * 32  # neither is a call Twilio knows
    redis_client.zadd(store.queue_key("housing"), {fresh: now - 5, stale: now - 200})

    result = reconcile_queues(redis_client, rest, config, now)
    assert result == QueueReconcile(checked=2, removed=1, pending=1)
    assert waiting(redis_client, "housing") == {fresh: now - 5}
    (exit_,) = kinds(redis_client, "EXITWITHERROR")
    assert exit_["call"] == stale and exit_["ts"] == pytest.approx(now - 75)
    assert exit_["data"] == {"reason": "error", "wait": 125, "reconciled": True,
                             "call_status": NOT_FOUND}


@pytest.mark.parametrize("network", [False, True])
@pytest.mark.parametrize("part", ["/Queues.json", "/Members.json", "/Calls/"])
def test_a_twilio_failure_changes_nothing(make_world, redis_client, config, twilio, part,
                                          network):
    world, outage = make_world()
    queue_caller(world, 1, OPEN, patience=60)
    world.run(until=OPEN + 40)
    outage.down = True
    queue_caller(world, 2, OPEN + 41)
    world.run(until=OPEN + 120)  # one ghost, one missing
    outage.down = False
    before = snapshot(redis_client)
    failing = Failing(twilio, part, network)

    result = reconcile_queues(redis_client, Client(ACCOUNT_SID, AUTH_TOKEN,
                                                   http_client=failing), config, world.now)
    assert snapshot(redis_client) == before
    assert result.errors == failing.failed > 0
    assert (result.removed, result.added) == (0, 0)
    # Twilio answers again: the next pass puts it right
    result = reconcile_queues(redis_client, Client(ACCOUNT_SID, AUTH_TOKEN,
                                                   http_client=twilio), config, world.now)
    assert (result.removed, result.added, result.errors) == (1, 1, 0)


# -- the advisors ------------------------------------------------------------------------------

LINE = "CA" + "7" * 32


def advisor(state: State, call_sid: str = LINE) -> agents.Agent:
    return agents.Agent(id="1001", name="Alice Smith", departments=("council_tax",), phone="",
                        role=Role.AGENT, state=state, state_since=NOW - 300, call_sid=call_sid)


@pytest.mark.parametrize(("agent", "expected"), [
    (advisor(State.AVAILABLE), agents.LineEnd(State.SIGNED_OUT, "left the agent line")),
    (advisor(State.ON_BREAK, ""), agents.LineEnd(State.SIGNED_OUT, "left the agent line")),
    (advisor(State.ON_CALL), agents.LineEnd(State.WRAP_UP, "agent hung up",
                                            completes_call=True, wrap_up_since=NOW)),
    (advisor(State.WRAP_UP), agents.LineEnd(wrap_up_since=NOW - 300)),
    (advisor(State.SIGNED_OUT), agents.LineEnd()),
    (advisor(State.AVAILABLE, "CA" + "8" * 32), agents.LineEnd()),  # on another call now
])
def test_what_the_end_of_an_advisors_call_means(agent, expected):
    """The status callback and the reconcile both follow this."""
    assert agents.after_line_end(agent, LINE, NOW) == expected



def line_dropped_in_outage(world: World, outage: Outage, redis_client, alice) -> Leg:
    """Alice is in the agent menu when Redis goes down: the menu's next request fails, its
    rescue ends her call, and the line's status callback fails too: she stays available."""
    line = world.agent(Agent(pin=PIN), phone=ALICE_PHONE, at=OPEN)
    world.run(until=OPEN + 30)
    assert agents.get(redis_client, alice.id).state is State.AVAILABLE
    outage.down = True
    world.run(until=OPEN + 90)
    outage.down = False
    assert not line.live
    assert agents.get(redis_client, alice.id).state is State.AVAILABLE
    assert agents.anyone_on_duty(redis_client, "council_tax")
    return line


@pytest.mark.parametrize("reconciled", [True, False])
def test_an_advisor_whose_line_ended_in_an_outage_is_signed_out(
        make_world, redis_client, config, rest, alice, reconciled):
    world, outage = make_world(staffed=False)
    line = line_dropped_in_outage(world, outage, redis_client, alice)
    if reconciled:
        result = reconcile_agents(redis_client, rest, config, world.now)
        assert result == AgentReconcile(checked=1, signed_out=1)
        out = agents.get(redis_client, alice.id)
        assert out.state is State.SIGNED_OUT and out.state_since == int(line.ended_at)
        moved = [e for e in kinds(redis_client, "AGENTSTATE") if e["data"].get("reconciled")]
        assert [(e["call"], e["data"]["previous"], e["data"]["state"], e["data"]["reason"])
                for e in moved] == [("", "available", "signed_out", "left the agent line")]
        assert agents.line_ended(redis_client, line.sid)
        assert not redis_client.zscore(agents.IDLE, alice.id)
        again = snapshot(redis_client)
        assert reconcile_agents(redis_client, rest, config, world.now) == AgentReconcile()
        assert snapshot(redis_client) == again
    caller = queue_caller(world, 1, world.now + 1)
    world.run(until=world.now + 40)
    if reconciled:  # voicemail offered at once
        assert NO_AGENTS in caller.said and CONNECTING not in caller.said
        assert [e["call"] for e in kinds(redis_client, "NOAGENTS")] == [caller.sid]
    else:  # put through to nobody
        assert CONNECTING in caller.said and NO_AGENTS not in caller.said


def test_an_advisor_who_hung_up_mid_call_in_an_outage_wraps_up_then_is_signed_out(
        make_world, redis_client, config, rest, alice):
    world, outage = make_world(staffed=False)
    line = world.agent(Agent(pin=PIN, handle=30), phone=ALICE_PHONE, at=OPEN)  # ends 30 s in
    queue_caller(world, 1, OPEN + 5)
    run_until(world, lambda: any(n.kind == "bridge" for n in line.notices))
    outage.down = True
    run_until(world, lambda: not line.live)
    world.run_for(5)
    outage.down = False
    assert agents.get(redis_client, alice.id).state is State.ON_CALL
    ended = int(line.ended_at)

    result = reconcile_agents(redis_client, rest, config, ended + 30)
    assert result == AgentReconcile(checked=1, wrapped_up=1)
    wrapping = agents.get(redis_client, alice.id)
    assert (wrapping.state, wrapping.state_since) == (State.WRAP_UP, ended)
    (complete,) = kinds(redis_client, "COMPLETEAGENT")
    assert complete["data"] == {"agent": alice.id, "reconciled": True}
    assert reconcile_agents(redis_client, rest, config, ended + 50) == AgentReconcile(
        checked=1, pending=1)  # wrap-up not over yet

    result = reconcile_agents(redis_client, rest, config, ended + 70)
    assert result == AgentReconcile(checked=1, signed_out=1)
    out = agents.get(redis_client, alice.id)
    assert (out.state, out.state_since) == (State.SIGNED_OUT, ended + 60)
    assert kinds(redis_client, "AGENTSTATE")[-1]["data"]["reason"] == \
        agents.WRAP_UP_OVER_OFF_LINE
    assert not agents.anyone_on_duty(redis_client, "council_tax")


def test_an_advisor_linked_to_a_new_call_meanwhile_is_left_alone(
        make_world, redis_client, config, twilio, alice):
    """Between Twilio's answer and the write, Alice rings the line again: the write, which
    re-reads under WATCH, sees her linked to the new call and changes nothing."""
    world, outage = make_world(staffed=False)
    line = line_dropped_in_outage(world, outage, redis_client, alice)
    new_line = "CA" + "9" * 32

    class SignsInAgain(HttpClient):
        def request(self, method, url, *args, **kwargs):
            answer = twilio.request(method, url, *args, **kwargs)
            if line.sid in url:
                agents.link_call(redis_client, new_line, alice.id)
            return answer

    client = Client(ACCOUNT_SID, AUTH_TOKEN,
                    http_client=SignsInAgain(twilio.logger, is_async=False))
    assert reconcile_agents(redis_client, client, config, world.now) == AgentReconcile(
        checked=1)
    assert agents.get(redis_client, alice.id).state is State.AVAILABLE
    assert not agents.line_ended(redis_client, line.sid)


@pytest.mark.parametrize("network", [False, True])
def test_a_twilio_failure_leaves_the_advisor_as_they_are(
        make_world, redis_client, config, twilio, alice, network):
    world, outage = make_world(staffed=False)
    line_dropped_in_outage(world, outage, redis_client, alice)
    before = snapshot(redis_client)
    client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=Failing(twilio, "/Calls/", network))
    assert reconcile_agents(redis_client, client, config, world.now) == AgentReconcile(
        checked=1, errors=1)
    assert snapshot(redis_client) == before


def test_an_advisor_with_no_known_call_is_left_alone(redis_client, config, rest, alice):
    agents.set_state(redis_client, alice, State.AVAILABLE, OPEN)
    assert reconcile_agents(redis_client, rest, config, OPEN + 60) == AgentReconcile(unlinked=1)
    assert agents.get(redis_client, alice.id).state is State.AVAILABLE


def test_a_take_marker_held_by_an_ended_line_is_cleared(
        make_world, redis_client, config, rest, alice):
    world, outage = make_world(staffed=False)
    ended = line_dropped_in_outage(world, outage, redis_client, alice)
    bob = agents.add(redis_client, name="Bob Jones", departments=["benefits"], phone=BOB_PHONE,
                     role=Role.AGENT, now=OPEN)
    agents.set_secret(redis_client, bob.id, "pin_hash", PIN)
    live = world.agent(Agent(pin=PIN), phone=bob.phone, at=world.now)
    world.run_for(10)
    redis_client.set(agents.TAKING.format(dept="council_tax"), ended.sid, px=agents.TAKING_MS)
    redis_client.set(agents.TAKING.format(dept="benefits"), live.sid, px=agents.TAKING_MS)

    assert reconcile_queues(redis_client, rest, config, world.now) == QueueReconcile(
        takes_cleared=1)
    assert not redis_client.exists(agents.TAKING.format(dept="council_tax"))
    assert redis_client.get(agents.TAKING.format(dept="benefits")) == live.sid.encode()


def test_the_reconciler_runs_the_live_passes(make_world, redis_client, config, twilio):
    """``ivr reconcile`` (``ivr.reconcile.run_once``) runs both passes with the app's own
    REST client: after the outage no ghost survives and every caller who joined is there."""
    from ivr import reconcile

    world, outage = make_world()
    gone, joined = thirty_gone_thirty_joined(world, outage, redis_client)
    results = reconcile.run_once(world.app.extensions["ivr"], world.now, lock_seconds=0)
    assert results["spool"].fixed > 0  # the spooled hang-ups take the 30 ghosts out first
    assert results["queues"] == reconcile.Mended(fixed=30)  # the 30 who joined are added
    assert results["agents"].errors == 0
    assert set(waiting(redis_client)) == {leg.sid for leg in joined}
    assert {e["call"] for e in kinds(redis_client, "ABANDON")} == {leg.sid for leg in gone}
