import re

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from ivr.drama_numbers import DRAMA_BLOCKS
from ivr.phone import (
    NumberCheck,
    Rejection,
    check_caller_id,
    check_keyed_number,
    is_uk_mobile,
    mask,
    national_format,
    relay_dial_string,
    spoken_digits,
)


def _example(region: str, kind: PhoneNumberType) -> str:
    num = phonenumbers.example_number_for_type(region, kind)
    assert num is not None, (region, kind)
    return phonenumbers.format_number(num, PhoneNumberFormat.E164)


def _national_digits(e164: str) -> str:
    return re.sub(r"\D", "", national_format(e164))


PERSONAL = _example("GB", PhoneNumberType.PERSONAL_NUMBER)  # +447012345678
PAGER = _example("GB", PhoneNumberType.PAGER)  # +447640123456
US = _example("US", PhoneNumberType.FIXED_LINE)  # +12015550123
TWILIO_WITHHELD = ("+266696687", "+86282452253", "+8656696", "+2562533")

CALLER_IDS = [
    # (raw, e164, rejection, mobile)
    ("+441206282300", "+441206282300", None, False),
    ("+441206282725", "+441206282725", None, False),
    ("+442079461000", "+442079461000", None, False),  # next to the drama block, not in it
    ("+441697734567", "+441697734567", None, False),
    ("+44169773456", "+44169773456", None, False),  # Brampton: a 9-digit national number
    ("+447911123456", "+447911123456", None, True),
    ("+443001234567", "+443001234567", None, False),
    ("+448001234567", "+448001234567", None, False),
    ("+448081234567", "+448081234567", None, False),
    ("+445612345678", "+445612345678", None, False),
    ("01206282300", "+441206282300", None, False),
    ("+447700900123", None, Rejection.DRAMA, False),  # Ofcom drama range
    ("+442079460000", None, Rejection.DRAMA, False),
    ("+449098791000", None, Rejection.PREMIUM, False),
    ("+449061234567", None, Rejection.PREMIUM, False),
    (PERSONAL, None, Rejection.PERSONAL, False),
    (PAGER, None, Rejection.PAGER, False),
    ("+448451234567", None, Rejection.SHARED_COST, False),
    ("+448701234567", None, Rejection.SHARED_COST, False),
    ("+448712345678", None, Rejection.SHARED_COST, False),
    (US, None, Rejection.NOT_UK, False),
    ("+12125550100", None, Rejection.NOT_UK, False),
    ("+266696687", None, Rejection.INVALID, False),  # placeholder, but not configured
    ("anonymous", None, Rejection.WITHHELD, False),
    ("restricted", None, Rejection.WITHHELD, False),
    ("Unknown", None, Rejection.WITHHELD, False),
    ("private", None, Rejection.WITHHELD, False),
    ("client:alice", None, Rejection.WITHHELD, False),
    ("", None, Rejection.WITHHELD, False),
    ("   ", None, Rejection.WITHHELD, False),
    (None, None, Rejection.WITHHELD, False),
    ("999", None, Rejection.SHORT, False),
    ("101", None, Rejection.SHORT, False),
    ("118118", None, Rejection.SHORT, False),
    ("12345", None, Rejection.SHORT, False),
    ("1", None, Rejection.SHORT, False),
]


@pytest.mark.parametrize(("raw", "e164", "rejection", "mobile"), CALLER_IDS)
def test_check_caller_id(raw, e164, rejection, mobile):
    result = check_caller_id(raw)
    assert result == NumberCheck(e164=e164, rejection=rejection, mobile=mobile)
    assert result.callable is (rejection is None)


@pytest.mark.parametrize("raw", [*TWILIO_WITHHELD, " +266696687 "])
def test_twilio_placeholders_are_withheld_when_configured(raw):
    assert check_caller_id(raw, withheld=TWILIO_WITHHELD).rejection is Rejection.WITHHELD


def test_withheld_list_does_not_affect_real_numbers():
    result = check_caller_id("+441206282300", withheld=TWILIO_WITHHELD)
    assert result.callable and result.e164 == "+441206282300"


def test_shared_cost_numbers_are_premium_rate_to_phonenumbers():
    # Documents why ivr.phone splits 084/087 out of PREMIUM_RATE itself.
    assert phonenumbers.example_number_for_type("GB", PhoneNumberType.SHARED_COST) is None
    num = phonenumbers.parse("08451234567", "GB")
    assert phonenumbers.number_type(num) == PhoneNumberType.PREMIUM_RATE


RELAY_PREFIXES = ("18001", "18002")  # as config.yaml's relay.keyed_prefixes

# The keyed-number decisions (the table): digits -> (e164, rejection, mobile, relay).
KEYED = [
    # ordinary numbers, in every keyed form
    ("01206282300", "+441206282300", None, False, False),
    ("01206282300#", "+441206282300", None, False, False),
    ("*01206282725#", "+441206282725", None, False, False),
    ("01206 282300", "+441206282300", None, False, False),
    ("441206282300", "+441206282300", None, False, False),
    ("00441206282300#", "+441206282300", None, False, False),
    ("07911123456", "+447911123456", None, True, False),
    ("447911123456#", "+447911123456", None, True, False),
    ("0044 7911 123456", "+447911123456", None, True, False),
    ("02079461000", "+442079461000", None, False, False),
    ("03001234567", "+443001234567", None, False, False),
    ("08001234567", "+448001234567", None, False, False),
    # the numbering plan, not a digit count, decides
    ("0169773456", "+44169773456", None, False, False),  # Brampton 016977 3456: 9 digits
    ("01697734567", "+441697734567", None, False, False),  # Brampton's 10-digit numbers too
    ("08001111", "+448001111", None, False, False),  # a valid 7-digit freephone number
    ("016977345", None, Rejection.SHORT, False, False),  # Brampton, a digit missing
    ("0120628230", None, Rejection.SHORT, False, False),  # one digit missing
    ("282300", None, Rejection.SHORT, False, False),  # area code left off
    ("012062823001", None, Rejection.INVALID, False, False),  # one digit too many
    # Relay UK: the prefix means "call me back through Relay UK"; kept, never dropped
    ("1800101206282300", "+441206282300", None, False, True),
    ("1800201206282300", "+441206282300", None, False, True),
    ("18001 07911 123456#", "+447911123456", None, True, True),
    ("18002447911123456", "+447911123456", None, True, True),
    ("180010169773456", "+44169773456", None, False, True),
    ("18001", None, Rejection.SHORT, False, False),  # the prefix alone
    ("1800102079460123", None, Rejection.DRAMA, False, False),  # relay to a drama number
    ("18002999", None, Rejection.SHORT, False, False),
    # Ofcom's drama ranges: refused with their own reason
    ("02079460000", None, Rejection.DRAMA, False, False),
    ("02079460999", None, Rejection.DRAMA, False, False),
    ("01134960000", None, Rejection.DRAMA, False, False),
    ("01614960500", None, Rejection.DRAMA, False, False),
    ("01914980123", None, Rejection.DRAMA, False, False),
    ("02896496000", None, Rejection.DRAMA, False, False),
    ("02920180999", None, Rejection.DRAMA, False, False),
    ("01632960123", None, Rejection.DRAMA, False, False),
    ("07700900123", None, Rejection.DRAMA, False, False),
    ("08081570000", None, Rejection.DRAMA, False, False),
    ("09098790000", None, Rejection.DRAMA, False, False),
    ("03069990999", None, Rejection.DRAMA, False, False),
    ("441134960000", None, Rejection.DRAMA, False, False),
    # refused for what they are
    ("07700901123", None, Rejection.INVALID, False, False),  # next to the drama block
    ("09098791000", None, Rejection.PREMIUM, False, False),
    ("08451234567", None, Rejection.SHARED_COST, False, False),
    ("08701234567#", None, Rejection.SHARED_COST, False, False),
    ("0" + PERSONAL[3:], None, Rejection.PERSONAL, False, False),
    ("0" + PAGER[3:], None, Rejection.PAGER, False, False),
    ("0012125550100", None, Rejection.NOT_UK, False, False),
    ("999", None, Rejection.SHORT, False, False),
    ("101#", None, Rejection.SHORT, False, False),
    ("118118", None, Rejection.SHORT, False, False),
    ("12345", None, Rejection.SHORT, False, False),
    ("0044", None, Rejection.SHORT, False, False),
    ("", None, Rejection.INVALID, False, False),
    ("#", None, Rejection.INVALID, False, False),
    (None, None, Rejection.INVALID, False, False),
]


@pytest.mark.parametrize(("digits", "e164", "rejection", "mobile", "relay"), KEYED)
def test_check_keyed_number(digits, e164, rejection, mobile, relay):
    result = check_keyed_number(digits, RELAY_PREFIXES)
    assert result == NumberCheck(e164=e164, rejection=rejection, mobile=mobile, relay=relay)
    assert result.callable is (rejection is None)


@pytest.mark.parametrize("digits", ["0169773456", "+44169773456", "01697734567"])
def test_keyed_and_caller_id_agree(digits):
    """The same number is accepted whether it arrives as caller ID or on the keypad."""
    keyed = check_keyed_number(digits.lstrip("+"), RELAY_PREFIXES)
    assert keyed.callable and keyed == check_caller_id(digits)


def test_every_drama_block_is_refused_at_both_ends_and_nowhere_near():
    for first, last in DRAMA_BLOCKS:
        for nsn in (first, last):
            assert check_keyed_number("0" + nsn, RELAY_PREFIXES).rejection is Rejection.DRAMA
            assert check_caller_id("+44" + nsn).rejection is Rejection.DRAMA
        after = str(int(last) + 1)
        assert check_keyed_number("0" + after, RELAY_PREFIXES).rejection is not Rejection.DRAMA


def test_a_relay_prefix_not_configured_is_not_taken_for_one():
    # With only 18002 configured, 18001 + number is not a relay callback (nor a UK number).
    result = check_keyed_number("1800101206282300", ("18002",))
    assert not result.callable and not result.relay


@pytest.mark.parametrize(
    ("e164", "expected"),
    [
        ("+447911123456", True),
        ("+447400123456", True),
        ("+441206282300", False),
        ("+448001234567", False),
        ("+447700900123", False),
        (PAGER, False),
        (PERSONAL, False),
        (US, False),
        ("anonymous", False),
        ("", False),
        (None, False),
    ],
)
def test_is_uk_mobile(e164, expected):
    assert is_uk_mobile(e164) is expected


@pytest.mark.parametrize(
    ("e164", "national", "spoken"),
    [
        ("+441206282300", "01206 282300", "0 1 2 0 6, 2 8 2 3 0 0"),
        ("+441206282725", "01206 282725", "0 1 2 0 6, 2 8 2 7 2 5"),
        ("+447911123456", "07911 123456", "0 7 9 1 1, 1 2 3 4 5 6"),
        ("+442079460000", "020 7946 0000", "0 2 0, 7 9 4 6, 0 0 0 0"),
        ("+44169773456", "016977 3456", "0 1 6 9 7 7, 3 4 5 6"),
        ("+443001234567", "0300 123 4567", "0 3 0 0, 1 2 3, 4 5 6 7"),
    ],
)
def test_national_format_and_spoken_digits(e164, national, spoken):
    assert national_format(e164) == national
    assert spoken_digits(e164) == spoken


def test_national_format_rejects_non_numbers():
    with pytest.raises(ValueError):
        national_format("anonymous")


MASK_CASES = [
    ("+447911123456", "+44 7911 123***"),
    ("+441206282300", "+44 1206 282***"),
    ("01206282725", "+44 1206 282***"),
    ("+12125550100", "+1 212-555-0***"),
    ("+266696687", "+266 696***"),
    ("999", "+44 ***"),
    ("anonymous", "<withheld>"),
    ("client:alice", "<withheld>"),
    ("+", "<invalid>"),
    ("1", "<invalid>"),
    ("", "<none>"),
    (None, "<none>"),
]


@pytest.mark.parametrize(("raw", "expected"), MASK_CASES)
def test_mask(raw, expected):
    assert mask(raw) == expected


@pytest.mark.parametrize(
    "raw", ["+447911123456", "+441206282300", "07911123456", "+12125550100", PAGER, "999"]
)
def test_mask_never_reveals_last_three_digits(raw):
    digits = re.sub(r"\D", "", raw)
    masked = mask(raw)
    assert masked.endswith("***")
    assert digits[-3:] not in re.sub(r"\D", "", masked)[-3:]
    assert digits not in re.sub(r"\D", "", masked)


@pytest.mark.parametrize(
    ("e164", "prefix", "expected"),
    [
        ("+441206282300", "18002", "1800201206282300"),
        ("+447911123456", "18002", "1800207911123456"),
        ("+442079460000", "18001", "1800102079460000"),
    ],
)
def test_relay_dial_string(e164, prefix, expected):
    assert relay_dial_string(e164, prefix) == expected
    assert relay_dial_string(e164, prefix) == prefix + _national_digits(e164)


def test_relay_dial_string_requires_uk_number():
    with pytest.raises(ValueError):
        relay_dial_string(US, "18002")
