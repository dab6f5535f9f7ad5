"""Flat cost as queues grow: the waitUrl and taking the next caller with 10, 1,000, 10,000 queued.

In-process (Flask test client, signed requests, real Redis on the bench database). Each size
gets its own department queue, filled directly as ``flows/queue.py`` ``add_enqueue`` leaves
it: the zset ``ivr:queue:<dept>`` (CallSid -> time entered), each caller's ``ivr:call:<sid>``
hash with its TTL, and their recent-calls zset. Each department has one available agent
(serving only that department) on a linked agent-line call.

  wait  POST /voice/queue/<dept>/wait  as the last caller (QueuePosition = queue size)
  take  POST /agent/take               that department's agent takes the longest-waiting caller

``/agent/take`` only picks and bridges (the caller leaves the zset when ``/agent/introduce``
runs), so every repetition sees the same queue. The sizes are interleaved request by request,
in a shuffled order each repetition, so drift on a noisy machine hits every size alike.
Prints the median (and p90) per size and the largest/smallest median ratio (target < 1.5).
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time

import _common as c

DEPARTMENTS = ["council_tax", "benefits", "street_care", "housing", "general"]
TARGET_RATIO = 1.5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    c.redis_arg(parser)
    parser.add_argument("--sizes", default="10,1000,10000",
                        help="callers queued, comma separated, up to 5 (default %(default)s)")
    parser.add_argument("--reps", type=int, default=1000,
                        help="requests per endpoint per size (default %(default)s)")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    c.exit_on_sigterm()
    sizes = sorted({int(x) for x in args.sizes.split(",")})
    if (not sizes or len(sizes) > len(DEPARTMENTS) or sizes[0] < 1 or sizes[-1] > 100_000
            or not 10 <= args.reps <= 20_000):
        sys.exit("keep it bounded: 1-5 sizes in 1..100000, --reps 10..20000")

    rng = random.Random(args.seed)
    r = c.bench_redis(args.redis_url)
    try:
        app = c.make_app(args.redis_url)
        ivr = app.extensions["ivr"]
        now = time.time()
        print(c.machine(r))
        print(f"hours: {c.hours_note(ivr.config)}")
        client = c.Signed(app)
        setups = []  # (size, dept, wait url, wait params, take params)
        for k, (size, dept) in enumerate(zip(sizes, DEPARTMENTS, strict=False)):
            _, agent_sid = c.sign_in_agent(r, [dept], now, phone=f"+4479119990{k:02d}")
            c.add_answers(r, dept, now)
            c.fill_queue(r, dept, 0, size, now)
            assert r.zcard(f"{{ivr}}:queue:{dept}") == size
            take = c.standard(agent_sid, f"+4479119990{k:02d}", to=c.AGENT_LINE)
            take |= {"Digits": "1", "FinishedOnKey": ""}
            wait = c.standard(c.new_sid(), c.mobile(size)) | {
                "QueueSid": "QU" + "1" * 32, "QueueTime": "30", "QueuePosition": str(size),
                "AvgQueueTime": "45", "CurrentQueueSize": str(size), "MaxQueueSize": "100",
            }
            setups.append((size, dept, f"/voice/queue/{dept}/wait", wait, take))
            status, body = client.post("/agent/take", take)
            if status != 200 or "<Queue" not in body:
                sys.exit(f"/agent/take did not bridge ({dept}): {status} {body[:300]}")
        print("queued: " + ", ".join(f"{s:,} in {d}" for s, d, *_ in setups), flush=True)

        def one(setup) -> tuple[float, float]:
            size, dept, wait_url, wait, take = setup
            t0 = time.perf_counter()
            s1, b1 = client.post(wait_url, wait)
            t1 = time.perf_counter()
            s2, b2 = client.post("/agent/take", take)
            t2 = time.perf_counter()
            if s1 != 200 or s2 != 200 or "<Queue" not in b2:
                sys.exit(f"bad answer ({size} in {dept}): {s1} {b1[:200]} / {s2} {b2[:200]}")
            return t1 - t0, t2 - t1

        for _ in range(args.warmup):
            for setup in setups:
                one(setup)
        samples = {size: ([], []) for size in sizes}
        gc.collect()
        started = time.perf_counter()
        for rep in range(args.reps):
            order = setups[:]
            rng.shuffle(order)
            for setup in order:
                w, t = one(setup)
                samples[setup[0]][0].append(w)
                samples[setup[0]][1].append(t)
            if (rep + 1) % max(1, args.reps // 4) == 0:
                print(f"  {rep + 1}/{args.reps} repetitions "
                      f"({time.perf_counter() - started:.0f}s)", flush=True)
        for size, dept, *_ in setups:  # taking never dequeues: the queues are as filled
            assert r.zcard(f"{{ivr}}:queue:{dept}") == size
    finally:
        r.flushdb()

    rows = []
    for size in sizes:
        w, t = samples[size]
        rows.append([f"{size:,}", len(w), f"{c.median(w) * 1e3:.3f}",
                     f"{c.percentile(w, 90) * 1e3:.3f}", f"{c.median(t) * 1e3:.3f}",
                     f"{c.percentile(t, 90) * 1e3:.3f}"])
    print()
    print(c.table(["callers queued", "reps", "wait median ms", "wait p90 ms",
                   "take median ms", "take p90 ms"], rows))
    for k, name in enumerate(("wait", "take")):
        medians = [c.median(samples[s][k]) for s in sizes]
        ratio = max(medians) / min(medians)
        verdict = "ok" if ratio < TARGET_RATIO else "ABOVE TARGET"
        print(f"{name}: largest/smallest median = {ratio:.2f} "
              f"(target < {TARGET_RATIO}: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
