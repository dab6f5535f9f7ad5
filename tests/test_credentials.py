"""``ivr.credentials``: the one set of rules for names, passwords, PINs and departments that
the CLI and the console's forms share (pure: tables of cases)."""

from __future__ import annotations

import pytest

from ivr.credentials import (
    MAX_NAME,
    MIN_PASSWORD,
    check_departments,
    check_name,
    check_password,
    check_pin,
)


@pytest.mark.parametrize(("text", "stored"), [
    ("Priya Shah", "Priya Shah"),
    ("  Priya   Shah ", "Priya Shah"),
    ("Zoe\u0308 O'Brien", "Zoë O'Brien"),  # NFC: one character, as typed elsewhere
    ("x" * MAX_NAME, "x" * MAX_NAME),
    ("محمد علي", "محمد علي"),  # right-to-left scripts are names, not overrides
    ("Jo\u00a0Bloggs", "Jo Bloggs"),  # a no-break space is a space
])
def test_names_kept(text, stored):
    assert check_name(text) == stored


@pytest.mark.parametrize(("text", "reason"), [
    ("", "a name is needed"),
    (" \n ", "U+000A"),
    ("x" * (MAX_NAME + 1), "a name is at most 60 characters (this one has 61)"),
    ("x" * 300, "(this one has 300)"),
    ("\u202eboB", "text-direction character U+202E"),
    *[(f"A{chr(c)}B", f"U+{c:04X}") for c in
      (0x202A, 0x202B, 0x202C, 0x202D, 0x2066, 0x2067, 0x2068, 0x2069, 0x200E, 0x200F, 0x061C)],
    *[(f"A{chr(c)}B", f"control or invisible character U+{c:04X}") for c in
      (0x00, 0x07, 0x09, 0x0A, 0x1B, 0x7F, 0x80, 0x85, 0x9F, 0x200B, 0xFEFF, 0x2028, 0x2029,
       0xE000)],
])
def test_names_refused(text, reason):
    with pytest.raises(ValueError, match=reason.replace("(", r"\(").replace(")", r"\)")
                       .replace("+", r"\+")) as refused:
        check_name(text)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(("text", "ok"), [
    ("x" * (MIN_PASSWORD - 1), False), ("", False), ("x" * MIN_PASSWORD, True),
    ("correct horse battery staple", True),
])
def test_passwords(text, ok):
    if ok:
        assert check_password(text) == text
    else:
        with pytest.raises(ValueError, match="a password needs at least 10 characters"):
            check_password(text)


@pytest.mark.parametrize(("pin", "agent_id", "phone", "reason"), [
    ("580417", "1001", "+447911123401", None),
    ("135792", "1001", "+447911123401", None),
    ("12345678", "1001", "", "a run of digits"),
    ("24681357", "1001", "+447911123401", None),
    ("000000", "1001", "", "one digit repeated"),
    ("99999999", "1001", "", "one digit repeated"),
    ("012345", "1001", "", "a run of digits"),
    ("876543", "1001", "", "a run of digits"),
    ("100142", "1001", "", "the agent number"),
    ("421001", "1001", "", "the agent number"),
    ("123401", "1001", "+447911123401", "phone number"),  # the last digits
    ("911123", "1001", "+447911123401", "phone number"),
    ("079111", "1001", "+447911123401", "phone number"),  # national form
    ("58041", "1001", "", "a PIN is 6 to 12 digits (this one has 5)"),
    ("5804175804175", "1001", "", "(this one has 13)"),
    ("58 417", "1001", "", "digits only"),
    ("５８０４１７", "1001", "", "digits only"),  # full-width digits are not keypad digits
    ("", "1001", "", "digits only"),
])
def test_pins(pin, agent_id, phone, reason):
    if reason is None:
        assert check_pin(pin, agent_id, phone) == pin
    else:
        with pytest.raises(ValueError) as refused:
            check_pin(pin, agent_id, phone)
        assert reason in str(refused.value)
        assert pin not in str(refused.value) or not pin


def test_a_longer_minimum_from_config():
    assert check_pin("580417", "1001", "", min_length=6) == "580417"
    with pytest.raises(ValueError, match="a PIN is 8 to 12 digits"):
        check_pin("580417", "1001", "", min_length=8)


def test_departments(config):
    assert check_departments(["housing", " benefits", "housing", ""], config) == [
        "housing", "benefits"]
    assert check_departments([""], config) == []  # none: all of them
    assert check_departments(["housing"], config.departments) == ["housing"]
    with pytest.raises(ValueError, match=r"unknown department\(s\) parking, bins; choose from "):
        check_departments(["parking", "housing", "bins"], config)
