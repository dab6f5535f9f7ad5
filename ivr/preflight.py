"""Start-up checks: a credential a configured feature needs, missing, is said at start.

Without ``TWILIO_ACCOUNT_SID`` and ``TWILIO_AUTH_TOKEN`` a caller who pressed 1 hears "we'll
send you a text" and no text comes; recordings outlive their retention; callbacks cannot be
dialled nor callers offered to advisors. In production (``PUBLIC_BASE_URL`` names a host that
is not this machine) the service refuses to start, in one line; on loopback (development, the
stand-in) it warns loudly and runs.

Pure: settings and config in, findings out (``create_app`` and ``ivr serve`` act on them).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ivr.config import Config

CREDENTIALS = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")


class Refused(RuntimeError):
    """Production start-up with a needed credential missing (the message is one line)."""


def production(public_base_url: str) -> bool:
    """Published to the world: ``PUBLIC_BASE_URL`` is set and its host is not loopback."""
    if not public_base_url:
        return False
    host = urlsplit(public_base_url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True  # a name: resolvable anywhere, so published


def features(config: Config) -> list[str]:
    """The configured features that call Twilio's REST API."""
    out = []
    if any(d.link for d in config.departments.values()):
        out.append("SMS links")
    out.append("recording deletion")  # every recording has a retention period
    if config.agents.line_numbers:
        out.append("callback dialling and offers to advisors")
    return out


def missing(config: Config, settings: Mapping[str, Any]) -> str:
    """One line naming the missing credentials and what needs them ("" when none is)."""
    absent = [name for name in CREDENTIALS if not settings.get(name)]
    if not absent:
        return ""
    return (f"{' and '.join(absent)} {'is' if len(absent) == 1 else 'are'} not set, and "
            f"{', '.join(features(config))} need {'it' if len(absent) == 1 else 'them'}")


def check(config: Config, settings: Mapping[str, Any]) -> str:
    """Raise ``Refused`` in production when a credential is missing; else return the warning
    to log ("" when all is set)."""
    problem = missing(config, settings)
    base = str(settings.get("PUBLIC_BASE_URL") or "")
    if problem and production(base):
        raise Refused(f"refusing to start: {problem} (PUBLIC_BASE_URL {base} is public)")
    if problem:
        return f"{problem}: each will FAIL until then (loopback: starting anyway)"
    return ""
