"""The queues' pass of the live reconcile (``ivr.live_reconcile``): Twilio's queue members
against our record of who waits."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

import redis
from redis.exceptions import WatchError
from twilio.rest import Client

from ivr import agents, events, store
from ivr.config import Config
from ivr.events import Event
from ivr.hold import LeaveReason
from ivr.live_reconcile.calls import GRACE_SECONDS, REST_ERRORS, WATCH_TRIES, CallState, fetch_call

log = logging.getLogger(__name__)

PAGE_SIZE = 1000  # Twilio's largest page: one request per queue up to 1000 members


@dataclass(frozen=True)
class QueueReconcile:
    """What ``reconcile_queues`` found and did."""

    checked: int = 0  # callers compared (in Twilio's queues, our record, or both)
    removed: int = 0  # ghosts taken out of our record
    abandoned: int = 0  # of those, hung up while queuing (ABANDON with their wait)
    added: int = 0  # callers waiting at Twilio added to our record (ENTERQUEUE)
    takes_cleared: int = 0  # take markers held by an agent-line call that had ended
    pending: int = 0  # differences too recent to judge, left for a later pass
    errors: int = 0  # Twilio REST failures: what they concerned is unknown, left alone


# -- decisions (pure) --------------------------------------------------------------------------


def ghost_exit(entered: float, call: CallState, now: float, *, limit: float,
               grace: float = GRACE_SECONDS) -> tuple[LeaveReason, int, float] | None:
    """How a caller in our record but no longer in Twilio's queue left it: (reason, seconds
    waited, when), or None while it is too soon to say (their webhook may be on its way).

    ``limit`` is the most a caller can queue (``voicemail_after + max_overrun``: the waitUrl
    takes them out by then, Redis or not). A call that ended within it of entering was a
    hang-up in the queue. Otherwise (still on the line, ended later, or unknown to Twilio)
    they left the queue by ``entered + limit``, answered or to voicemail: we cannot tell
    which, so it is recorded as our closed set records the unknown, an error."""
    if entered > now - grace:
        return None
    if call.ended_at is not None:
        if call.ended_at > now - grace:
            return None
        if call.ended_at - entered <= limit:
            return LeaveReason.HUNG_UP, max(0, round(call.ended_at - entered)), call.ended_at
    elif entered > now - limit - grace:
        return None
    return LeaveReason.ERROR, round(limit), entered + limit


def enqueued_at(member: Any, now: float) -> float:
    """When Twilio enqueued a queue member (its ``date_enqueued``, else from ``wait_time``)."""
    if member.date_enqueued is not None:
        return member.date_enqueued.timestamp()
    return now - (member.wait_time or 0)


# -- the pass ----------------------------------------------------------------------------------

_EXITS = {LeaveReason.HUNG_UP: Event.ABANDON, LeaveReason.ERROR: Event.EXIT_ERROR}


def reconcile_queues(r: redis.Redis, client: Client, config: Config, now: float, *,
                     grace: float = GRACE_SECONDS) -> QueueReconcile:
    """Make our record of each department queue agree with Twilio's members
    (``ivr.live_reconcile``); a department whose members cannot be listed is left as it is."""
    tally: Counter[str] = Counter()
    try:
        sids = {q.friendly_name: q.sid for q in client.queues.list(page_size=PAGE_SIZE)}
    except REST_ERRORS as exc:
        log.warning("live reconcile: Twilio's queues could not be listed: %s", exc)
        return QueueReconcile(errors=1)
    members: dict[str, dict[str, Any]] = {}
    for dept, department in config.departments.items():
        sid = sids.get(department.queue)
        if sid is None:  # Twilio makes a queue at its first <Enqueue>: nobody waits in it
            members[dept] = {}
            continue
        try:
            members[dept] = {m.call_sid: m for m in
                             client.queues(sid).members.list(page_size=PAGE_SIZE)}
        except REST_ERRORS as exc:
            tally["errors"] += 1
            log.warning("live reconcile: queue %s could not be read: %s", department.queue, exc)
    # Our record is read after Twilio's: a caller joining in between is in ours only, and too
    # recent to judge; one leaving in between is in Twilio's only, and found gone when added.
    pipe = r.pipeline(transaction=False)
    for dept in members:
        pipe.zrange(store.queue_key(dept), 0, -1, withscores=True)
    for dept in config.departments:
        pipe.get(agents.TAKING.format(dept=dept))
    replies = pipe.execute()
    records, markers = replies[:len(members)], replies[len(members):]
    for dept, ours in zip(members, records, strict=True):
        waiting = {sid.decode(): float(score) for sid, score in ours}
        theirs = members[dept]
        tally["checked"] += len(waiting.keys() | theirs.keys())
        for sid, entered in waiting.items():
            if sid not in theirs:
                outcome = _remove_ghost(r, client, config, dept, sid, entered, now, grace)
                tally[outcome] += 1
                tally["removed"] += outcome == "abandoned"  # a hang-up is a ghost removed too
        for sid, member in theirs.items():
            if sid not in waiting:
                tally[_add_missing(r, client, config, dept, sid, member, now, grace)] += 1
    for dept, holder in zip(config.departments, markers, strict=True):
        if holder:
            tally[_clear_take(r, client, dept, holder.decode())] += 1
    result = QueueReconcile(**{k: v for k, v in tally.items() if k in _QUEUE_COUNTS})
    if result.removed or result.added or result.takes_cleared or result.errors:
        log.info("live reconcile of the queues: %s", result)
    return result


_QUEUE_COUNTS = frozenset(QueueReconcile.__dataclass_fields__)


def _remove_ghost(r: redis.Redis, client: Client, config: Config, dept: str, sid: str,
                  entered: float, now: float, grace: float) -> str:
    """A caller in our record of ``dept`` who is not in Twilio's queue."""
    if entered > now - grace:
        return "pending"
    try:
        call = fetch_call(client, sid)
    except REST_ERRORS as exc:
        log.warning("live reconcile: call %s (queued in %s) could not be read: %s", sid, dept,
                    exc)
        return "errors"
    q = config.queue
    exit_ = ghost_exit(entered, call, now, limit=q.voicemail_after + q.max_overrun, grace=grace)
    if exit_ is None:
        return "pending"
    reason, waited, at = exit_
    ev = events.fields(_EXITS[reason], sid, at, dept, reason=reason, wait=waited,
                       reconciled=True, call_status=call.status)
    if store.record_leave(r, ev, config.events.retention_days,
                          config.callbacks.keep_finished_calls):
        log.info("live reconcile: call %s left %s unrecorded (%s, %s s)", sid, dept, reason,
                 waited)
        return "abandoned" if reason is LeaveReason.HUNG_UP else "removed"
    # Their leaving was recorded meanwhile (a late webhook, another pass), or long ago while
    # our queue still lists them: only the listing is left to put right.
    return "removed" if r.zrem(store.queue_key(dept), sid) else "unchanged"


def _add_missing(r: redis.Redis, client: Client, config: Config, dept: str, sid: str,
                 member: Any, now: float, grace: float) -> str:
    """A caller in Twilio's queue for ``dept`` who is not in our record: added with the time
    Twilio enqueued them, and the number they rang from (for the whisper) if we lack it."""
    since = enqueued_at(member, now)
    if since > now - grace:
        return "pending"
    key = store.call_key(sid)
    number = ""
    if not r.hexists(key, "caller"):
        try:
            call = fetch_call(client, sid)
        except REST_ERRORS as exc:
            log.warning("live reconcile: call %s (waiting in %s) could not be read: %s", sid,
                        dept, exc)
            return "errors"
        if not call.live:
            return "unchanged"  # gone since the member list: their webhooks tell the rest
        number = call.from_
    for _ in range(WATCH_TRIES):
        with r.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(key)  # every write about the caller's queueing writes their call
                left, entered, known = pipe.hmget(key, "left_reason", "queue_entered_at",
                                                  "caller")
                if left or pipe.zscore(store.queue_key(dept), sid) is not None:
                    return "unchanged"  # left meanwhile (or long ago), or added meanwhile
                score = float(entered) if entered else since
                facts = {"dept": dept, "queue_entered_at": f"{score:.3f}"}
                if number and not known:
                    facts["caller"] = number
                pipe.multi()
                pipe.zadd(store.queue_key(dept), {sid: score}, nx=True)
                pipe.hset(key, mapping=facts)
                pipe.expire(key, config.callbacks.keep_finished_calls)
                if not entered:  # else their ENTERQUEUE was written with it
                    events.add(pipe, events.fields(Event.ENTER_QUEUE, sid, since, dept,
                                                   reconciled=True),
                               config.events.retention_days)
                pipe.execute()
            except WatchError:
                continue
        log.info("live reconcile: call %s waiting in %s since %.0f was missing; added", sid,
                 dept, score)
        return "added"
    return "pending"


def _clear_take(r: redis.Redis, client: Client, dept: str, holder: str) -> str:
    """A take marker (``agents.TAKING``) held by an agent-line call that has ended protects
    no whisper: cleared, so the next advisor need not wait for it to lapse. One held by a live
    call is kept even if its whisper named a ghost: its ``<Dial><Queue>`` bridges the real
    front caller, whom the marker keeps other advisors' whispers from describing."""
    try:
        call = fetch_call(client, holder)
    except REST_ERRORS as exc:
        log.warning("live reconcile: agent-line call %s (taking from %s) could not be read: %s",
                    holder, dept, exc)
        return "errors"
    if call.live:
        return "unchanged"
    return "takes_cleared" if agents.release_taking(r, dept, holder) else "unchanged"
