"""Stream ids come from the app's clock (the event's own ``ts``), never Redis's: one clock, so
reports, the wallboard and simulations agree with the times they were written at, and tests
that travel in time need no real date."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine

from ivr import events
from ivr.events import Event


def _ms(entry_id) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.split("-")[0])


def _add(r, call: str, ts: float, retention_days: int | None = None) -> None:
    pipe = r.pipeline(transaction=False)
    events.add(pipe, events.fields(Event.INCOMING, call, ts), retention_days)
    pipe.execute()


def test_an_event_is_stored_with_an_id_at_its_own_time(redis_client):
    ts = datetime(2031, 6, 2, 9, 30, 15, 250_000, tzinfo=UTC).timestamp()
    _add(redis_client, "CA1", ts)
    (entry_id, fields), = redis_client.xrange(events.STREAM)
    assert _ms(entry_id) == int(ts * 1000)
    assert events.decode(fields)["ts"] == ts


def test_an_event_written_out_of_order_takes_the_newest_id_never_an_earlier_one(redis_client):
    _add(redis_client, "CAlater", 2_000_000.0)
    _add(redis_client, "CAspooled", 1_000_000.0)  # replayed after Redis came back
    _add(redis_client, "CAsame", 2_000_000.0)
    ids = [(_ms(i), events.decode(f)["call"]) for i, f in redis_client.xrange(events.STREAM)]
    assert ids == [(2_000_000_000, "CAlater"), (2_000_000_000, "CAspooled"),
                   (2_000_000_000, "CAsame")]
    # the sequence grows within the millisecond
    raw = [i.decode() for i, _ in redis_client.xrange(events.STREAM)]
    assert raw == sorted(raw, key=lambda i: tuple(map(int, i.split("-")))) and len(set(raw)) == 3


def test_an_entry_deleted_at_the_top_still_orders_later_writes(redis_client):
    _add(redis_client, "CA1", 1_000.0)
    _add(redis_client, "CA2", 5_000.0)
    top = redis_client.xrevrange(events.STREAM, count=1)[0][0]
    redis_client.xdel(events.STREAM, top)
    _add(redis_client, "CA3", 3_000.0)  # earlier than the deleted top: takes its millisecond
    assert [_ms(i) for i, _ in redis_client.xrange(events.STREAM)] == [1_000_000, 5_000_000]


def test_the_retention_trims_by_the_events_own_time(redis_client):
    day = 86_400.0
    for i in range(300):  # more than one radix-tree node, so an approximate trim can act
        _add(redis_client, f"CAold{i}", 1_000 * day + i)
    _add(redis_client, "CAnew", 1_400 * day, retention_days=100)
    calls = [events.decode(f)["call"] for _, f in redis_client.xrange(events.STREAM)]
    assert calls[-1] == "CAnew" and len(calls) < 301


def test_a_webhook_in_virtual_time_writes_ids_in_virtual_time(app, redis_client, make_caller):
    when = datetime(2033, 3, 1, 10, 0, tzinfo=UTC)  # a Tuesday, years past any real "today"
    with time_machine.travel(when, tick=False):
        make_caller().post("/voice/incoming")
    found = redis_client.xrange(events.STREAM)
    assert found
    assert {_ms(i) for i, _ in found} == {int(when.timestamp() * 1000)}


def test_a_batch_and_a_queue_leave_write_ids_at_the_webhooks_time(redis_client, tmp_path):
    """The request's events (one script call) and the leave script's own event: the same
    clock, and the leave (written after a later event) never goes before the newest id."""
    from ivr import store
    from ivr.spool import Spool

    def batch(now: float) -> store.Batch:
        return store.Batch(redis_client, Spool(tmp_path), call_sid="CAq", caller="+447911123456",
                           now=now, retention_days=400, keep_calls=3600)

    b = batch(2_000_000_000.0)
    b.event(Event.INCOMING).event(Event.ENTER_QUEUE, "housing")
    assert b.commit("test") is not None
    b = batch(2_000_000_060.5)
    store.leave_queue(b, "housing", "hangup", 60, Event.ABANDON)
    assert b.commit("test") is not None
    b = batch(1_999_999_999.0)  # a second web server a second behind
    store.leave_queue(b, "housing", "hangup", 60, Event.ABANDON)  # a repeat: ignored
    b.event(Event.CALL_END)
    assert b.commit("test") is not None
    found = [(_ms(i), events.decode(f)["event"]) for i, f in redis_client.xrange(events.STREAM)]
    assert found == [(2_000_000_000_000, "INCOMING"), (2_000_000_000_000, "ENTERQUEUE"),
                     (2_000_000_060_500, "ABANDON"), (2_000_000_060_500, "CALLEND")]
