"""The advisors' pass of the live reconcile (``ivr.live_reconcile``): every signed-in
advisor's call against Twilio's."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

import redis
from redis.exceptions import WatchError
from twilio.rest import Client

from ivr import agents, events
from ivr.agents import State
from ivr.config import Config
from ivr.events import Event
from ivr.live_reconcile.calls import GRACE_SECONDS, REST_ERRORS, WATCH_TRIES, fetch_call

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AgentReconcile:
    """What ``reconcile_agents`` found and did."""

    checked: int = 0  # signed-in advisors whose call was looked up at Twilio
    signed_out: int = 0  # off the line: signed out
    wrapped_up: int = 0  # hung up mid-call: in wrap-up until it is over, then signed out
    pending: int = 0  # call ended too recently to judge, or wrap-up not over yet
    unlinked: int = 0  # signed in, but no call of theirs is known: left alone
    errors: int = 0  # Twilio REST failures: those advisors left alone


def reconcile_agents(r: redis.Redis, client: Client, config: Config, now: float, *,
                     grace: float = GRACE_SECONDS) -> AgentReconcile:
    """Move on every signed-in advisor whose call has ended at Twilio, as the agent line's
    status callback would have (``ivr.live_reconcile``)."""
    tally: Counter[str] = Counter()
    staff = [a for a in agents.all_agents(r) if a.state in agents.SIGNED_IN]
    pipe = r.pipeline(transaction=False)
    for agent in staff:
        pipe.get(agents.LINE_OF.format(id=agent.id))
    pipe.hgetall(agents.IDLE_LINE)
    *links, idle = pipe.execute()
    idle_lines = {k.decode(): v.decode() for k, v in idle.items()}
    for agent, link in zip(staff, links, strict=True):
        line = agents.line_of(agent, link.decode() if link else "", idle_lines.get(agent.id, ""))
        if not line:
            tally["unlinked"] += 1
            continue
        tally["checked"] += 1
        try:
            call = fetch_call(client, line)
        except REST_ERRORS as exc:
            tally["errors"] += 1
            log.warning("live reconcile: agent %s's call %s could not be read: %s", agent.id,
                        line, exc)
            continue
        if call.live:
            continue
        if call.ended_at is not None and call.ended_at > now - grace:
            tally["pending"] += 1  # its status callback may be on its way
            continue
        ended = call.ended_at if call.ended_at is not None else now
        tally[_line_ended(r, config, agent.id, line, ended, now)] += 1
    result = AgentReconcile(**{k: v for k, v in tally.items() if k in _AGENT_COUNTS})
    if result.signed_out or result.wrapped_up or result.errors:
        log.info("live reconcile of the advisors: %s", result)
    return result


_AGENT_COUNTS = frozenset(AgentReconcile.__dataclass_fields__)


def _text(raw: bytes | None) -> str:
    return raw.decode() if raw else ""


def _line_ended(r: redis.Redis, config: Config, agent_id: str, line: str, ended: float,
                now: float) -> str:
    """The advisor's call ``line`` ended at ``ended``: their state moves on as
    ``agents.after_line_end`` says, at that time, and if their wrap-up would be over by now,
    they are signed out as its job would have (at its end). Re-read under WATCH: nothing is
    written if they have moved on, or been linked to another call, since."""
    key, link_key = agents.AGENT.format(id=agent_id), agents.LINE_OF.format(id=agent_id)
    wrap_up = config.agents.wrap_up_seconds
    for _ in range(WATCH_TRIES):
        with r.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(key, link_key)
                raw = pipe.hgetall(key)
                link, idle = pipe.get(link_key), pipe.hget(agents.IDLE_LINE, agent_id)
                if not raw:
                    return "unchanged"  # removed meanwhile
                agent = agents.from_hash({k.decode(): v.decode() for k, v in raw.items()})
                if (agent.state not in agents.SIGNED_IN
                        or agents.line_of(agent, _text(link), _text(idle)) != line):
                    return "unchanged"  # moved on, or on another call now
                at = max(ended, agent.state_since)
                end = agents.after_line_end(agent, line, at)
                over = at + wrap_up
                if end.state is None and (end.wrap_up_since is None or over > now):
                    return "unchanged" if end.wrap_up_since is None else "pending"
                pipe.multi()
                moved = agent
                if end.state is not None:
                    moved = agents.set_state(
                        pipe, agent, end.state, at, reason=end.reason, reconciled=True,
                        call_sid="" if end.state is State.SIGNED_OUT else line)
                if end.completes_call:
                    events.add(pipe, events.fields(Event.COMPLETE_AGENT, line, at, None,
                                                   agent=agent_id, reconciled=True),
                               config.events.retention_days)
                if end.wrap_up_since is not None and over <= now:
                    moved = agents.set_state(pipe, moved, State.SIGNED_OUT, over,
                                             reason=agents.WRAP_UP_OVER_OFF_LINE,
                                             reconciled=True)
                agents.end_line(pipe, line)  # its late webhooks change nothing now
                pipe.execute()
            except WatchError:
                continue
        log.info("live reconcile: agent %s's call %s had ended; now %s", agent_id, line,
                 moved.state)
        return "signed_out" if moved.state is State.SIGNED_OUT else "wrapped_up"
    return "pending"
