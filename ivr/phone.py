"""Caller-ID and keyed-number checks for callbacks, built on ``phonenumbers``.

The numbering plan decides, never a digit count: ``phonenumbers``' validity and type say
whether a number can be called (a 9-digit Brampton number 016977 3456 is as good as any),
Ofcom's drama blocks (``ivr.drama_numbers``) are refused, and a keyed Relay UK prefix
(18001/18002, from config) marks a callback to be made through Relay UK.

Pure functions only: the app decides what to say (config.yaml is keyed by
``Rejection`` values), which Twilio placeholders mean "withheld" and which prefixes are
Relay UK's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberFormat, ValidationResult
from phonenumbers import PhoneNumberType as T

from ivr.drama_numbers import is_drama_number

REGION = "GB"
UK_CC = 44
# phonenumbers' verdicts on an invalid number that mean "digits are missing" (an area code
# left off gives a number only dialable locally).
_TOO_SHORT = {ValidationResult.TOO_SHORT, ValidationResult.IS_POSSIBLE_LOCAL_ONLY}
_PARSED_TOO_SHORT = {
    NumberParseException.NOT_A_NUMBER,
    NumberParseException.TOO_SHORT_NSN,
    NumberParseException.TOO_SHORT_AFTER_IDD,
}

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
    DRAMA = "drama"


_REFUSED = {
    T.PREMIUM_RATE: Rejection.PREMIUM,
    T.PERSONAL_NUMBER: Rejection.PERSONAL,
    T.SHARED_COST: Rejection.SHARED_COST,
    T.PAGER: Rejection.PAGER,
}


@dataclass(frozen=True)
class NumberCheck:
    """Outcome of a check: an E.164 number to call back, or the reason we can't.

    ``relay`` is True when the number was keyed after a Relay UK prefix: the callback must
    be dialled through Relay UK (the prefix kept on the dialled number), not direct.
    """

    e164: str | None
    rejection: Rejection | None
    mobile: bool = False
    relay: bool = False

    @property
    def callable(self) -> bool:
        return self.e164 is not None and self.rejection is None


def _reject(reason: Rejection) -> NumberCheck:
    return NumberCheck(e164=None, rejection=reason)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _one_digit_short(num: PhoneNumber) -> bool:
    """True if one more digit would make a valid number (the commonest slip when keying)."""
    nsn = phonenumbers.national_significant_number(num)
    return any(
        phonenumbers.is_valid_number(PhoneNumber(country_code=num.country_code,
                                                 national_number=int(nsn + digit)))
        for digit in "0123456789"
    )


def _invalid(num: PhoneNumber) -> NumberCheck:
    """Why phonenumbers finds no valid number here: digits missing, or simply not a number."""
    if phonenumbers.is_possible_number_with_reason(num) in _TOO_SHORT or _one_digit_short(num):
        return _reject(Rejection.SHORT)  # 999, 101, 118118, an area code or a digit left off
    return _reject(Rejection.INVALID)


def _classify(num: PhoneNumber) -> NumberCheck:
    """Map phonenumbers' view of a parsed number onto our callback policy."""
    if num.country_code != UK_CC:
        valid = phonenumbers.is_valid_number(num)
        return _reject(Rejection.NOT_UK if valid else Rejection.INVALID)
    # number_type is UNKNOWN exactly when is_valid_number is False (it runs the same match),
    # so one call answers both: phonenumbers' matching is most of a first webhook's own cost.
    kind = phonenumbers.number_type(num)
    nsn = phonenumbers.national_significant_number(num)
    if is_drama_number(nsn):
        return _reject(Rejection.DRAMA)  # valid-looking to phonenumbers, but never allocated
    if kind == T.UNKNOWN:
        return _invalid(num)
    if kind == T.PREMIUM_RATE and nsn.startswith(_SHARED_COST_PREFIXES):
        return _reject(Rejection.SHARED_COST)
    if kind in _REFUSED:
        return _reject(_REFUSED[kind])
    if kind not in _ACCEPTED:
        return _reject(Rejection.INVALID)
    e164 = phonenumbers.format_number(num, PhoneNumberFormat.E164)
    return NumberCheck(e164=e164, rejection=None, mobile=kind == T.MOBILE)


def _parse_failed(text: str, exc: NumberParseException) -> NumberCheck:
    """A digit string phonenumbers can't parse: too short (its own verdict), or not a number."""
    if _digits(text) and exc.error_type in _PARSED_TOO_SHORT:
        return _reject(Rejection.SHORT)
    return _reject(Rejection.INVALID)


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
    except NumberParseException as exc:
        return _parse_failed(text, exc)
    return _classify(num)


def check_keyed_number(digits: str | None, relay_prefixes: Iterable[str]) -> NumberCheck:
    """Validate a callback number typed on the keypad (national, 44 or 0044 form).

    A number keyed after one of ``relay_prefixes`` (Relay UK's 18001/18002, from config) is
    checked without it and marked ``relay``: the resident is a text relay user, so the
    callback goes through Relay UK rather than the prefix being dropped or the number refused.
    The prefix is taken off here, before parsing, because phonenumbers would otherwise drop
    a leading 18002 itself (GB's national prefix for parsing is ``0|180020``) and refuse 18001.
    """
    text = re.sub(r"[#*\s]", "", digits or "")
    if not text or not text.isdigit():
        return _reject(Rejection.INVALID)
    prefix = next((p for p in relay_prefixes if p and text.startswith(p)), None)
    if prefix is not None:
        rest = text[len(prefix):]
        if not rest:
            return _reject(Rejection.SHORT)  # the prefix alone: the number itself is missing
        check = _check_national_keyed(rest)
        return replace(check, relay=True) if check.callable else check
    return _check_national_keyed(text)


def _check_national_keyed(text: str) -> NumberCheck:
    if text.startswith("44"):
        text = "+" + text  # no UK national number starts 44, so it's the country code
    try:
        num = phonenumbers.parse(text, REGION)
    except NumberParseException as exc:
        return _parse_failed(text, exc)
    return _classify(num)


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
