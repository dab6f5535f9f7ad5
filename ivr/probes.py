"""What ``/livez``, ``/readyz`` and ``/healthz`` answer: a load balancer or systemd watchdog
must tell "this process is alive" from "this service can take calls end to end".

``ready`` needs Redis (the state), RQ's Redis, a worker whose heartbeat is fresh and a living
scheduler on every queue (``ivr.jobhealth``): without a worker no text is sent and no
recording deleted; without the scheduler no callback is released on time. The webhooks still
answer callers then (the fail-safe and the spool), so ``/livez`` stays 200.
"""

from __future__ import annotations

from typing import Any

from redis.exceptions import RedisError

from ivr import jobhealth

WORKER_STALE = 180.0  # s: a worker beats every minute (ivr.serve.WORKER_TTL); two misses


def redis_up(r: Any) -> bool:
    try:
        return bool(r.ping())
    except RedisError:
        return False


def ready(r: Any, rq: Any, queues: list[str], now: float) -> dict[str, Any]:
    """Each part's state, ``missing`` naming what is gone and ``ok`` when nothing is."""
    state = {"redis": redis_up(r), "rq_redis": False, "worker": False, "scheduler": False}
    try:
        health = jobhealth.read(rq, queues, now)
        state["rq_redis"] = True
        age = health.heartbeat_age
        state["worker"] = bool(health.workers) and age is not None and age <= WORKER_STALE
        state["scheduler"] = all(q.scheduler_up for q in health.queues.values())
    except RedisError:
        pass
    missing = [name for name, up in state.items() if not up]
    return {"ok": not missing, **state, "missing": missing}
