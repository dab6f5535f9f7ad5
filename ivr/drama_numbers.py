"""Ofcom's telephone numbers for TV and radio drama: reserved, never allocated to a line.

A number in these blocks can't be a resident's, so it is refused as a callback number with
its own spoken reason rather than dialled and left to fail.

Source: Ofcom, "Telephone numbers for drama purposes"
(https://www.ofcom.org.uk/phones-and-broadband/phone-numbers/numbers-for-drama), checked
against the copies of that list in public sources on 2026-12-04. An older Northern Ireland
block (028 9018 0xxx) that some secondary lists still give is not Ofcom's current block and
is left out: it may be allocated now, and refusing a real number is the worse mistake.
"""

from __future__ import annotations

# (first, last) national significant numbers (no trunk 0), inclusive; each block 1,000 long.
DRAMA_BLOCKS: tuple[tuple[str, str], ...] = (
    ("1134960000", "1134960999"),  # Leeds 0113 496 0xxx
    ("1144960000", "1144960999"),  # Sheffield 0114 496 0xxx
    ("1154960000", "1154960999"),  # Nottingham 0115 496 0xxx
    ("1164960000", "1164960999"),  # Leicester 0116 496 0xxx
    ("1174960000", "1174960999"),  # Bristol 0117 496 0xxx
    ("1184960000", "1184960999"),  # Reading 0118 496 0xxx
    ("1214960000", "1214960999"),  # Birmingham 0121 496 0xxx
    ("1314960000", "1314960999"),  # Edinburgh 0131 496 0xxx
    ("1414960000", "1414960999"),  # Glasgow 0141 496 0xxx
    ("1514960000", "1514960999"),  # Liverpool 0151 496 0xxx
    ("1614960000", "1614960999"),  # Manchester 0161 496 0xxx
    ("2079460000", "2079460999"),  # London 020 7946 0xxx
    ("1914980000", "1914980999"),  # Tyneside, Durham, Sunderland 0191 498 0xxx
    ("2896496000", "2896496999"),  # Northern Ireland 028 9649 6xxx
    ("2920180000", "2920180999"),  # Cardiff 029 2018 0xxx
    ("1632960000", "1632960999"),  # no area 01632 960xxx
    ("7700900000", "7700900999"),  # mobile 07700 900xxx
    ("8081570000", "8081570999"),  # freephone 08081 570xxx
    ("9098790000", "9098790999"),  # premium rate 0909 8790xxx
    ("3069990000", "3069990999"),  # UK-wide 03069 990xxx
)


def is_drama_number(nsn: str) -> bool:
    """True if a UK national significant number is in one of Ofcom's drama blocks."""
    return any(len(nsn) == len(first) and first <= nsn <= last for first, last in DRAMA_BLOCKS)
