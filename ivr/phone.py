"""Caller-ID and keyed-number checks for callbacks, built on ``phonenumbers``.

Pure functions only: the app decides what to say (config.yaml is keyed by
``Rejection`` values) and which Twilio placeholders mean "withheld".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberFormat
from phonenumbers import PhoneNumberType as T

REGION = "GB"
UK_CC = 44
MIN_NSN = 10  # every callable UK geographic/mobile/03/0800 number has 10 national digits

_ACCEPTED = {T.FIXED_LINE, T.MOBILE, T.FIXED_LINE_OR_MOBILE, T.UAN, T.TOLL_FREE, T.VOIP}
# phonenumbers files 084/087 under PREMIUM_RATE for GB (it has no GB SHARED_COST
# data), so split them back out to give callers the right reason.
_SHARED_COST_PREFIXES = ("84", "87")


class Rejection(StrEnum):
    """Why a number can't be called back; values key the spoken reasons in config."""

    WITHHELD = "withheld"
    INVALID = "invalid"
    NOT_UK = "not_uk"
    PREMIUM = "premium"
    PERSONAL = "personal"
    SHARED_COST = "shared_cost"
    PAGER = "pager"
    SHORT = "short"


_REFUSED = {
    T.PREMIUM_RATE: Rejection.PREMIUM,
    T.PERSONAL_NUMBER: Rejection.PERSONAL,
    T.SHARED_COST: Rejection.SHARED_COST,
    T.PAGER: Rejection.PAGER,
}


@dataclass(frozen=True)
class NumberCheck:
    """Outcome of a check: an E.164 number to call back, or the reason we can't."""

    e164: str | None
    rejection: Rejection | None
    mobile: bool = False

    @property
    def callable(self) -> bool:
        return self.e164 is not None and self.rejection is None


def _reject(reason: Rejection) -> NumberCheck:
    return NumberCheck(e164=None, rejection=reason)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _classify(num: PhoneNumber, *, min_nsn: int | None = None) -> NumberCheck:
    """Map phonenumbers' view of a parsed number onto our callback policy."""
    nsn = phonenumbers.national_significant_number(num)
    if num.country_code != UK_CC:
        valid = phonenumbers.is_valid_number(num)
        return _reject(Rejection.NOT_UK if valid else Rejection.INVALID)
    if min_nsn is not None and len(nsn) < min_nsn:
        return _reject(Rejection.SHORT)
    # number_type is UNKNOWN exactly when is_valid_number is False (it runs the same match),
    # so one call answers both: phonenumbers' matching is most of a first webhook's own cost.
    kind = phonenumbers.number_type(num)
    if kind == T.UNKNOWN:
        # 999, 101, 118118, 12345...: too few digits to be a subscriber number.
        return _reject(Rejection.SHORT if len(nsn) < MIN_NSN else Rejection.INVALID)
    if kind == T.PREMIUM_RATE and nsn.startswith(_SHARED_COST_PREFIXES):
        return _reject(Rejection.SHARED_COST)
    if kind in _REFUSED:
        return _reject(_REFUSED[kind])
    if kind not in _ACCEPTED:
        return _reject(Rejection.INVALID)
    e164 = phonenumbers.format_number(num, PhoneNumberFormat.E164)
    return NumberCheck(e164=e164, rejection=None, mobile=kind == T.MOBILE)


def _parse_failed(text: str) -> NumberCheck:
    """A digit string phonenumbers can't parse is usually just too short."""
    digits = _digits(text)
    if not digits:
        return _reject(Rejection.INVALID)
    return _reject(Rejection.SHORT if len(digits) < MIN_NSN else Rejection.INVALID)


def check_caller_id(raw: str | None, withheld: Iterable[str] = ()) -> NumberCheck:
    """Decide whether Twilio's ``From`` can be used as the callback number.

    ``withheld`` lists Twilio's placeholder numbers for hidden caller IDs; any
    text (``anonymous``, ``client:alice``...) also counts as withheld.
    """
    return _check_caller_id(raw or "", tuple(withheld))


@lru_cache(maxsize=4096)
def _check_caller_id(raw: str, withheld: tuple[str, ...]) -> NumberCheck:
    """Cached: every webhook of a call asks about the same ``From``, and phonenumbers' parse
    and classification cost more than the rest of a typical webhook's own work. The answer
    is a pure function of its arguments (a frozen result), so the cache holds no state."""
    text = raw.strip()
    if not text or re.search(r"[A-Za-z]", text):
        return _reject(Rejection.WITHHELD)
    hidden = {_digits(w) for w in withheld if _digits(w)}
    if _digits(text) in hidden:
        return _reject(Rejection.WITHHELD)
    try:
        num = phonenumbers.parse(text, REGION)
    except NumberParseException:
        return _parse_failed(text)
    return _classify(num)


def check_keyed_number(digits: str | None) -> NumberCheck:
    """Validate a callback number typed on the keypad (national, 44 or 0044 form)."""
    text = re.sub(r"[#*\s]", "", digits or "")
    if not text or not text.isdigit():
        return _reject(Rejection.INVALID)
    if text.startswith("44"):
        text = "+" + text  # no UK national number starts 44, so it's the country code
    try:
        num = phonenumbers.parse(text, REGION)
    except NumberParseException:
        return _parse_failed(text)
    return _classify(num, min_nsn=MIN_NSN)


def _parse_e164(e164: str) -> PhoneNumber:
    try:
        return phonenumbers.parse(e164, REGION)
    except NumberParseException as exc:
        raise ValueError(f"not a phone number: {mask(e164)}") from exc


def is_uk_mobile(e164: str | None) -> bool:
    """True only for numbers phonenumbers calls MOBILE (e.g. to offer SMS)."""
    return check_caller_id(e164).mobile


def national_format(e164: str) -> str:
    """Human-readable national form, e.g. ``01206 282300``."""
    return phonenumbers.format_number(_parse_e164(e164), PhoneNumberFormat.NATIONAL)


def spoken_digits(e164: str) -> str:
    """Digits spaced out so TTS reads them singly, pausing between format groups."""
    groups = re.findall(r"\d+", national_format(e164))
    return ", ".join(" ".join(group) for group in groups)


def mask(raw: str | None) -> str:
    """Log-safe rendering: international format with the last three digits hidden."""
    text = (raw or "").strip()
    if not text:
        return "<none>"
    if re.search(r"[A-Za-z]", text):
        return "<withheld>"
    try:
        num = phonenumbers.parse(text, REGION)
    except NumberParseException:
        return "<invalid>"
    chars = list(phonenumbers.format_number(num, PhoneNumberFormat.INTERNATIONAL))
    hidden = 0
    for i in range(len(chars) - 1, -1, -1):
        if hidden == 3:
            break
        if chars[i].isdigit():
            chars[i] = "*"
            hidden += 1
    return "".join(chars)


def relay_dial_string(e164: str, prefix: str) -> str:
    """Relay UK dial string: the relay prefix followed by the UK national number."""
    num = _parse_e164(e164)
    if num.country_code != UK_CC:
        raise ValueError("Relay UK callbacks need a UK number")
    return prefix + _digits(phonenumbers.format_number(num, PhoneNumberFormat.NATIONAL))
