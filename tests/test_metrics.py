"""/metrics: live figures from Redis in the Prometheus format, behind a token or loopback."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import time_machine
from conftest import DOWN_REDIS_URL
from prometheus_client.parser import text_string_to_metric_families
from rq import Queue, Worker
from rq.registry import FailedJobRegistry
from rq.scheduler import RQScheduler

from ivr import agents, store
from ivr.messaging import SEND_SMS
from voicemail.tasks import SCHEDULED, WORKLIST


def scrape(app, **kw) -> dict[tuple[str, tuple], float]:
    response = app.test_client().get("/metrics", **kw)
    assert response.status_code == 200, response.status_code
    out = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_live_figures(app, redis_client):
    now = time.time()
    redis_client.zadd(store.queue_key("council_tax"), {"CA1": now - 95, "CA2": now - 10})
    a = agents.add(redis_client, name="Sarah Jones", departments=["council_tax"], phone="",
                   role=agents.Role.AGENT, now=now)
    agents.set_state(redis_client, a, agents.State.AVAILABLE, now)
    redis_client.zadd(WORKLIST, {"CBa": now - 60, "CBb": now + 3600})
    redis_client.zadd(SCHEDULED, {"CBc": now + 86400})
    m = scrape(app)
    assert m[("ivr_redis_up", ())] == 1
    assert m[("ivr_queue_callers", (("department", "council_tax"),))] == 2
    assert m[("ivr_queue_callers", (("department", "housing"),))] == 0
    assert 94 <= m[("ivr_queue_oldest_wait_seconds", (("department", "council_tax"),))] <= 100
    assert m[("ivr_callbacks", (("status", "overdue"),))] == 1
    assert m[("ivr_callbacks", (("status", "due"),))] == 1
    assert m[("ivr_callbacks", (("status", "scheduled"),))] == 1
    assert m[("ivr_agents", (("state", "available"),))] == 1
    assert m[("ivr_agents", (("state", "signed_out"),))] == 0
    assert m[("ivr_spool_items", ())] == 0


@time_machine.travel("2026-12-01 10:00:00+00:00", tick=False)
def test_webhook_latency_is_observed(app, caller):
    before = scrape(app).get(("ivr_webhook_seconds_count", (("endpoint", "incoming.incoming"),)), 0)
    caller.ring()
    after = scrape(app)[("ivr_webhook_seconds_count", (("endpoint", "incoming.incoming"),))]
    assert after == before + 1


def test_redis_down_is_reported_not_raised(down_app):
    m = scrape(down_app)
    assert m[("ivr_redis_up", ())] == 0
    assert ("ivr_queue_callers", (("department", "council_tax"),)) not in m


def test_token_protects_metrics(app, monkeypatch):
    monkeypatch.setenv("IVR_METRICS_TOKEN", "s3cret")
    client = app.test_client()
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_without_a_token_only_loopback_may_scrape(app):
    client = app.test_client()
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.0.0.8"}).status_code == 403
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200


def test_the_reconciler_heartbeat_and_what_it_mended(app, redis_client):
    from ivr import reconcile

    m = scrape(app)
    assert ("ivr_reconcile_last_run_age_seconds", ()) not in m  # never ran
    now = time.time()
    reconcile.run_once(app.extensions["ivr"], now - 30, lock_seconds=0)
    m = scrape(app)
    assert 29 <= m[("ivr_reconcile_last_run_age_seconds", ())] <= 60
    assert m[("ivr_reconcile_mended_total", (("pass", "tasks"),))] == 0
    assert m[("ivr_reconcile_errors_total", (("pass", "spool"),))] == 0


def test_job_figures_show_workers_the_scheduler_and_stuck_jobs(app, redis_client):
    """A stalled scheduler shows as ivr_scheduler_up 0 with ivr_jobs_overdue rising; spent
    retries as ivr_jobs_failed; a dead worker as an old heartbeat, then ivr_workers 0."""
    now = time.time()
    m = scrape(app)
    assert m[("ivr_rq_redis_up", ())] == 1
    assert m[("ivr_workers", ())] == 0
    assert ("ivr_worker_heartbeat_age_seconds", ()) not in m
    assert m[("ivr_scheduler_up", (("queue", "callbacks"),))] == 0

    callbacks = Queue("callbacks", connection=redis_client)
    callbacks.enqueue_at(datetime.fromtimestamp(now - 300, UTC), SEND_SMS, "+447700900123",
                         "hello", "+441206282222")  # due 5 minutes ago: nobody moved it
    callbacks.enqueue_at(datetime.fromtimestamp(now - 30, UTC), SEND_SMS, "+447700900123",
                         "hello", "+441206282222")  # due, not yet overdue
    callbacks.enqueue(SEND_SMS, "+447700900123", "hello", "+441206282222")
    failed = callbacks.enqueue(SEND_SMS, "+447700900123", "hello", "+441206282222")
    FailedJobRegistry("callbacks", connection=redis_client).add(failed, exc_string="HTTP 500")
    worker = Worker([callbacks, Queue("messages", connection=redis_client)],
                    connection=redis_client)
    worker.register_birth()
    scheduler = RQScheduler(["callbacks"], connection=redis_client, name="metrics-test")
    scheduler.acquire_locks()
    scheduler.register_birth()

    m = scrape(app)
    assert m[("ivr_workers", ())] == 1
    assert 0 <= m[("ivr_worker_heartbeat_age_seconds", ())] < 10
    assert m[("ivr_scheduler_up", (("queue", "callbacks"),))] == 1
    assert m[("ivr_scheduler_up", (("queue", "messages"),))] == 0  # nobody holds its lock
    assert m[("ivr_jobs_overdue", (("queue", "callbacks"),))] == 1
    assert m[("ivr_jobs_overdue", (("queue", "messages"),))] == 0
    assert m[("ivr_jobs_queued", (("queue", "callbacks"),))] == 2
    assert m[("ivr_jobs_failed", (("queue", "callbacks"),))] == 1
    assert m[("ivr_jobs_failed", (("queue", "messages"),))] == 0

    with time_machine.travel(now + 90, tick=False):  # the scheduler has not beaten since
        m = scrape(app)
    assert m[("ivr_scheduler_up", (("queue", "callbacks"),))] == 0
    assert 89 <= m[("ivr_worker_heartbeat_age_seconds", ())] <= 100


def test_rq_on_a_redis_that_is_down_is_reported_not_raised(make_app, redis_client):
    m = scrape(make_app(RQ_REDIS_URL=DOWN_REDIS_URL))
    assert m[("ivr_redis_up", ())] == 1
    assert m[("ivr_rq_redis_up", ())] == 0
    assert ("ivr_workers", ()) not in m


PROXY_HEADERS = [{"X-Forwarded-For": "198.51.100.7"}, {"X-Forwarded-Proto": "https"},
                 {"Forwarded": "for=198.51.100.7;proto=https"}, {"X-Real-IP": "198.51.100.7"},
                 {"X-Forwarded-Host": "ivr.colchester.gov.uk"}]


@pytest.mark.parametrize("headers", PROXY_HEADERS, ids=lambda h: next(iter(h)))
def test_behind_a_proxy_loopback_is_not_enough(app, monkeypatch, headers):
    """Finding: behind a same-host TLS proxy every client is loopback. A proxy header means
    someone else's request came through one: without the token it is refused."""
    monkeypatch.delenv("IVR_METRICS_TOKEN", raising=False)
    client = app.test_client()
    loopback = {"REMOTE_ADDR": "127.0.0.1"}
    assert client.get("/metrics", headers=headers, environ_base=loopback).status_code == 403
    monkeypatch.setenv("IVR_METRICS_TOKEN", "s3cret")
    assert client.get("/metrics", headers=headers, environ_base=loopback).status_code == 403
    assert client.get("/metrics", headers=headers | {"Authorization": "Bearer s3cret"},
                      environ_base=loopback).status_code == 200


def test_published_behind_a_proxy_loopback_needs_the_token(make_app, monkeypatch):
    """PUBLIC_BASE_URL set: the app is published through a proxy, so even a request without
    proxy headers may have come through it."""
    monkeypatch.delenv("IVR_METRICS_TOKEN", raising=False)
    app = make_app(PUBLIC_BASE_URL="https://ivr.colchester.gov.uk")
    client = app.test_client()
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 403
    monkeypatch.setenv("IVR_METRICS_TOKEN", "s3cret")
    assert client.get("/metrics", headers={"Authorization": "Bearer s3cret"}).status_code == 200
