"""Redis memory per waiting caller and per stored voicemail, and which keys expire.

In-process (Flask test client, signed requests, real Redis on the bench database, flushed
first). Callers go through the real webhooks, in three phases:

  1. ``--callers`` landline callers ring, pick council tax and join the queue (waiting);
  2. all but ``--answered`` of them wait two minutes, leave a voicemail (the Record action and
     the recording status callback) and hang up;
  3. the rest are taken by an advisor, introduced, finish the call and wrap-up; the advisor
     then hangs up the agent line.

After each phase every key in the database is measured with ``MEMORY USAGE key SAMPLES 0``
and grouped by family (``ivr:call:*``); the deltas divided by the callers in the phase give
bytes per waiting caller, per stored voicemail and per answered call. With
``--private-redis`` the server's ``used_memory`` delta (allocator and dictionary overheads
included) is printed too. Finally every key left behind by the finished calls is checked for a
TTL: keys describing a call must expire; work items (callback tasks), the event stream
(trimmed by retention) and advisor records are kept on purpose.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from fnmatch import fnmatch

import _common as c
import redis

DEPT = "council_tax"

# First match wins: (key pattern, "expire" or why it is kept without a TTL)
POLICY = [
    ("{ivr}:call:*", "expire"),
    ("{ivr}:caller:*", "expire"),
    ("{ivr}:agentcall:*", "expire"),
    ("{ivr}:agentfail:*", "expire"),
    ("{ivr}:queue:*", "kept: the live queue (empty once no one waits)"),
    ("{ivr}:answers:*", "kept: capped list of recent answer times"),
    ("{ivr}:events", "kept: event stream trimmed to the retention period"),
    ("{ivr}:cb:claim:*", "expire"),
    ("{ivr}:cb:*", "kept: callback work (open until an advisor closes it)"),
    ("rq:*", "kept: RQ's own (jobs get result/failure TTLs once run)"),
    ("{ivr}:agent:*", "kept: advisor directory and state"),
    ("{ivr}:agents", "kept: advisor directory and state"),
    ("{ivr}:dept:*", "kept: advisors on duty per department"),
]


def policy(key: str) -> str:
    return next((rule for pattern, rule in POLICY if fnmatch(key, pattern)),
                "unclassified: review")


@dataclass
class Snapshot:
    bytes: Counter = field(default_factory=Counter)
    keys: Counter = field(default_factory=Counter)
    with_ttl: Counter = field(default_factory=Counter)
    ttl_range: dict[str, tuple[int, int]] = field(default_factory=dict)
    no_ttl_examples: dict[str, list[str]] = field(default_factory=dict)
    used_memory: int = 0

    @property
    def total(self) -> int:
        return sum(self.bytes.values())


def snapshot(r: redis.Redis, server_wide: bool) -> Snapshot:
    snap = Snapshot()
    keys = [k.decode() for k in r.scan_iter(count=1000)]
    for lo in range(0, len(keys), 500):
        chunk = keys[lo:lo + 500]
        pipe = r.pipeline(transaction=False)
        for key in chunk:
            pipe.memory_usage(key, samples=0)
            pipe.ttl(key)
        replies = pipe.execute()
        for i, key in enumerate(chunk):
            size, ttl = replies[2 * i], replies[2 * i + 1]
            if size is None:  # expired between SCAN and MEMORY USAGE
                continue
            family = c.key_family(key)
            snap.bytes[family] += size
            snap.keys[family] += 1
            if ttl >= 0:
                snap.with_ttl[family] += 1
                lo_ttl, hi_ttl = snap.ttl_range.get(family, (ttl, ttl))
                snap.ttl_range[family] = (min(lo_ttl, ttl), max(hi_ttl, ttl))
            else:
                snap.no_ttl_examples.setdefault(family, [])
                if len(snap.no_ttl_examples[family]) < 3:
                    snap.no_ttl_examples[family].append(key)
    if server_wide:
        snap.used_memory = int(r.info("memory")["used_memory"])
    return snap


def delta_table(before: Snapshot, after: Snapshot, items: int, what: str) -> str:
    families = sorted(set(before.bytes) | set(after.bytes),
                      key=lambda f: -(after.bytes[f] - before.bytes[f]))
    rows = []
    for f in families:
        d = after.bytes[f] - before.bytes[f]
        dk = after.keys[f] - before.keys[f]
        if d == 0 and dk == 0:
            continue
        rows.append([f, f"{dk:+d}", f"{d:+,}", f"{d / items:+,.0f}",
                     "TTL" if after.with_ttl[f] == after.keys[f] and after.keys[f] else
                     ("some TTL" if after.with_ttl[f] else "no TTL")])
    d_total = after.total - before.total
    rows.append(["total", f"{sum(after.keys.values()) - sum(before.keys.values()):+d}",
                 f"{d_total:+,}", f"{d_total / items:+,.0f}", ""])
    return c.table(["key family", "keys", "bytes", f"bytes per {what}", "expiry"], rows)


# -- the callers -----------------------------------------------------------------------------

QUEUE = {"QueueSid": "QU" + "1" * 32, "AvgQueueTime": "40", "CurrentQueueSize": "1",
         "MaxQueueSize": "100", "QueuePosition": "1"}


def ok(status: int, body: str, what: str) -> str:
    if status != 200:
        sys.exit(f"{what} answered {status}: {body[:300]}")
    return body


def enqueue(client: c.Signed, params: dict[str, str]) -> tuple[str, str]:
    """Ring, choose council tax, join its queue (landline: no text offer)."""
    doc = ok(*client.post("/voice/incoming", params | {"CallStatus": "ringing"}), "incoming")
    doc = ok(*client.post(c.twiml_attr(doc, "Gather", "action"),
                          params | {"Digits": "2", "FinishedOnKey": ""}), "menu")
    doc = ok(*client.post(c.twiml_attr(doc, "Redirect"), params), "department")
    wait_url = c.twiml_attr(doc, "Enqueue", "waitUrl")
    if not wait_url:
        sys.exit(f"caller not queued: {doc[:300]}")
    return wait_url, c.twiml_attr(doc, "Enqueue", "action")


def voicemail(client: c.Signed, params: dict[str, str], wait_url: str, left_url: str,
              n: int) -> None:
    """Two minutes on hold, then a voicemail (action + status callback) and the hang-up."""
    ok(*client.post(wait_url, params | QUEUE | {"QueueTime": "120"}), "wait")
    doc = ok(*client.post(left_url, params | {"QueueResult": "leave", "QueueTime": "121",
                                              "QueueSid": QUEUE["QueueSid"]}), "left")
    doc = ok(*client.post(c.twiml_attr(doc, "Redirect"), params), "voicemail start")
    rec_sid = f"RE{n:032x}"
    rec_url = f"https://api.twilio.com/2010-04-01/Accounts/{c.ACCOUNT_SID}/Recordings/{rec_sid}"
    status_url = c.twiml_attr(doc, "Record", "recordingStatusCallback")
    ok(*client.post(c.twiml_attr(doc, "Record", "action"),
                    params | {"RecordingUrl": rec_url, "RecordingDuration": "25",
                              "Digits": "#"}), "recorded")
    ok(*client.post(status_url, {
        "AccountSid": c.ACCOUNT_SID, "CallSid": params["CallSid"], "RecordingSid": rec_sid,
        "RecordingUrl": rec_url, "RecordingStatus": "completed", "RecordingDuration": "25",
        "RecordingChannels": "1", "RecordingSource": "RecordVerb"}), "recording status")
    hang_up(client, params, 200)


def hang_up(client: c.Signed, params: dict[str, str], duration: int) -> None:
    ok(*client.post("/voice/status", params | {
        "CallStatus": "completed", "CallDuration": str(duration), "SequenceNumber": "0",
        "CallbackSource": "call-progress-events"}), "status callback")


def answer(client: c.Signed, agent: dict[str, str], callers: dict[str, dict[str, str]],
           r: redis.Redis, left_url: str) -> None:
    """The advisor takes the front caller: introduce, bridge, after-call, wrap-up, hang-up."""
    front = r.zrange(f"{{ivr}}:queue:{DEPT}", 0, 0)[0].decode()
    params = callers[front]
    doc = ok(*client.post("/agent/take", agent), "take")
    after_call = c.twiml_attr(doc, "Dial", "action")
    ok(*client.post(c.twiml_attr(doc, "Queue", "url"), params | {
        "QueueSid": QUEUE["QueueSid"], "QueueTime": "45", "DequeingCallSid": agent["CallSid"]}),
        "introduce")
    ok(*client.post(left_url, params | {"QueueResult": "bridged", "QueueTime": "45",
                                        "QueueSid": QUEUE["QueueSid"]}), "left")
    doc = ok(*client.post(after_call, agent | {
        "DialCallStatus": "completed", "DialCallSid": c.new_sid(), "DialCallDuration": "180",
        "DialBridged": "true"}), "after-call")
    ok(*client.post(c.twiml_attr(doc, "Gather", "action"),
                    agent | {"Digits": "1", "FinishedOnKey": ""}), "wrap-up")
    hang_up(client, params, 260)


# -- main ------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    c.redis_arg(parser)
    parser.add_argument("--callers", type=int, default=1000,
                        help="callers who queue (default %(default)s)")
    parser.add_argument("--answered", type=int, default=100,
                        help="of them, answered by an advisor; the rest leave voicemail")
    parser.add_argument("--private-redis", action="store_true",
                        help="start a private redis-server and print used_memory deltas too")
    args = parser.parse_args()
    c.exit_on_sigterm()
    if not 1 <= args.answered < args.callers <= 20_000:
        sys.exit("keep it bounded: 1 <= --answered < --callers <= 20000")

    private = c.PrivateRedis() if args.private_redis else None
    url = private.url if private else args.redis_url
    wide = private is not None
    try:
        r = c.bench_redis(url)
        app = c.make_app(url)
        ivr = app.extensions["ivr"]
        now = time.time()
        print(c.machine(r))
        print(f"hours: {c.hours_note(ivr.config)}")
        print(f"redis: {'private redis-server' if private else url}")
        client = c.Signed(app)
        agent_id, agent_sid = c.sign_in_agent(r, [DEPT], now)
        agent = c.standard(agent_sid, "+447911999001", to=c.AGENT_LINE)
        c.add_answers(r, DEPT, now)
        base = snapshot(r, wide)

        started = time.perf_counter()
        callers: dict[str, dict[str, str]] = {}
        urls = ("", "")
        for i in range(args.callers):
            params = c.standard(c.new_sid(), c.landline(i))
            callers[params["CallSid"]] = params
            urls = enqueue(client, params)
        waiting = snapshot(r, wide)
        print(f"phase 1: {args.callers} callers queued "
              f"({time.perf_counter() - started:.1f}s)", flush=True)

        vm_count = args.callers - args.answered
        ordered = list(callers.values())
        for n, params in enumerate(ordered[:vm_count]):
            voicemail(client, params, *urls, n)
        after_vm = snapshot(r, wide)
        print(f"phase 2: {vm_count} voicemails stored "
              f"({time.perf_counter() - started:.1f}s)", flush=True)

        remaining = {p["CallSid"]: p for p in ordered[vm_count:]}
        for _ in range(args.answered):
            answer(client, agent, remaining, r, urls[1])
        ok(*client.post("/agent/status", agent | {"CallStatus": "completed",
                                                  "CallDuration": "3600"}), "agent status")
        finished = snapshot(r, wide)
        print(f"phase 3: {args.answered} calls answered, advisor hung up "
              f"({time.perf_counter() - started:.1f}s)", flush=True)
        tasks = len(list(r.scan_iter("{ivr}:cb:task:*[0-9a-f]", count=1000)))
        still_queued = {k.decode(): r.zcard(k) for k in r.scan_iter("{ivr}:queue:*")}
        events = r.xlen("{ivr}:events")
    finally:
        if private:
            private.stop()
        else:
            r.flushdb()

    print()
    print(f"1. {args.callers} callers waiting in the queue (from nothing)")
    print(delta_table(base, waiting, args.callers, "waiting caller"))
    print()
    print(f"2. {vm_count} of them left a voicemail and hung up (change from phase 1)")
    print(delta_table(waiting, after_vm, vm_count, "voicemail"))
    print()
    print(f"3. {args.answered} answered by an advisor and finished (change from phase 2)")
    print(delta_table(after_vm, finished, args.answered, "answered call"))

    def fam(s: Snapshot, prefix: str) -> int:
        return sum(v for k, v in s.bytes.items() if k.startswith(prefix))

    per_wait = (waiting.total - base.total) / args.callers
    per_wait_live = (fam(waiting, "{ivr}:call:") + fam(waiting, "{ivr}:queue:")
                     + fam(waiting, "{ivr}:caller:") - fam(base, "{ivr}:call:")
                     - fam(base, "{ivr}:queue:") - fam(base, "{ivr}:caller:")) / args.callers
    per_wait_events = (fam(waiting, "{ivr}:events") - fam(base, "{ivr}:events")) / args.callers
    vm_keys = ("{ivr}:cb:", "rq:")
    per_vm = sum(fam(after_vm, p) - fam(waiting, p) for p in vm_keys) / vm_count
    print()
    print("summary")
    print(f"  per waiting caller: {per_wait:,.0f} bytes in all = {per_wait_live:,.0f} in the "
          f"call hash, queue zset and caller zset (expire) + {per_wait_events:,.0f} of "
          "events (kept for the retention period)")
    print(f"  per stored voicemail: {per_vm:,.0f} bytes of callback task, recording and its "
          f"RQ release job (ivr:cb:*, rq:*); {(after_vm.total - waiting.total) / vm_count:,.0f}"
          " bytes in all with the call's own changes and events")
    if wide:
        used_wait = (waiting.used_memory - base.used_memory) / args.callers
        used_vm = (after_vm.used_memory - waiting.used_memory) / vm_count
        print(f"  server used_memory: {used_wait:,.0f} bytes per waiting caller, "
              f"{used_vm:,.0f} per voicemail (allocator and dictionary overheads included)")
    print(f"  callback tasks {tasks}, events in the stream {events}, "
          f"callers still queued {still_queued}")

    print()
    print("TTL check after every call finished")
    rows = []
    missing = []
    for f in sorted(finished.keys):
        n, with_ttl = finished.keys[f], finished.with_ttl[f]
        rule = policy(f.replace("*", "x1"))
        if rule == "expire":
            verdict = "ok" if with_ttl == n else "MISSING TTL"
            if with_ttl < n:
                missing.append(f)
        else:
            verdict = "review" if rule.startswith("unclassified") else "-"
        lo, hi = finished.ttl_range.get(f, (-1, -1))
        ttl = f"{lo:,}..{hi:,}s" if with_ttl else "none"
        rows.append([f, n, with_ttl, ttl, rule, verdict])
    print(c.table(["key family", "keys", "with TTL", "TTL left", "policy", "verdict"], rows))
    if missing:
        print("\nkeys describing finished calls WITHOUT a TTL (should expire):")
        for f in missing:
            print(f"  {f}: {finished.keys[f] - finished.with_ttl[f]} keys, e.g. "
                  + ", ".join(finished.no_ttl_examples.get(f, [])))
    else:
        print("\nevery key describing a finished call has a TTL")
    unclassified = [r[0] for r in rows if r[5] == "review"]
    if unclassified:
        print("unclassified key families (add them to POLICY): " + ", ".join(unclassified))
    if any(still_queued.values()):
        print(f"finished callers still in a queue zset: {still_queued}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
