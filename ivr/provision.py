"""``ivr provision``: point the council number and the agent line at this service through
Twilio's REST API (IncomingPhoneNumbers, twilio.md §6.0), idempotently.

What each number should say (``wanted``) and what must change (``changes``) are plain
functions of config.yaml and ``PUBLIC_BASE_URL``; ``apply`` reads each number from Twilio and
updates only what differs, so a second run changes nothing and says so. ``ivr doctor`` uses
``changes`` to check that the numbers still point here.

The fallback URLs are the static documents of ``ivr fallback-twiml`` (``fallback`` in
config.yaml), hosted away from this host, fetched with GET (a static host may refuse POST).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ivr.config import Config

# twilio-python's update() argument -> how a person reads it
FIELDS = {
    "voice_url": "voice URL", "voice_method": "voice method",
    "voice_fallback_url": "fallback URL", "voice_fallback_method": "fallback method",
    "status_callback": "status callback", "status_callback_method": "status callback method",
    "voice_application_sid": "TwiML app (overrides the URLs)",
}


class ProvisionError(ValueError):
    """A setting provisioning needs is missing or wrong (one line, naming it)."""


@dataclass(frozen=True)
class Wanted:
    role: str  # "council number" or "agent line"
    phone_number: str
    settings: dict[str, str]  # FIELDS -> value


@dataclass
class Outcome:
    wanted: Wanted
    sid: str = ""
    changed: dict[str, str] = field(default_factory=dict)  # what this run changed (or would)
    error: str = ""


def public_base(url: str) -> str:
    """``PUBLIC_BASE_URL`` as Twilio must reach it: https, no trailing slash."""
    if not url:
        raise ProvisionError("PUBLIC_BASE_URL is not set: the https address Twilio reaches "
                             "this service at, e.g. https://ivr.example.gov.uk")
    if not url.startswith("https://"):
        raise ProvisionError(f"PUBLIC_BASE_URL must start with https:// (got {url!r})")
    return url.rstrip("/")


def wanted(config: Config, base_url: str) -> list[Wanted]:
    """The council number and each agent line number, with the voice settings they need."""
    base = public_base(base_url)
    fb = config.fallback
    main_fallback = fb.url("voicemail") if fb else None
    agent_fallback = fb.url("agent_line") if fb else None
    if not main_fallback or not agent_fallback:
        raise ProvisionError("fallback.base_url (or fallback.voicemail_url and "
                             "fallback.agent_line_url) in config.yaml is not set: host the "
                             "documents of `ivr fallback-twiml` away from this host first")
    out = [Wanted("council number", config.council.main_number, {
        "voice_url": f"{base}/voice/incoming", "voice_method": "POST",
        "voice_fallback_url": main_fallback, "voice_fallback_method": "GET",
        "status_callback": f"{base}/voice/status", "status_callback_method": "POST",
        "voice_application_sid": ""})]
    for number in config.agents.line_numbers:
        out.append(Wanted("agent line", number, {
            "voice_url": f"{base}/agent/incoming", "voice_method": "POST",
            "voice_fallback_url": agent_fallback, "voice_fallback_method": "GET",
            "status_callback": f"{base}/agent/status", "status_callback_method": "POST",
            "voice_application_sid": ""}))
    return out


def changes(current: dict[str, Any], want: Wanted) -> dict[str, str]:
    """The settings that differ between Twilio's ``current`` values and ``want`` (an unset
    value and "" are the same; methods compare without case)."""
    out = {}
    for name, value in want.settings.items():
        now = str(current.get(name) or "")
        same = now.upper() == value.upper() if name.endswith("method") else now == value
        if not same:
            out[name] = value
    return out


def read(client: Any, phone_number: str) -> tuple[str, dict[str, Any]] | None:
    """The number's SID and voice settings at Twilio, or None if the account has no such
    number."""
    found = client.incoming_phone_numbers.list(phone_number=phone_number, limit=2)
    if not found:
        return None
    number = found[0]
    return number.sid, {name: getattr(number, name, None) for name in FIELDS}


def apply(client: Any, config: Config, base_url: str, *, dry_run: bool = False) -> list[Outcome]:
    """Read every number and update what differs (nothing when ``dry_run``). Raises
    ``ProvisionError`` for missing settings; Twilio's errors (``TwilioException``) propagate."""
    outcomes = []
    for want in wanted(config, base_url):
        got = read(client, want.phone_number)
        if got is None:
            outcomes.append(Outcome(want, error="the Twilio account has no such number"))
            continue
        sid, current = got
        diff = changes(current, want)
        if diff and not dry_run:
            client.incoming_phone_numbers(sid).update(**diff)
        outcomes.append(Outcome(want, sid, diff))
    return outcomes


def describe(outcome: Outcome, *, dry_run: bool = False) -> str:
    """One line for a number: what changed, or that nothing did."""
    w = outcome.wanted
    head = f"{w.role} {w.phone_number}"
    if outcome.error:
        return f"{head}: FAIL {outcome.error}"
    if not outcome.changed:
        return f"{head} ({outcome.sid}): already points here, nothing changed"
    verb = "would set" if dry_run else "set"
    what = ", ".join(f"{FIELDS[k]} {v or '(cleared)'}" for k, v in outcome.changed.items())
    return f"{head} ({outcome.sid}): {verb} {what}"
