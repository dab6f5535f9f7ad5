"""The live controls (``ivr.controls``) in Redis: one hash, read in one round trip per call.

``{ivr}:controls`` holds one field per control, its value JSON: ``closure:<id>``,
``announcement:<id>``, ``emergency`` and ``queue:<department>``. Every change is written with
its audit entry in one transaction (``ivr.audit``: who set or cleared what, and the message),
so the trail and the controls never disagree. Ended closures and announcements are ignored
when read and deleted by the next change. An unreadable field is skipped with a warning, so
one bad value never stops the calls.
"""

from __future__ import annotations

import json
import logging
import secrets
from datetime import UTC, datetime
from typing import Any

from ivr import audit
from ivr.audit import Action
from ivr.controls import (
    Announcement,
    Closure,
    Controls,
    Emergency,
    EmergencyMode,
    QueueClosed,
    over,
)

log = logging.getLogger(__name__)

KEY = "{ivr}:controls"


def new_id() -> str:
    """A short id for a closure or announcement (shown on the page, typed at the CLI)."""
    return secrets.token_hex(3)


def _ts(d: datetime | None) -> float | None:
    return None if d is None else round(d.timestamp(), 3)


def _dt(value: Any) -> datetime:
    return datetime.fromtimestamp(float(value), UTC)


def load(r: Any) -> Controls:
    """Every control stored (one HGETALL)."""
    return parse(r.hgetall(KEY))


def parse(raw: dict) -> Controls:
    """The controls from the hash's fields (bytes or str)."""
    closures, announcements, queues = [], [], {}
    emergency = None
    for k, v in raw.items():
        name = k.decode() if isinstance(k, bytes) else k
        try:
            data = json.loads(v)
            kind, _, ident = name.partition(":")
            if kind == "closure":
                closures.append(Closure(ident, _dt(data["start"]), _dt(data["end"]),
                                        data["message"], bool(data.get("whole_day")),
                                        data.get("set_by", "")))
            elif kind == "announcement":
                announcements.append(Announcement(ident, data["message"], _dt(data["start"]),
                                                  _dt(data["end"]), data.get("department", ""),
                                                  data.get("set_by", "")))
            elif kind == "emergency":
                emergency = Emergency(EmergencyMode(data["mode"]), data["message"],
                                      _dt(data["since"]), data.get("set_by", ""))
            elif kind == "queue":
                queues[ident] = QueueClosed(ident, data.get("message", ""),
                                            _dt(data["since"]), data.get("set_by", ""))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("live controls: field %s unreadable, ignored: %s", name[:60], exc)
    closures.sort(key=lambda c: (c.start, c.id))
    announcements.sort(key=lambda a: (a.start, a.id))
    return Controls(tuple(closures), tuple(announcements), emergency, queues)


def _write(r: Any, actor: str, action: Action, target: str, now: float,
           retention_days: int | None, *, put: dict[str, Any] | None = None,
           drop: tuple[str, ...] = (), **detail: Any) -> bool:
    """Set or delete fields with the audit entry, in one transaction; ended closures and
    announcements go too. True if a field was changed."""
    ended_closures, ended_announcements = over(load(r), datetime.fromtimestamp(now, UTC))
    stale = [f"closure:{i}" for i in ended_closures] + [
        f"announcement:{i}" for i in ended_announcements]
    pipe = r.pipeline(transaction=True)
    if put:
        pipe.hset(KEY, mapping={k: json.dumps(v, sort_keys=True) for k, v in put.items()})
    if drop:
        pipe.hdel(KEY, *drop)
    if stale:
        pipe.hdel(KEY, *stale)
    audit.record(pipe, actor, action, target, now=now, retention_days=retention_days,
                 **detail)
    replies = pipe.execute()
    return bool(put) or bool(drop and replies[1 if put else 0])


def put_closure(r: Any, c: Closure, actor: str, now: float, retention_days: int | None) -> None:
    _write(r, actor, Action.CONTROL_SET, f"closure:{c.id}", now, retention_days,
           put={f"closure:{c.id}": {"start": _ts(c.start), "end": _ts(c.end),
                                    "message": c.message, "whole_day": c.whole_day,
                                    "set_by": actor}},
           kind="closure", start=c.start.isoformat(), end=c.end.isoformat(),
           whole_day=c.whole_day, message=c.message)


def put_announcement(r: Any, a: Announcement, actor: str, now: float,
                     retention_days: int | None) -> None:
    _write(r, actor, Action.CONTROL_SET, f"announcement:{a.id}", now, retention_days,
           put={f"announcement:{a.id}": {"start": _ts(a.start), "end": _ts(a.end),
                                         "message": a.message, "department": a.department,
                                         "set_by": actor}},
           kind="announcement", start=a.start.isoformat(), end=a.end.isoformat(),
           department=a.department or "all", message=a.message)


def set_emergency(r: Any, e: Emergency, actor: str, now: float,
                  retention_days: int | None) -> None:
    _write(r, actor, Action.CONTROL_SET, "emergency", now, retention_days,
           put={"emergency": {"mode": str(e.mode), "message": e.message,
                              "since": _ts(e.since), "set_by": actor}},
           kind="emergency", mode=str(e.mode), message=e.message)


def close_queue(r: Any, q: QueueClosed, actor: str, now: float,
                retention_days: int | None) -> None:
    _write(r, actor, Action.CONTROL_SET, f"queue:{q.department}", now, retention_days,
           put={f"queue:{q.department}": {"message": q.message, "since": _ts(q.since),
                                          "set_by": actor}},
           kind="queue closed", department=q.department, message=q.message)


def clear(r: Any, field: str, actor: str, now: float, retention_days: int | None) -> bool:
    """End one control (``closure:<id>``, ``announcement:<id>``, ``emergency`` or
    ``queue:<department>``); False if there was none."""
    if not r.hexists(KEY, field):
        return False
    return _write(r, actor, Action.CONTROL_CLEARED, field, now, retention_days, drop=(field,),
                  kind=field.partition(":")[0])
