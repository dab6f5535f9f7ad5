"""The rules for what people type about advisors: names, console passwords, agent line PINs and
departments. One set of rules for the ``ivr agents`` CLI and the console's forms.

Pure: no Flask, no Redis. Each check returns the value to store (cleaned) or raises
``ValueError`` with a one-line reason a person can act on.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

MAX_NAME = 60  # characters: the live view and the wallboard lay names out in a column
MIN_PASSWORD = 10  # the console's minimum (its forms and the CLI agree)
DEFAULT_MIN_PIN = 6  # config agents.pin_min_length, at least this
MAX_PIN = 12  # digits keyed on the phone

# Characters that reorder or hide text (bidirectional overrides, embeddings, isolates and
# marks): a name holding one can display as something else in the live view or a log.
BIDI_CONTROLS = frozenset(
    [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)])
# Unicode categories refused anywhere in a name: controls (C0, DEL, C1), format characters
# (zero-width and invisible ones as well as the bidirectional ones), surrogates, private use,
# and line or paragraph separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})


def check_name(text: str) -> str:
    """An advisor's name: 1 to ``MAX_NAME`` characters once trimmed (inner runs of spaces made
    one), with no control, format or bidirectional characters. Returns the name to store."""
    raw = unicodedata.normalize("NFC", text or "")
    for ch in raw:
        if ord(ch) in BIDI_CONTROLS:
            raise ValueError(f"a name may not hold the text-direction character U+{ord(ch):04X}")
        if unicodedata.category(ch) in _REFUSED_CATEGORIES:
            raise ValueError(f"a name may not hold the control or invisible character "
                             f"U+{ord(ch):04X}")
    name = " ".join(raw.split())
    if not name:
        raise ValueError(f"a name is needed (1 to {MAX_NAME} characters)")
    if len(name) > MAX_NAME:
        raise ValueError(f"a name is at most {MAX_NAME} characters (this one has {len(name)})")
    return name


def check_password(text: str) -> str:
    """A console password: at least ``MIN_PASSWORD`` characters (as the console asks)."""
    if len(text or "") < MIN_PASSWORD:
        raise ValueError(f"a password needs at least {MIN_PASSWORD} characters")
    return text


def check_pin(pin: str, agent_id: str = "", phone: str = "", *,
              min_length: int = DEFAULT_MIN_PIN) -> str:
    """An agent line PIN: ``min_length`` to ``MAX_PIN`` digits, and not one a stranger would
    try first: one digit repeated, a run up or down (123456, 987654), the agent number, or
    digits of the advisor's own phone number (its last digits are what a caller ID shows)."""
    pin = pin or ""
    if not pin.isascii() or not pin.isdigit():
        raise ValueError(f"a PIN is digits only, {min_length} to {MAX_PIN} of them")
    if not min_length <= len(pin) <= MAX_PIN:
        raise ValueError(f"a PIN is {min_length} to {MAX_PIN} digits (this one has {len(pin)})")
    if len(set(pin)) == 1:
        raise ValueError("a PIN may not be one digit repeated")
    steps = {int(b) - int(a) for a, b in zip(pin, pin[1:], strict=False)}
    if steps in ({1}, {-1}):
        raise ValueError("a PIN may not be a run of digits up or down")
    if agent_id and agent_id in pin:
        raise ValueError("a PIN may not contain the agent number")
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    national = "0" + digits[2:] if digits.startswith("44") else digits
    if digits and (pin in digits or pin in national):
        raise ValueError("a PIN may not be taken from the advisor's phone number")
    return pin


def check_departments(departments: Iterable[str], config: Any) -> list[str]:
    """Department ids, each one of ``config.departments`` (a ``Config`` or that mapping); none
    means all of them. Returns them trimmed, in order, without repeats."""
    known: Mapping[str, Any] = getattr(config, "departments", config)
    out: list[str] = []
    for d in (x.strip() for x in departments):
        if d and d not in out:
            out.append(d)
    unknown = [d for d in out if d not in known]
    if unknown:
        raise ValueError(f"unknown department(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(sorted(known))}")
    return out
