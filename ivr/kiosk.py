"""Wallboard kiosk links: a read-only wallboard URL for a wall screen, with its own token.

A supervisor (console) or an operator (``ivr wallboard-link``) creates a link; its token is
shown once and only its SHA-256 is kept in Redis (``LINKS``: hash of the token -> the link's
id, label, who made it and when), so a copy of the database opens no wallboard. Revoking
deletes the hash entry: the screen's next refresh is refused. Each creation and revocation
is in the audit trail (by the caller). A kiosk shows department figures only: no advisor
names, no numbers, no navigation, no sign-in.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass

LINKS = "{ivr}:wallboard:links"  # hash: sha256(token) -> json {id, label, by, at}
LINK_ID = re.compile(r"WB[0-9a-f]{8}")
TOKEN = re.compile(r"[A-Za-z0-9_-]{32,64}")
MAX_LABEL = 60
# A kiosk address in a line of text (an access log's request line or Referer): its token.
_IN_PATH = re.compile(r"(/console/kiosk/)[^/?#\s\"]+")


@dataclass(frozen=True)
class Link:
    id: str
    label: str
    created_by: str
    created_at: float


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def redact(text: str) -> str:
    """``text`` with any kiosk token replaced by ``***``: an access log that kept the token
    would open the wallboard to whoever reads the log, which its hashing in Redis prevents."""
    return _IN_PATH.sub(r"\1***", text)


def clean_label(label: str) -> str:
    """A label as stored: printable, one line, at most ``MAX_LABEL`` characters."""
    text = "".join(ch for ch in (label or "") if ch.isprintable()).strip()
    return text[:MAX_LABEL] or "Wallboard"


def create(r, label: str, created_by: str, now: float) -> tuple[Link, str]:
    """A new link and its token (the token is returned once, never stored)."""
    token = secrets.token_urlsafe(32)
    link = Link("WB" + secrets.token_hex(4), clean_label(label), created_by, now)
    r.hset(LINKS, _digest(token), json.dumps(
        {"id": link.id, "label": link.label, "by": created_by, "at": now}))
    return link, token


def _load(raw: bytes | str) -> Link | None:
    try:
        d = json.loads(raw)
        return Link(str(d["id"]), str(d["label"]), str(d["by"]), float(d["at"]))
    except (ValueError, KeyError, TypeError):
        return None


def check(r, token: str) -> Link | None:
    """The link this token opens, or None (malformed, unknown or revoked)."""
    if not TOKEN.fullmatch(token or ""):
        return None
    raw = r.hget(LINKS, _digest(token))
    return _load(raw) if raw else None


def all_links(r) -> list[Link]:
    """Every live link, oldest first."""
    found = [_load(v) for v in r.hvals(LINKS)]
    return sorted((x for x in found if x), key=lambda x: (x.created_at, x.id))


def revoke(r, link_id: str) -> Link | None:
    """Remove the link ``link_id``; the link removed, or None if there was none."""
    if not LINK_ID.fullmatch(link_id or ""):
        return None
    for digest, raw in r.hgetall(LINKS).items():
        link = _load(raw)
        if link and link.id == link_id:
            return link if r.hdel(LINKS, digest) else None
    return None
