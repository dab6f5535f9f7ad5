"""The REST resources that touch live calls, served from the call engine (twilio.md §6).

``POST Calls.json`` starts an outbound call in the engine (it rings the ``To`` party and, once
answered, its ``Url`` or ``Twiml`` drives it); ``POST Calls/{CA}.json`` redirects or hangs up
a live call; ``Queues`` and ``Queues/{QU}/Members/{CA|Front}`` list queues and members and
dequeue a member to a new URL (its ``<Enqueue action>`` gets ``QueueResult=redirected``).
Answers are shaped like api.twilio.com's JSON so twilio-python parses them unchanged.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from twilio.http.response import Response

from ivr.sim.webhooks import rfc2822

if TYPE_CHECKING:
    from ivr.sim.engine import Engine
    from ivr.sim.legs import Leg
    from ivr.sim.queues import CallQueue, Member

_CALL = re.compile(r"Calls/(CA[0-9a-fA-F]{32})$")
_QUEUE = re.compile(r"Queues/(QU[0-9a-fA-F]{32})$")
_MEMBERS = re.compile(r"Queues/(QU[0-9a-fA-F]{32})/Members$")
_MEMBER = re.compile(r"Queues/(QU[0-9a-fA-F]{32})/Members/(CA[0-9a-fA-F]{32}|Front)$")


def _error(status: int, code: int, message: str) -> Response:
    return Response(status, json.dumps({"code": code, "message": message, "status": status,
                                        "more_info": f"https://www.twilio.com/docs/errors/{code}"}))


def _one(value: Any) -> str:
    return (value[0] if isinstance(value, list) else value) or ""


def call_json(engine: Engine, leg: Leg) -> dict[str, Any]:
    return {"sid": leg.sid, "account_sid": leg.account_sid, "to": leg.to, "from": leg.from_,
            "status": leg.status, "direction": leg.direction,
            "parent_call_sid": leg.parent.sid if leg.parent else None,
            "date_created": rfc2822(leg.created_at),
            "start_time": rfc2822(leg.answered_at) if leg.answered_at else None,
            "end_time": rfc2822(leg.ended_at) if leg.ended_at else None,
            "duration": str(leg.duration()) if leg.ended_at else None,
            "uri": f"/2010-04-01/Accounts/{leg.account_sid}/Calls/{leg.sid}.json"}


def queue_json(engine: Engine, q: CallQueue) -> dict[str, Any]:
    return {"sid": q.sid, "account_sid": engine.account_sid, "friendly_name": q.name,
            "current_size": q.size, "max_size": q.max_size,
            "average_wait_time": q.average_wait(engine.now), "date_created": rfc2822(q.created_at),
            "uri": f"/2010-04-01/Accounts/{engine.account_sid}/Queues/{q.sid}.json"}


def member_json(engine: Engine, m: Member) -> dict[str, Any]:
    return {"call_sid": m.leg.sid, "queue_sid": m.queue.sid, "position": m.queue.position(m),
            "wait_time": m.waited(engine.now), "date_enqueued": rfc2822(m.joined),
            "uri": f"/2010-04-01/Accounts/{engine.account_sid}/Queues/{m.queue.sid}/Members/"
                   f"{m.leg.sid}.json"}


def _page(key: str, items: list[dict[str, Any]], uri: str) -> Response:
    return Response(200, json.dumps({key: items, "uri": uri, "first_page_uri": uri, "page": 0,
                                     "page_size": 50, "start": 0, "end": max(0, len(items) - 1),
                                     "next_page_uri": None, "previous_page_uri": None}))


def handle(engine: Engine, method: str, rest: str, form: dict[str, Any]) -> Response | None:
    """Answer a request about calls or queues, or None if it is not one."""
    if rest == "Calls" and method == "POST":
        return _create_call(engine, form)
    if m := _CALL.fullmatch(rest):
        leg = engine.legs.get(m[1])
        if leg is None:
            return _error(404, 20404, f"The requested resource Calls/{m[1]} was not found")
        if method == "POST":
            return _update_call(engine, leg, form)
        return Response(200, json.dumps(call_json(engine, leg)))
    if rest == "Queues":
        if method == "POST":
            name = _one(form.get("FriendlyName"))
            if not name or len(name) > 64:
                return _error(400, 20001, "FriendlyName is required (at most 64 characters)")
            q = engine.queues.get(name)
            q.max_size = int(_one(form.get("MaxSize")) or q.max_size)
            return Response(201, json.dumps(queue_json(engine, q)))
        items = [queue_json(engine, q) for q in engine.queues.by_name.values()]
        return _page("queues", items, f"/2010-04-01/Accounts/{engine.account_sid}/Queues.json")
    if m := _QUEUE.fullmatch(rest):
        q = engine.queues.by_sid(m[1])
        return Response(200, json.dumps(queue_json(engine, q))) if q else _error(
            404, 20404, f"Queue {m[1]} not found")
    if m := _MEMBERS.fullmatch(rest):
        q = engine.queues.by_sid(m[1])
        if q is None:
            return _error(404, 20404, f"Queue {m[1]} not found")
        items = [member_json(engine, x) for x in q.members.values()]
        return _page("queue_members", items, f"/2010-04-01/Accounts/{engine.account_sid}/"
                                              f"Queues/{q.sid}/Members.json")
    if m := _MEMBER.fullmatch(rest):
        return _member(engine, m[1], m[2], method, form)
    return None


def _create_call(engine: Engine, form: dict[str, Any]) -> Response:
    to, from_ = _one(form.get("To")), _one(form.get("From"))
    if not to or not from_:
        return _error(400, 21201, "No 'To' or 'From' number is specified")
    url, twiml = _one(form.get("Url")), _one(form.get("Twiml")) or None
    if not (url or twiml):
        return _error(400, 21205, "Url parameter is required.")
    if twiml and len(twiml) > 4000:
        return _error(400, 32018, "Twiml is longer than 4000 characters")
    events = form.get("StatusCallbackEvent") or []
    events = events if isinstance(events, list) else str(events).split()
    leg = engine.outbound(
        to, from_, url, method=_one(form.get("Method")) or "POST", twiml=None if url else twiml,
        status_callback=_one(form.get("StatusCallback")),
        status_method=_one(form.get("StatusCallbackMethod")) or "POST",
        status_events=frozenset(events), fallback_url=_one(form.get("FallbackUrl")),
        timeout=float(_one(form.get("Timeout")) or 60))
    return Response(201, json.dumps(call_json(engine, leg)))


def _update_call(engine: Engine, leg: Leg, form: dict[str, Any]) -> Response:
    status = _one(form.get("Status"))
    url, twiml = _one(form.get("Url")), _one(form.get("Twiml")) or None
    if status in ("completed", "canceled"):
        engine.hangup(leg, "rest")
    elif url or twiml:
        if url and not url.startswith(("http://", "https://")):
            return _error(400, 21205, f"Url is not a valid URL: {url}")
        if not leg.live:
            return _error(400, 21220, "Call is not in-progress. Cannot redirect.")
        engine.redirect(leg, url, _one(form.get("Method")) or "POST", None if url else twiml)
    return Response(200, json.dumps(call_json(engine, leg)))


def _member(engine: Engine, queue_sid: str, who: str, method: str,
            form: dict[str, Any]) -> Response:
    q = engine.queues.by_sid(queue_sid)
    member = None
    if q is not None:
        member = q.front() if who == "Front" else q.members.get(who)
    if member is None:
        return _error(404, 20404, f"Member {who} not found in queue {queue_sid}")
    body = member_json(engine, member)
    if method == "POST":
        url = _one(form.get("Url"))
        if not url:
            return _error(400, 20001, "Url is required")
        engine.redirect(member.leg, url, _one(form.get("Method")) or "POST")
    return Response(200, json.dumps(body))
