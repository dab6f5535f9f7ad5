"""Reconcilers: what a crash, an outage or a dead worker left behind, found and mended.

A promise never hangs on one job or one write. Each pass compares the stored state (and
Twilio's own records) with what must follow from it and the clock, mends the difference and
counts what it mended. Every pass is idempotent, so ``ivr reconcile`` may run every 30 s on
any number of machines:

* **spool**: this host's spooled voicemails and events, written into Redis once it answers;
* **tasks**: callback tasks whose release time has passed are released (their job lost,
  orphaned or stalled), and a task still open past its due time is noted once
  (``CALLBACKOVERDUE``), so a broken promise is an event a supervisor sees;
* **recordings**: voicemails at Twilio (``RecordVerb`` recordings of the last two days) with
  no task, because their callbacks never reached us or found neither Redis nor the spool,
  become tasks (``source=reconciled``);
* **jobs**: RQ's scheduled jobs overdue (a stalled scheduler), executions that stopped
  beating, and jobs a dead worker left in no queue or registry (``ivr.jobhealth``);
* **queues**: our record of who waits against Twilio's queue members: ghosts (callers who
  left while Redis was down) taken out, callers who joined then added (``ivr.live_reconcile``);
* **agents**: signed-in advisors whose agent-line call has ended at Twilio signed out (or put
  through wrap-up), as their lost status callback would have done.

It runs in its own process (``ivr reconcile --every 30``, supervised by ``ivr serve``), not as
an RQ job: it must keep working when RQ's scheduler is what stalled. Each run leaves a
heartbeat and per-pass counts in Redis (``HEALTH``), which ``/metrics`` reports.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError
from twilio.base.exceptions import TwilioException

from ivr import controls_store, jobhealth, live_reconcile, store, twilio_rest
from ivr.calendar import callback_window
from ivr.controls import effective_hours
from ivr.phone import check_caller_id, mask
from ivr.services import Ivr
from voicemail.tasks import (
    RECORDING_TASK,
    RELEASE_LIMIT,
    Voicemail,
    commit_release,
    note_overdue,
    release_due,
    save_voicemail,
)

log = logging.getLogger(__name__)

HEALTH = "{ivr}:reconcile"  # hash: last run's time, per-pass totals of what was mended
LOCK = "{ivr}:reconcile:lock"  # one run at a time across machines (the passes are idempotent)
RECORDINGS_LOOKBACK = 2 * 86400  # Twilio's recordings read back this far
RECORDINGS_GRACE = 600  # a recording this young may still be on its way to us


@dataclass(frozen=True)
class Mended:
    """What one pass found and mended; ``errors`` counts what it could not check."""

    fixed: int = 0
    errors: int = 0


Pass = Callable[[Ivr, float], Mended]


def spool_pass(ivr: Ivr, now: float) -> Mended:  # noqa: ARG001 - every pass takes the time
    """This host's spool into Redis (what a replay on the next call would do)."""
    return Mended(fixed=ivr.spool.drain())


def tasks_pass(ivr: Ivr, now: float) -> Mended:
    """Release every task past its release time; note, once, each one past its due time."""
    retention = ivr.config.events.retention_days
    released = 0
    while True:
        _, n = release_due(ivr.redis, now, retention)
        released += n
        if n < RELEASE_LIMIT:
            break
    overdue = note_overdue(ivr.redis, now, retention)
    if released or overdue:
        log.warning("reconcile: released %d callback task(s) past their release time; "
                    "%d task(s) newly overdue", released, overdue)
    return Mended(fixed=released + overdue)


def recordings_pass(ivr: Ivr, now: float) -> Mended:
    """Voicemails recorded at Twilio with no task become tasks."""
    client = _client()
    if client is None:
        return Mended()
    after = datetime.fromtimestamp(now - RECORDINGS_LOOKBACK, UTC)
    try:
        listed = [rec for rec in client.recordings.list(date_created_after=after, limit=5000)
                  if rec.source == "RecordVerb" and rec.status == "completed"
                  and rec.date_created.timestamp() <= now - RECORDINGS_GRACE]
    except TwilioException as exc:
        log.warning("reconcile: Twilio's recordings could not be listed: %s", exc)
        return Mended(errors=1)
    if not listed:
        return Mended()
    pipe = ivr.redis.pipeline(transaction=False)
    for rec in listed:
        pipe.exists(RECORDING_TASK.format(id=rec.sid))
        pipe.hmget(store.call_key(rec.call_sid), "caller", "dept", "relay", "answered_by")
    replies = pipe.execute()
    fixed = errors = 0
    for rec, known, facts in zip(listed, replies[::2], replies[1::2], strict=True):
        if known:
            continue
        caller, dept, relay, answered_by = (_text(x) for x in facts)
        if answered_by:
            continue  # a feedback comment after an advisor's call, not a voicemail
        try:
            vm = _recovered(ivr, client, rec, caller, dept, relay == "1")
        except TwilioException as exc:
            log.warning("reconcile: call %s of recording %s could not be read: %s",
                        rec.call_sid, rec.sid, exc)
            errors += 1
            continue
        if vm is None:
            continue
        left = datetime.fromtimestamp(vm.left_at, UTC)
        hours = effective_hours(ivr.hours, controls_store.load(ivr.redis))
        saved = save_voicemail(ivr.redis, vm, callback_window(left, hours),
                               ivr.config.events.retention_days)
        commit_release(ivr.batch(vm.call_sid, vm.number, now), ivr.callbacks, saved)
        if saved.outcome != "duplicate":
            fixed += 1
            log.warning("reconcile: voicemail %s of call %s from %s had no task; stored as "
                        "task %s", rec.sid, rec.call_sid, mask(vm.number or caller),
                        saved.task_id)
    return Mended(fixed=fixed, errors=errors)


def jobs_pass(ivr: Ivr, now: float) -> Mended:
    """RQ's side (``ivr.jobhealth``): scheduled jobs overdue (a stalled scheduler), executions
    that stopped beating, and jobs a dead worker left in no queue or registry."""
    queues = [ivr.callbacks.name, ivr.messages.name]
    found = jobhealth.repair(ivr.callbacks.connection, queues, now=now)
    return Mended(fixed=found.scheduled + found.abandoned + found.orphans)


def queues_pass(ivr: Ivr, now: float) -> Mended:
    """Our record of who waits against Twilio's queue members (``ivr.live_reconcile``)."""
    client = _client()
    if client is None:
        return Mended()
    found = live_reconcile.reconcile_queues(ivr.redis, client, ivr.config, now)
    return Mended(fixed=found.removed + found.added + found.takes_cleared, errors=found.errors)


def agents_pass(ivr: Ivr, now: float) -> Mended:
    """Signed-in advisors whose agent-line call has ended at Twilio move on as the status
    callback would have moved them (``ivr.live_reconcile``)."""
    client = _client()
    if client is None:
        return Mended()
    found = live_reconcile.reconcile_agents(ivr.redis, client, ivr.config, now)
    return Mended(fixed=found.signed_out + found.wrapped_up, errors=found.errors)


def _client() -> Any:
    """Twilio's REST client, or None where it is not configured (a local run: nothing to
    compare with, which is not an error)."""
    try:
        return twilio_rest.client()
    except twilio_rest.TwilioNotConfigured:
        return None


def _recovered(ivr: Ivr, client: Any, rec: Any, caller: str, dept: str,
               relay: bool) -> Voicemail | None:
    """The voicemail a recording stands for, from our call record or else Twilio's call;
    None for a recording on a call that is not a resident's (the agent line, outbound)."""
    config = ivr.config
    if not caller:
        call = client.calls(rec.call_sid).fetch()
        if (call.direction or "").startswith("outbound") or call.to in config.agents.line_numbers:
            return None
        caller = call._from or ""
        relay = caller in config.relay.caller_ids
    check = check_caller_id(caller, config.withheld_caller_ids)
    number = check.e164 or "" if check.callable and not relay else ""
    return Voicemail(
        call_sid=rec.call_sid, recording_id=rec.sid,
        recording_url=f"https://api.twilio.com/2010-04-01/Accounts/{rec.account_sid}"
                      f"/Recordings/{rec.sid}",
        duration=int(rec.duration or 0), recording_status="completed", number=number,
        relay=relay, department=config.department_id(dept or None),
        left_at=rec.date_created.timestamp(), source="reconciled")


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")


LOCAL: dict[str, Pass] = {"spool": spool_pass}  # this host's own: run on every machine
PASSES: dict[str, Pass] = {  # the shared state's: one machine at a time
    "tasks": tasks_pass,
    "recordings": recordings_pass,
    "jobs": jobs_pass,
    "queues": queues_pass,
    "agents": agents_pass,
}
# Seconds between runs of a pass, when longer than the run's own interval: listing two days
# of Twilio's recordings is paged REST work, and a recording is given 10 minutes anyway.
EVERY: dict[str, float] = {"recordings": 300}


def run_once(ivr: Ivr, now: float | None = None, *, lock_seconds: float = 20) -> dict[str, Mended]:
    """Every pass once: this host's (``LOCAL``) always, the shared ones (``PASSES``) unless
    another machine's run holds the lock (they are idempotent; the lock only saves work). A
    pass that fails is counted and the others still run; one with a longer period in
    ``EVERY`` runs only when that has passed. The heartbeat and totals go to ``HEALTH``."""
    now = time.time() if now is None else now
    results = _run(ivr, LOCAL, now, {})
    if lock_seconds and not ivr.redis.set(LOCK, f"{now:.3f}", nx=True,
                                          px=int(lock_seconds * 1000)):
        _record(ivr, results, now, heartbeat=False)
        return results
    last = {_text(k): _text(v) for k, v in ivr.redis.hgetall(HEALTH).items()}
    results |= _run(ivr, PASSES, now, last)
    _record(ivr, results, now, heartbeat=True)
    return results


def _run(ivr: Ivr, passes: dict[str, Pass], now: float,
         last: dict[str, str]) -> dict[str, Mended]:
    results: dict[str, Mended] = {}
    for name, fn in passes.items():
        ran_at = float(last.get(f"{name}:at") or 0)
        if name in EVERY and ran_at <= now < ran_at + EVERY[name]:
            continue
        try:
            results[name] = fn(ivr, now)
        except RedisError:
            raise  # nothing can be mended without Redis: the caller waits and tries again
        except Exception:  # noqa: BLE001 - one broken pass must not stop the others
            log.exception("reconcile: the %s pass failed", name)
            results[name] = Mended(errors=1)
    return results


def _record(ivr: Ivr, results: dict[str, Mended], now: float, *, heartbeat: bool) -> None:
    pipe = ivr.redis.pipeline(transaction=False)
    if heartbeat:
        pipe.hset(HEALTH, "at", f"{now:.3f}")
    for name, mended in results.items():
        pipe.hset(HEALTH, f"{name}:at", f"{now:.3f}")
        pipe.hincrby(HEALTH, f"{name}:fixed", mended.fixed)
        pipe.hincrby(HEALTH, f"{name}:errors", mended.errors)
    pipe.execute()


def health(r: Any) -> tuple[float | None, dict[str, Mended]]:
    """The last run's time and each pass's totals, for ``/metrics``."""
    raw = {_text(k): _text(v) for k, v in r.hgetall(HEALTH).items()}
    at = float(raw["at"]) if raw.get("at") else None
    names = {k.split(":")[0] for k in raw if k.endswith((":fixed", ":errors"))}
    return at, {n: Mended(int(raw.get(f"{n}:fixed", 0)), int(raw.get(f"{n}:errors", 0)))
                for n in sorted(names)}
