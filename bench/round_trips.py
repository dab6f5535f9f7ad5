"""Redis round trips per webhook over a typical journey (target: at most 2 per webhook).

In-process (Flask test client, signed requests, real Redis). Each round trip is counted on the
client side: redis-py sends a command, or a whole pipeline, with one
``Connection.send_packed_command`` call and then reads the replies, so every call is one
round trip; the commands it carried are decoded from the bytes sent. This is exact on a
shared Redis (other clients' traffic is not counted).

With ``--private-redis`` the bench starts its own ``redis-server`` (unix socket, no
persistence, stopped at exit) and also prints the server's ``INFO commandstats`` deltas per
request, which count the commands a Lua script runs too.

The journey runs twice and the second is reported (steady state: the first pays one-off
costs such as RQ reading the server version; differences are printed). The journey: an
advisor signs in on the agent line; caller A (mobile) picks council tax and, the advisor
being free, is offered no text link but claimed for them at once, waits, is taken by the
advisor and hangs up after the call; caller B (landline) waits two minutes, leaves a
voicemail and hangs up; once that callback is released, the advisor takes it on the agent
line (next callback, call now) and the resident answers (Dial result).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import _common as c
import redis
import redis.connection

TARGET = 2
DEPT = "council_tax"


# -- counting --------------------------------------------------------------------------------


def parse_packed(data: bytes) -> list[list[bytes]]:
    """RESP arrays of bulk strings (what redis-py sends) -> the commands' arguments."""
    commands = []
    i = 0
    while i < len(data) and data[i:i + 1] == b"*":
        end = data.index(b"\r\n", i)
        count = int(data[i + 1:end])
        i = end + 2
        args = []
        for _ in range(count):
            end = data.index(b"\r\n", i)
            size = int(data[i + 1:end])
            i = end + 2
            args.append(data[i:i + size])
            i += size + 2
        commands.append(args)
    return commands


def _script_names() -> dict[bytes, str]:
    """Script text and SHA1 (as EVALSHA sends it) -> a readable name."""
    from ivr import store
    from ivr.agents import context as agent_context
    from ivr.agents import offer
    from voicemail import callbacks, tasks

    named = {store._LEAVE: "leave_queue", tasks._SAVE: "save_voicemail",
             agent_context._CONTEXT: "agent_context", offer._CLAIM: "offer_claim",
             offer._MARK_IDLE: "mark_idle", callbacks._NEXT: "callback_next",
             callbacks._HOLD: "callback_hold", callbacks._ATTEMPT: "callback_attempt",
             callbacks._RELEASE: "callback_release", tasks._RELEASE_DUE: "release_due"}
    out = {}
    for text, name in named.items():
        out[text.encode()] = name
        out[hashlib.sha1(text.encode()).hexdigest().encode()] = name
    return out


SUBCOMMANDS = {b"CLIENT", b"CONFIG", b"XINFO", b"SCRIPT", b"OBJECT", b"MEMORY"}
NO_KEY = {b"MULTI", b"EXEC", b"PING", b"HELLO", b"SELECT", b"INFO", b"TIME"}


def describe(args: list[bytes], scripts: dict[bytes, str]) -> str:
    """``HSET {ivr}:call:*``, ``EVAL leave_queue [{ivr}:call:*]``: a command and its key family."""
    name = args[0].upper()
    label = name.decode()
    if name in (b"EVAL", b"EVALSHA"):
        script = scripts.get(args[1]) or hashlib.sha1(args[1]).hexdigest()[:8]
        keys = [c.key_family(k) for k in args[3:3 + int(args[2])]]
        return f"{label} {script}" + (f" [{', '.join(keys)}]" if keys else "")
    if name in SUBCOMMANDS and len(args) > 1:
        return f"{label} {args[1].decode().upper()}"
    if name in NO_KEY or len(args) < 2:
        return label
    return f"{label} {c.key_family(args[1])}"


class RoundTrips:
    """Patches redis-py's connections to record what each send carries, while ``active``."""

    def __init__(self) -> None:
        self.active = False
        self.trips: list[list[str]] = []
        self.scripts = _script_names()
        self._original = redis.connection.AbstractConnection.send_packed_command
        counter = self

        def send_packed_command(conn, command, check_health=True):
            if counter.active:
                data = command.encode() if isinstance(command, str) else (
                    bytes(command) if isinstance(command, (bytes, bytearray, memoryview))
                    else b"".join(bytes(x) for x in command))
                counter.trips.append([describe(a, counter.scripts) for a in parse_packed(data)])
            return counter._original(conn, command, check_health)

        redis.connection.AbstractConnection.send_packed_command = send_packed_command

    def restore(self) -> None:
        redis.connection.AbstractConnection.send_packed_command = self._original


READS = {"GET", "MGET", "HGET", "HMGET", "HGETALL", "EXISTS", "ZRANGE", "ZCARD", "ZCOUNT",
         "ZSCORE", "SCARD", "SMEMBERS", "SISMEMBER", "LRANGE", "LLEN", "TTL", "INFO", "XRANGE"}


def is_read(trip: list[str]) -> bool:
    return all(cmd.split()[0] in READS for cmd in trip)


def hint(trips: list[list[str]]) -> str:
    """How the round trips could shrink, judged from their shape."""
    single = [t[0] if len(t) == 1 else "" for t in trips]
    out = []
    lookup = [a for a, b in zip(single, single[1:], strict=False)
              if a.startswith("GET {ivr}:agent") and b.startswith("HGETALL {ivr}:agent:")]
    if lookup:
        out.append(f"the agent lookup is two dependent reads ({lookup[0]}, then "
                   "HGETALL {ivr}:agent:*): one Lua script, or the agent's id carried in the "
                   "URLs the app builds for that call")
    if sum(x.startswith(("SADD {ivr}:dept:", "SREM {ivr}:dept:")) for x in single) > 1:
        out.append("agents.set_state runs on the client, so HSET, one SADD/SREM per "
                   "department and XADD go one by one: give it the request's pipeline")
    if any(all(cmd.split()[0] in NO_KEY or cmd.split()[1:2] == [] or
               cmd.split()[1].startswith("rq:") for cmd in t) and
           any(cmd.split()[1:2] and cmd.split()[1].startswith("rq:") for cmd in t)
           for t in trips):  # a round trip of RQ's own (not in the request's pipeline)
        out.append("RQ costs round trips of its own (SADD rq:queues in a MULTI/EXEC, then the "
                   "job's MULTI/EXEC; Job.exists before a scheduled job) unless it is given the "
                   "request's pipeline: Batch.enqueue / Batch.enqueue_at in ivr/store.py")
    writes = sum(not is_read(t) for t in trips)
    reads = len(trips) - writes
    if writes > 1:
        out.append(f"{writes} round trips write: one pipeline sent at the end can carry them all")
    if reads > 1:
        out.append(f"{reads} round trips only read: independent reads can share one pipeline")
    return "\n      - ".join([""] + out) if out else ""


def commandstats(r: redis.Redis) -> Counter:
    stats = r.info("commandstats")
    return Counter({k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items()
                    if k != "cmdstat_info"})


# -- the journey -----------------------------------------------------------------------------


@dataclass
class Step:
    label: str
    path: str
    status: int
    trips: list[list[str]]
    server: Counter | None = None

    @property
    def commands(self) -> int:
        return sum(len(t) for t in self.trips)


@dataclass
class Journey:
    client: c.Signed
    counter: RoundTrips
    stats_client: redis.Redis | None
    steps: list[Step] = field(default_factory=list)

    def post(self, label: str, url: str, params: dict[str, str]) -> str:
        before = commandstats(self.stats_client) if self.stats_client else None
        self.counter.trips = []
        self.counter.active = True
        try:
            status, body = self.client.post(url, params)
        finally:
            self.counter.active = False
        server = None
        if before is not None:
            server = commandstats(self.stats_client) - before
        path = url.replace(c.BASE, "")
        self.steps.append(Step(label, path, status, self.counter.trips, server))
        if status != 200:
            print(f"warning: {label} answered {status}: {body[:300]}")
        return body


def run_journey(j: Journey, r: redis.Redis, now: float, departments: list[str]) -> None:
    from ivr import agents

    agent_phone, pin = "+447911999001", "730519"
    alex = agents.add(r, name="Alex Advisor", departments=departments, phone=agent_phone,
                      role=agents.Role.AGENT, now=now)
    agents.set_secret(r, alex.id, "pin_hash", pin)
    c.add_answers(r, DEPT, now)
    agent = c.standard(c.new_sid(), agent_phone, to=c.AGENT_LINE)

    doc = j.post("agent line: incoming (phone recognised: PIN asked)", "/agent/incoming", agent)
    doc = j.post("agent line: PIN (signed in)", c.twiml_attr(doc, "Gather", "action"),
                 agent | {"Digits": pin, "FinishedOnKey": "#"})
    menu_action = c.twiml_attr(doc, "Gather", "action")

    # Caller A: a mobile, put through to the free advisor, is answered.
    a = c.standard(c.new_sid(), c.mobile(1))
    doc = j.post("incoming", "/voice/incoming", a | {"CallStatus": "ringing"})
    doc = j.post("menu choice (2: council tax)", c.twiml_attr(doc, "Gather", "action"),
                 a | {"Digits": "2", "FinishedOnKey": ""})
    # The advisor is free, so no text offer ("press 1, or hold" would only keep A from them):
    # the department's answer is the <Enqueue>, with the advisor claimed for A at once.
    doc = j.post("department (online message; advisor free: enqueue)",
                 c.twiml_attr(doc, "Redirect"), a)
    wait_url = c.twiml_attr(doc, "Enqueue", "waitUrl")
    left_url = c.twiml_attr(doc, "Enqueue", "action")
    queue = {"QueueSid": "QU" + "1" * 32, "AvgQueueTime": "40", "CurrentQueueSize": "1",
             "MaxQueueSize": "100", "QueuePosition": "1"}
    j.post("wait (waitUrl, QueueTime 0)", wait_url, a | queue | {"QueueTime": "0"})
    j.post("wait (waitUrl, QueueTime 30)", wait_url, a | queue | {"QueueTime": "30"})

    doc = j.post("agent menu choice (1: take next)", menu_action,
                 agent | {"Digits": "1", "FinishedOnKey": ""})
    doc = j.post("agent take (/agent/take)", c.twiml_attr(doc, "Redirect"), agent)
    after_call = c.twiml_attr(doc, "Dial", "action")
    introduce = c.twiml_attr(doc, "Queue", "url")
    j.post("introduce (<Queue url>, caller leg)", introduce,
           a | {"QueueSid": "QU" + "1" * 32, "QueueTime": "45", "DequeingCallSid": agent["CallSid"],
                "DequeueingCallSid": agent["CallSid"]})
    j.post("left (QueueResult bridged)", left_url,
           a | {"QueueResult": "bridged", "QueueTime": "45", "QueueSid": "QU" + "1" * 32})
    doc = j.post("agent after-call (Dial action)", after_call,
                 agent | {"DialCallStatus": "completed", "DialCallSid": c.new_sid(),
                          "DialCallDuration": "180", "DialBridged": "true"})
    j.post("agent wrap-up (1: resolved)", c.twiml_attr(doc, "Gather", "action"),
           agent | {"Digits": "1", "FinishedOnKey": ""})
    j.post("status callback (caller A completed)", "/voice/status",
           a | {"CallStatus": "completed", "CallDuration": "260", "SequenceNumber": "0",
                "CallbackSource": "call-progress-events"})

    # Caller B: a landline (no text offer), waits 2 minutes, leaves a voicemail.
    b = c.standard(c.new_sid(), c.landline(2))
    doc = j.post("incoming (caller B)", "/voice/incoming", b | {"CallStatus": "ringing"})
    doc = j.post("menu choice (caller B)", c.twiml_attr(doc, "Gather", "action"),
                 b | {"Digits": "2", "FinishedOnKey": ""})
    doc = j.post("department + enqueue (landline)", c.twiml_attr(doc, "Redirect"), b)
    wait_url = c.twiml_attr(doc, "Enqueue", "waitUrl")
    left_url = c.twiml_attr(doc, "Enqueue", "action")
    doc = j.post("wait (waitUrl, QueueTime 120: Leave)", wait_url,
                 b | queue | {"QueueTime": "120"})
    doc = j.post("left (QueueResult leave: to voicemail)", left_url,
                 b | {"QueueResult": "leave", "QueueTime": "121", "QueueSid": "QU" + "1" * 32})
    doc = j.post("voicemail start", c.twiml_attr(doc, "Redirect"), b)
    record_action = c.twiml_attr(doc, "Record", "action")
    status_url = c.twiml_attr(doc, "Record", "recordingStatusCallback")
    rec_sid = "RE" + "2" * 32
    rec_url = f"https://api.twilio.com/2010-04-01/Accounts/{c.ACCOUNT_SID}/Recordings/{rec_sid}"
    j.post("voicemail recorded (Record action)", record_action,
           b | {"RecordingUrl": rec_url, "RecordingDuration": "25", "Digits": "#"})
    j.post("recording status (2nd delivery: duplicate)", status_url,
           {"AccountSid": c.ACCOUNT_SID, "CallSid": b["CallSid"], "RecordingSid": rec_sid,
            "RecordingUrl": rec_url, "RecordingStatus": "completed", "RecordingDuration": "25",
            "RecordingChannels": "1", "RecordingSource": "RecordVerb"})
    j.post("status callback (caller B completed)", "/voice/status",
           b | {"CallStatus": "completed", "CallDuration": "190", "SequenceNumber": "0",
                "CallbackSource": "call-progress-events"})
    # The advisor works caller B's callback, once released: next, call now, result.
    release_callback(r, b["From"])
    doc = j.post("agent menu choice (2: next callback)", menu_action,
                 agent | {"Digits": "2", "FinishedOnKey": ""})
    doc = j.post("agent next callback (claimed)", c.twiml_attr(doc, "Redirect"), agent)
    doc = j.post("agent callback choice (1: call now)", c.twiml_attr(doc, "Gather", "action"),
                 agent | {"Digits": "1", "FinishedOnKey": ""})
    j.post("agent callback result (Dial action: answered)", c.twiml_attr(doc, "Dial", "action"),
           agent | {"DialCallStatus": "completed", "DialCallSid": c.new_sid(),
                    "DialCallDuration": "95", "DialBridged": "true"})
    j.post("agent line: status callback (completed)", "/agent/status",
           agent | {"CallStatus": "completed", "CallDuration": "900"})


def release_callback(r: redis.Redis, number: str) -> None:
    """What the release job does at the opening of the callback day (not a webhook)."""
    from voicemail.tasks import OPEN_BY_NUMBER, release_due

    task_id = r.get(OPEN_BY_NUMBER.format(number=number)).decode()
    release_due(r, time.time(), None, task_id)


# -- main ------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    c.redis_arg(parser)
    parser.add_argument("--private-redis", action="store_true",
                        help="start a private redis-server to also print INFO commandstats "
                             "deltas (exact only when no one else uses the server)")
    parser.add_argument("--all", action="store_true",
                        help="list the commands of every webhook, not only those over 2")
    args = parser.parse_args()
    c.exit_on_sigterm()

    private = c.PrivateRedis() if args.private_redis else None
    url = private.url if private else args.redis_url
    counter = RoundTrips()
    try:
        r = c.bench_redis(url)
        app = c.make_app(url)
        ivr = app.extensions["ivr"]
        print(c.machine(r))
        print(f"hours: {c.hours_note(ivr.config)}")
        print(f"redis: {'private redis-server (commandstats exact)' if private else url}")
        ivr.redis.ping()  # open the app's connection outside the counted requests
        departments = list(ivr.config.departments)
        # The first journey in a process pays one-off costs (RQ reads the server version
        # once per connection): run it, start again from an empty database, count the second.
        first = Journey(c.Signed(app), counter, None)
        run_journey(first, r, time.time(), departments)
        r.flushdb()
        journey = Journey(c.Signed(app), counter, r if private else None)
        run_journey(journey, r, time.time(), departments)
    finally:
        counter.restore()
        if private:
            private.stop()
        else:
            r.flushdb()

    steps = journey.steps
    headers = ["webhook", "round trips", "commands"] + (["server cmds"] if private else [])
    headers += ["status", f"<= {TARGET}"]
    rows = []
    for s in steps:
        row = [s.label, len(s.trips), s.commands]
        if private:
            row.append(sum(s.server.values()) if s.server is not None else "-")
        row += [s.status, "ok" if len(s.trips) <= TARGET else "OVER"]
        rows.append(row)
    print()
    print(c.table(headers, rows))
    print("(steady state: the second journey in this process)")
    for cold, warm in zip(first.steps, steps, strict=True):
        if len(cold.trips) != len(warm.trips):
            extra = [cmd for trip in cold.trips for cmd in trip
                     if trip not in warm.trips]
            print(f"first journey in a process only: {cold.label} took {len(cold.trips)} "
                  f"round trips (extra: {', '.join(extra)})")
    over = [s for s in steps if len(s.trips) > TARGET]
    total = sum(len(s.trips) for s in steps)
    print(f"\n{len(steps)} webhooks, {total} round trips "
          f"(mean {total / len(steps):.1f}); {len(over)} over {TARGET}")
    if over:
        print(f"\nWebhooks over {TARGET} round trips, command by command "
              "(one line per round trip; a pipeline shows several commands):")
    if args.all:
        print("\nEvery webhook, command by command:")
    for s in steps if args.all else over:
        print(f"\n{s.label}  [{s.path}]  {len(s.trips)} round trips")
        for n, trip in enumerate(s.trips, 1):
            shown = ", ".join(f"{cmd} x{k}" if k > 1 else cmd
                              for cmd, k in Counter(trip).items())
            kind = "pipeline" if len(trip) > 1 else "single"
            print(f"  {n:>2}. {kind:<8} {shown}")
        if len(s.trips) > TARGET and (advice := hint(s.trips)):
            print(f"      suggestions:{advice}")
        if private and s.server:
            inner = ", ".join(f"{k} {v}" for k, v in sorted(s.server.items()))
            print(f"      server commandstats delta: {inner}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
