"""``GET /metrics`` for operations, in the Prometheus text format.

Live figures (queues, oldest wait, agents by state, callbacks due and overdue) are read from
Redis at scrape time by ``ivr.report.live.read_now`` (the same function the console's live view
and the wallboard use), so every web process reports the same numbers; the spool size is this
host's. The jobs' figures (workers' heartbeats, the scheduler, overdue and failed jobs) are read
from RQ's Redis through RQ's API (``ivr.jobhealth.read``), so a stalled scheduler or a dead
worker shows. Webhook latency and Redis errors are counted per process; set
``PROMETHEUS_MULTIPROC_DIR`` to aggregate them across gunicorn workers (prometheus-client's
multiprocess mode).

Access: with ``IVR_METRICS_TOKEN`` set, a request must carry ``Authorization: Bearer <token>``.
Without it, a loopback client may scrape only when nothing says a proxy is in between: no
proxy header (``X-Forwarded-For``, ``-Proto``, ``-Host``, ``Forwarded``, ``X-Real-IP``) and no
``PUBLIC_BASE_URL`` (which means the app is published through one). Behind a reverse proxy on
the same host every client's socket address is loopback, so the address alone proves nothing.
"""

from __future__ import annotations

import hmac
import os
import time

from flask import Flask, Response, abort, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from redis.exceptions import RedisError

from ivr import jobhealth, reconcile
from ivr.report import live as report_live

WEBHOOK_LATENCY = Histogram(
    "ivr_webhook_seconds", "Time to answer a Twilio webhook", ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15),
)
REDIS_ERRORS = Counter("ivr_redis_errors_total", "Redis operations that failed", ["where"])


def count_redis_error(where: str) -> None:
    """A request's Redis commit failed (``store.Batch``'s ``on_error``, set by the factory)."""
    REDIS_ERRORS.labels(where).inc()


class LiveCollector:
    """Figures read from Redis when scraped (shared by every process)."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self):
        now = time.time()
        yield from self.collect_live(now)
        yield from self.collect_jobs(now)

    def collect_live(self, now: float):
        ivr = self.app.extensions["ivr"]
        r = ivr.redis
        up = GaugeMetricFamily("ivr_redis_up", "1 if Redis answered this scrape")
        spool = GaugeMetricFamily("ivr_spool_items", "Items waiting on disk for Redis")
        spool.add_metric([], ivr.spool.size())
        try:
            depts = list(ivr.config.departments)
            live = report_live.read_now(r, depts, now)
        except RedisError:
            REDIS_ERRORS.labels("metrics").inc()
            up.add_metric([], 0)
            yield from (up, spool)
            return
        up.add_metric([], 1)
        waiting = GaugeMetricFamily("ivr_queue_callers", "Callers waiting", labels=["department"])
        oldest = GaugeMetricFamily("ivr_queue_oldest_wait_seconds",
                                   "Wait of the longest-waiting caller", labels=["department"])
        for dept, queue in live.queues.items():
            waiting.add_metric([dept], queue.waiting)
            oldest.add_metric([dept], queue.longest)
        backlog = live.backlog()
        callbacks = GaugeMetricFamily("ivr_callbacks", "Open callback tasks", labels=["status"])
        callbacks.add_metric(["overdue"], backlog.overdue)
        callbacks.add_metric(["due"], backlog.due)
        callbacks.add_metric(["scheduled"], backlog.scheduled)
        by_state = GaugeMetricFamily("ivr_agents", "Agents by state", labels=["state"])
        for state, count in report_live.by_state(live.agents).items():
            by_state.add_metric([state.value], count)
        yield from (up, spool, waiting, oldest, callbacks, by_state)
        yield from _reconcile_metrics(r, now)

    def collect_jobs(self, now: float):
        """RQ's side: a separate Redis when ``RQ_REDIS_URL`` is set, so reported apart."""
        ivr = self.app.extensions["ivr"]
        names = [ivr.callbacks.name, ivr.messages.name]
        up = GaugeMetricFamily("ivr_rq_redis_up", "1 if RQ's Redis answered this scrape")
        try:
            health = jobhealth.read(ivr.callbacks.connection, names, now)
        except RedisError:
            REDIS_ERRORS.labels("metrics-rq").inc()
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        workers = GaugeMetricFamily("ivr_workers", "RQ workers registered on the queues")
        workers.add_metric([], health.workers)
        yield from (up, workers)
        if health.heartbeat_age is not None:
            age = GaugeMetricFamily("ivr_worker_heartbeat_age_seconds",
                                    "Seconds since the freshest RQ worker heartbeat")
            age.add_metric([], health.heartbeat_age)
            yield age
        scheduler = GaugeMetricFamily(
            "ivr_scheduler_up", "1 if a scheduler holds the queue and beat in the last "
            f"{jobhealth.SCHEDULER_STALE:.0f} s", labels=["queue"])
        queued = GaugeMetricFamily("ivr_jobs_queued", "Jobs waiting for a worker",
                                   labels=["queue"])
        overdue = GaugeMetricFamily(
            "ivr_jobs_overdue", "Scheduled jobs whose time passed more than "
            f"{jobhealth.OVERDUE_AFTER:.0f} s ago", labels=["queue"])
        failed = GaugeMetricFamily("ivr_jobs_failed", "Jobs in RQ's failed registry",
                                   labels=["queue"])
        beat = GaugeMetricFamily(
            "ivr_scheduler_heartbeat_age_seconds", "Seconds since the scheduler holding the "
            "queue beat (absent: none holds it)", labels=["queue"])
        by_function = GaugeMetricFamily(
            "ivr_jobs_failed_by_function", "Jobs in RQ's failed registry by job function "
            "(a text, a recording deletion or an offer that failed)", labels=["queue", "function"])
        for name, q in health.queues.items():
            scheduler.add_metric([name], int(q.scheduler_up))
            queued.add_metric([name], q.queued)
            overdue.add_metric([name], q.overdue)
            failed.add_metric([name], q.failed)
            if q.scheduler_age is not None:
                beat.add_metric([name], q.scheduler_age)
            for function, count in sorted((q.failed_by_function or {}).items()):
                by_function.add_metric([name, function], count)
        yield from (scheduler, beat, queued, overdue, failed, by_function)


def _reconcile_metrics(r, now: float):
    """The reconciler's heartbeat and what each pass has mended (``ivr.reconcile.HEALTH``):
    an age that keeps growing means nothing is mending what a crash leaves behind."""
    try:
        at, totals = reconcile.health(r)
    except RedisError:
        REDIS_ERRORS.labels("metrics").inc()
        return
    age = GaugeMetricFamily("ivr_reconcile_last_run_age_seconds",
                            "Seconds since the reconciler last ran (absent: never)")
    if at is not None:
        age.add_metric([], max(0.0, now - at))
    mended = CounterMetricFamily("ivr_reconcile_mended", "What each reconcile pass mended",
                                 labels=["pass"])
    errors = CounterMetricFamily("ivr_reconcile_errors", "What a reconcile pass could not check",
                                 labels=["pass"])
    for name, found in totals.items():
        mended.add_metric([name], found.fixed)
        errors.add_metric([name], found.errors)
    yield from (age, mended, errors)

PROXY_HEADERS = ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded",
                 "X-Real-IP")
LOOPBACK = ("127.0.0.1", "::1")


def _allowed(public_base_url: str) -> bool:
    """The bearer token when one is set; else loopback, only when no proxy can be in between."""
    token = os.environ.get("IVR_METRICS_TOKEN", "")
    if token:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    proxied = bool(public_base_url) or any(h in request.headers for h in PROXY_HEADERS)
    return not proxied and request.remote_addr in LOOPBACK


def init_app(app: Flask, webhook_blueprints: set[str]) -> None:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(WEBHOOK_LATENCY)
        registry.register(REDIS_ERRORS)
    registry.register(LiveCollector(app))

    @app.before_request
    def _start_timer() -> None:
        g.ivr_started = time.perf_counter()

    @app.after_request
    def _observe(response):
        if request.blueprint in webhook_blueprints and hasattr(g, "ivr_started"):
            WEBHOOK_LATENCY.labels(request.endpoint or "?").observe(
                time.perf_counter() - g.ivr_started)
        return response

    @app.get("/metrics")
    def metrics():
        """Prometheus scrape endpoint (the token, or loopback with no proxy in between)."""
        if not _allowed(app.extensions["ivr"].public_base_url):
            abort(403)
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
