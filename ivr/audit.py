"""The audit trail: who signed in (or failed to), who played which voicemail, who recorded which
callback outcome, who changed which advisor. A council must be able to show it.

One Redis Stream (``{ivr}:audit``) apart from the call events, with its own retention
(``audit.retention_days``), so reports never mix the two and the trail outlives the calls. Ids
come from the app's clock, as the call events' do (``ivr.events``). Entries never hold a full
phone number: callers' numbers are masked before they get here.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ivr import events, keys

STREAM = "{ivr}:audit"


class Action(StrEnum):
    CONSOLE_SIGNIN = "console_signin"
    CONSOLE_SIGNIN_FAILED = "console_signin_failed"
    CONSOLE_SIGNOUT = "console_signout"
    LINE_SIGNIN = "line_signin"
    LINE_SIGNIN_FAILED = "line_signin_failed"
    LOCKED = "locked"  # an account or caller ID locked out after failures
    UNLOCKED = "unlocked"
    VOICEMAIL_PLAYED = "voicemail_played"
    OUTCOME_RECORDED = "outcome_recorded"
    CALLBACK_DIALLED = "callback_dialled"
    AGENT_ADDED = "agent_added"
    AGENT_CHANGED = "agent_changed"
    AGENT_REMOVED = "agent_removed"
    PASSWORD_CHANGED = "password_changed"
    PIN_CHANGED = "pin_changed"
    SESSIONS_ENDED = "sessions_ended"  # every console session of an advisor ended
    WALLBOARD_LINK_CREATED = "wallboard_link_created"  # a kiosk link (ivr.kiosk)
    WALLBOARD_LINK_REVOKED = "wallboard_link_revoked"
    CONTROL_SET = "control_set"  # a live control: closure, announcement, emergency, queue
    CONTROL_CLEARED = "control_cleared"
    AGENT_STATE_SET = "agent_state_set"  # an advisor's state set from the console or the CLI


_ADD = events.LUA_ADD + """
return add_event(KEYS[1], ARGV[1], ARGV[2], cjson.decode(ARGV[3]))
"""


def entry(actor: str, action: Action, target: str = "", now: float | None = None,
          **detail: Any) -> dict[str, str]:
    """One audit entry's fields: ``actor`` is an agent id, ``cli`` or ``anonymous``."""
    at = time.time() if now is None else now
    return {"ts": f"{at:.3f}", "actor": actor or "anonymous", "action": str(action),
            "target": target, "detail": json.dumps(detail, sort_keys=True, default=str)}


def record(target_redis: Any, actor: str, action: Action, target: str = "", *,
           now: float | None = None, retention_days: int | None = 730, **detail: Any) -> Any:
    """Add one entry (on a client: written now; on a pipeline: queued with its writes)."""
    fields = entry(actor, action, target, now, **detail)
    own = events.ms(fields)
    flat = [x for kv in fields.items() for x in kv]
    return keys.eval_script(target_redis, _ADD, 1, STREAM, own,
                            events.min_id(own, retention_days), json.dumps(flat))


@dataclass(frozen=True)
class Entry:
    ts: float
    actor: str
    action: str
    target: str
    detail: dict[str, Any]


def read(r: Any, *, since: float | None = None, until: float | None = None,
         actor: str | None = None, action: str | None = None, limit: int = 200) -> list[Entry]:
    """Entries newest first, between ``since`` and ``until`` (epoch s), by ``actor`` or of
    ``action`` when given; at most ``limit``."""
    high = "+" if until is None else str(int(until * 1000))
    low = "-" if since is None else str(int(since * 1000))
    out: list[Entry] = []
    cursor = high
    while len(out) < limit:
        page = r.xrevrange(STREAM, cursor, low, count=500)
        if not page:
            break
        for _, raw in page:
            f = {_text(k): _text(v) for k, v in raw.items()}
            if (actor and f.get("actor") != actor) or (action and f.get("action") != action):
                continue
            out.append(Entry(float(f.get("ts") or 0), f.get("actor", ""), f.get("action", ""),
                             f.get("target", ""), json.loads(f.get("detail") or "{}")))
            if len(out) >= limit:
                break
        last = _text(page[-1][0])
        cursor = "(" + last
        if len(page) < 500:
            break
    return out


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value
