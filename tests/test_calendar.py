"""Opening hours, bank holidays, clock changes and voicemail callback deadlines."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ivr.calendar import (
    CallbackWindow,
    OpeningHours,
    callback_window,
    closing_time,
    describe_weekly_hours,
    is_bank_holiday,
    is_open,
    is_working_day,
    next_opening,
    next_working_day,
    opening_time,
    spoken_day,
    spoken_time,
)

LONDON = ZoneInfo("Europe/London")
NINE_TO_FIVE = (time(9), time(17))
WEEKLY = {0: NINE_TO_FIVE, 1: NINE_TO_FIVE, 2: NINE_TO_FIVE, 3: NINE_TO_FIVE, 4: NINE_TO_FIVE}
SHUTDOWN = frozenset({date(2026, 12, 29), date(2026, 12, 30), date(2026, 12, 31)})
HOURS = OpeningHours(weekly=WEEKLY, closures=SHUTDOWN)
GOVUK_FILE = Path(__file__).parent / "data" / "bank-holidays-england-wales.json"


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("day", "name"),
    [
        (date(2026, 4, 3), "Good Friday"),
        (date(2026, 4, 6), "Easter Monday"),
        (date(2027, 3, 26), "Good Friday"),
        (date(2027, 3, 29), "Easter Monday"),
        (date(2026, 5, 4), "May Day"),
        (date(2026, 5, 25), "Spring Bank Holiday"),
        (date(2026, 8, 31), "Late Summer Bank Holiday"),
        (date(2026, 12, 25), "Christmas Day"),
        (date(2026, 12, 28), "Boxing Day (observed)"),
        (date(2027, 1, 1), "New Year's Day"),
        (date(2027, 12, 27), "Christmas Day (observed)"),
        (date(2027, 12, 28), "Boxing Day (observed)"),
        # The package also names the weekend dates themselves, but each has a substitute
        # weekday, which is the bank holiday (gov.uk lists only the substitute).
        (date(2026, 12, 26), None),
        (date(2027, 12, 25), None),
        (date(2027, 12, 26), None),
        (date(2028, 1, 1), None),
        (date(2028, 1, 3), "New Year's Day (observed)"),
        (date(2026, 4, 2), None),
        (date(2026, 4, 7), None),
        (date(2026, 12, 24), None),
        (date(2026, 12, 29), None),  # a closure, not a bank holiday
    ],
)
def test_is_bank_holiday(day: date, name: str | None) -> None:
    assert is_bank_holiday(day, HOURS) == name


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 11, 30), True),  # Monday
        (date(2026, 12, 4), True),  # Friday
        (date(2026, 11, 28), False),  # Saturday
        (date(2026, 11, 29), False),  # Sunday
        (date(2026, 4, 2), True),  # Thursday before Easter
        (date(2026, 4, 3), False),  # Good Friday
        (date(2026, 4, 6), False),  # Easter Monday
        (date(2026, 4, 7), True),
        (date(2027, 3, 26), False),
        (date(2027, 3, 29), False),
        (date(2026, 5, 4), False),
        (date(2026, 5, 25), False),
        (date(2026, 8, 31), False),
        (date(2026, 12, 24), True),
        (date(2026, 12, 25), False),
        (date(2026, 12, 28), False),  # Boxing Day substitute
        (date(2026, 12, 29), False),  # shutdown
        (date(2026, 12, 30), False),
        (date(2026, 12, 31), False),
        (date(2027, 1, 1), False),
        (date(2027, 1, 4), True),
        (date(2027, 12, 24), True),
        (date(2027, 12, 27), False),
        (date(2027, 12, 28), False),
        (date(2027, 12, 29), True),  # the 2026 shutdown dates don't recur
    ],
)
def test_is_working_day(day: date, working: bool) -> None:
    assert is_working_day(day, HOURS) is working


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (london(2026, 12, 2, 8, 59, 59), False),
        (london(2026, 12, 2, 9, 0), True),
        (london(2026, 12, 2, 16, 59, 59), True),
        (london(2026, 12, 2, 17, 0), False),
        (london(2026, 12, 5, 12, 0), False),  # Saturday
        (london(2026, 4, 3, 12, 0), False),  # Good Friday
        (london(2026, 12, 30, 12, 0), False),  # shutdown
        # GMT: local time equals UTC.
        (utc(2026, 3, 27, 8, 59, 59), False),
        (utc(2026, 3, 27, 9, 0), True),
        (utc(2026, 3, 27, 16, 59, 59), True),
        (utc(2026, 3, 27, 17, 0), False),
        # BST from Sunday 29 March: 09:00-17:00 local is 08:00-16:00 UTC.
        (utc(2026, 3, 30, 7, 59, 59), False),
        (utc(2026, 3, 30, 8, 0), True),
        (utc(2026, 3, 30, 15, 59, 59), True),
        (utc(2026, 3, 30, 16, 0), False),
        (utc(2026, 10, 23, 8, 0), True),
        (utc(2026, 10, 23, 16, 0), False),
        # Back to GMT from Sunday 25 October.
        (utc(2026, 10, 26, 8, 59, 59), False),
        (utc(2026, 10, 26, 9, 0), True),
        (utc(2026, 10, 26, 16, 59, 59), True),
        (utc(2026, 10, 26, 17, 0), False),
        # Any timezone is accepted: 09:30 in New York is 14:30 in London.
        (datetime(2026, 12, 2, 9, 30, tzinfo=ZoneInfo("America/New_York")), True),
    ],
)
def test_is_open(at: datetime, expected: bool) -> None:
    assert is_open(at, HOURS) is expected


def test_naive_datetime_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        is_open(datetime(2026, 12, 2, 12, 0), HOURS)


@pytest.mark.parametrize(
    ("day", "opens", "closes"),
    [
        (date(2026, 3, 27), utc(2026, 3, 27, 9), utc(2026, 3, 27, 17)),
        (date(2026, 3, 30), utc(2026, 3, 30, 8), utc(2026, 3, 30, 16)),
        (date(2026, 10, 23), utc(2026, 10, 23, 8), utc(2026, 10, 23, 16)),
        (date(2026, 10, 26), utc(2026, 10, 26, 9), utc(2026, 10, 26, 17)),
    ],
)
def test_opening_and_closing_time_follow_the_clock_change(
    day: date, opens: datetime, closes: datetime
) -> None:
    assert opening_time(day, HOURS) == opens
    assert closing_time(day, HOURS) == closes
    assert opening_time(day, HOURS).utcoffset() == timedelta(0)


@pytest.mark.parametrize("day", [date(2026, 11, 28), date(2026, 4, 3), date(2026, 12, 30)])
def test_opening_time_of_a_non_working_day_is_an_error(day: date) -> None:
    with pytest.raises(ValueError, match="not a working day"):
        opening_time(day, HOURS)


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (date(2026, 12, 2), date(2026, 12, 3)),
        (date(2026, 11, 27), date(2026, 11, 30)),  # Friday -> Monday
        (date(2026, 11, 28), date(2026, 11, 30)),
        (date(2026, 4, 2), date(2026, 4, 7)),  # over Easter
        (date(2026, 12, 24), date(2027, 1, 4)),  # over Christmas and the shutdown
        (date(2027, 12, 24), date(2027, 12, 29)),
    ],
)
def test_next_working_day(after: date, expected: date) -> None:
    assert next_working_day(after, HOURS) == expected


def test_next_working_day_with_no_hours_names_the_problem() -> None:
    with pytest.raises(ValueError, match="check the weekly hours"):
        next_working_day(date(2026, 12, 2), OpeningHours(weekly={}))


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (london(2026, 12, 2, 8, 0), utc(2026, 12, 2, 9)),  # later today
        (london(2026, 12, 2, 12, 0), utc(2026, 12, 2, 9)),  # open now
        (london(2026, 12, 2, 17, 0), utc(2026, 12, 3, 9)),  # just closed
        (london(2026, 11, 27, 18, 0), utc(2026, 11, 30, 9)),  # Friday evening
        (london(2026, 12, 24, 17, 30), utc(2027, 1, 4, 9)),
        (london(2026, 10, 23, 18, 0), utc(2026, 10, 26, 9)),  # over the change to GMT
        (london(2026, 3, 27, 18, 0), utc(2026, 3, 30, 8)),  # over the change to BST
    ],
)
def test_next_opening(at: datetime, expected: datetime) -> None:
    assert next_opening(at, HOURS) == expected


@pytest.mark.parametrize(
    ("left_at_london", "callback_day", "release_utc", "due_utc"),
    [
        # Wednesday, either side of closing: both due Thursday.
        ("2026-12-02 16:59", "2026-12-03", "09:00Z", "17:00Z"),
        ("2026-12-02 17:01", "2026-12-03", "09:00Z", "17:00Z"),
        # Friday, either side of closing, and the weekend: all due Monday.
        ("2026-11-27 16:59", "2026-11-30", "09:00Z", "17:00Z"),
        ("2026-11-27 17:01", "2026-11-30", "09:00Z", "17:00Z"),
        ("2026-11-28 11:00", "2026-11-30", "09:00Z", "17:00Z"),
        ("2026-11-29 23:59", "2026-11-30", "09:00Z", "17:00Z"),
        # Before opening on a working day still counts that day as the day received.
        ("2026-11-30 08:00", "2026-12-01", "09:00Z", "17:00Z"),
        # Christmas Eve: 25 Dec, weekend, 28 Dec substitute, 29-31 shutdown, 1 Jan, weekend.
        ("2026-12-24 10:00", "2027-01-04", "09:00Z", "17:00Z"),
        # Thursday before Easter: Good Friday, weekend, Easter Monday; BST.
        ("2026-04-02 12:00", "2026-04-07", "08:00Z", "16:00Z"),
        # Friday evening in BST; the callback day is back in GMT.
        ("2026-10-23 18:00", "2026-10-26", "09:00Z", "17:00Z"),
    ],
)
def test_callback_window(
    left_at_london: str, callback_day: str, release_utc: str, due_utc: str
) -> None:
    left_at = datetime.fromisoformat(left_at_london).replace(tzinfo=LONDON)
    window = callback_window(left_at, HOURS)
    assert window == CallbackWindow(
        received_on=left_at.date(),
        callback_day=date.fromisoformat(callback_day),
        release_at=datetime.fromisoformat(f"{callback_day}T{release_utc}"),
        due_at=datetime.fromisoformat(f"{callback_day}T{due_utc}"),
    )
    assert window.release_at.utcoffset() == timedelta(0)


def test_callback_window_uses_the_london_date_not_the_utc_date() -> None:
    # 23:30 UTC on Friday 23 Oct is 00:30 BST on Saturday 24 Oct in London.
    window = callback_window(utc(2026, 10, 23, 23, 30), HOURS)
    assert window.received_on == date(2026, 10, 24)
    assert window.callback_day == date(2026, 10, 26)
    # 23:30 UTC on Thursday 22 Oct is Friday in London, so the callback is Monday, not Friday.
    assert callback_window(utc(2026, 10, 22, 23, 30), HOURS).callback_day == date(2026, 10, 26)


def test_every_govuk_bank_holiday_and_no_other_weekday() -> None:
    """gov.uk's England and Wales list for 2025-2027 agrees with the holidays package."""
    if not GOVUK_FILE.exists():
        pytest.skip(f"{GOVUK_FILE} not present")
    entries = json.loads(GOVUK_FILE.read_text(encoding="utf-8"))["bank_holidays"]
    govuk = {
        date.fromisoformat(e["date"])
        for e in entries
        if "gov.uk" in e["sources"] and e["date"][:4] in {"2025", "2026", "2027"}
    }
    assert len(govuk) == 24  # 8 a year
    missing = sorted(d for d in govuk if is_bank_holiday(d, HOURS) is None)
    assert missing == []
    day, extra = date(2025, 1, 1), []
    while day.year < 2028:
        if day not in govuk and is_bank_holiday(day, HOURS):
            extra.append(day)
        day += timedelta(days=1)
    assert extra == []  # weekend dates included: a weekend is never a bank holiday here


def test_the_package_dates_govuk_says_are_not_bank_holidays_are_not() -> None:
    """The reference lists the package's weekend entries (actual dates of moved holidays)."""
    if not GOVUK_FILE.exists():
        pytest.skip(f"{GOVUK_FILE} not present")
    data = json.loads(GOVUK_FILE.read_text(encoding="utf-8"))
    entries = data["holidays_pkg_entries_that_are_not_bank_holidays"]
    days = [date.fromisoformat(e["date"]) for e in entries]
    assert date(2026, 12, 26) in days
    assert all(HOURS.bank_holidays().get(d) for d in days)  # the package does name them
    assert [d for d in days if is_bank_holiday(d, HOURS)] == []


SATURDAY_MORNING = (time(9), time(12, 30))
WITH_SATURDAY = OpeningHours(weekly={**WEEKLY, 5: SATURDAY_MORNING})


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (london(2026, 12, 26, 10, 0), True),  # Sat, Boxing Day's own date: open
        (london(2026, 12, 28, 10, 0), False),  # Mon, the Boxing Day bank holiday
        (london(2027, 12, 25, 10, 0), True),  # Sat, Christmas Day's own date
        (london(2027, 12, 27, 10, 0), False),  # Mon substitute for Christmas Day
        (london(2027, 12, 28, 10, 0), False),  # Tue substitute for Boxing Day
        (london(2028, 1, 1, 10, 0), True),  # Sat, New Year's Day's own date
        (london(2028, 1, 3, 10, 0), False),  # Mon substitute
        (london(2026, 12, 19, 10, 0), True),  # an ordinary Saturday
        (london(2026, 12, 26, 13, 0), False),  # after the Saturday close
    ],
)
def test_saturday_opening_on_the_date_of_a_moved_holiday(at: datetime, expected: bool) -> None:
    assert is_open(at, WITH_SATURDAY) is expected


def test_saturday_opening_callbacks_and_next_opening() -> None:
    # A voicemail left on Christmas Day 2026 (Fri) is called back on Sat 26, which is open.
    window = callback_window(london(2026, 12, 25, 11, 0), WITH_SATURDAY)
    assert window.callback_day == date(2026, 12, 26)
    assert window.release_at == utc(2026, 12, 26, 9, 0)
    # One left on Saturday 26 is due Tuesday 29: Sunday closed, Monday 28 the bank holiday.
    assert next_working_day(date(2026, 12, 26), WITH_SATURDAY) == date(2026, 12, 29)
    assert next_opening(london(2026, 12, 24, 18, 0), WITH_SATURDAY) == utc(2026, 12, 26, 9, 0)


@pytest.mark.parametrize(
    ("weekly", "spoken"),
    [
        (WEEKLY, "Monday to Friday, 9am to 5pm"),
        (
            {**WEEKLY, 4: (time(9), time(16, 30))},
            "Monday to Thursday, 9am to 5pm, and Friday, 9am to 4:30pm",
        ),
        (
            {0: (time(8, 30), time(12)), 1: (time(8, 30), time(12)), 5: (time(10), time(13))},
            "Monday and Tuesday, 8:30am to 12 noon, and Saturday, 10am to 1pm",
        ),
        (
            {0: NINE_TO_FIVE, 1: None, 2: NINE_TO_FIVE, 3: NINE_TO_FIVE},
            "Monday, 9am to 5pm, and Wednesday and Thursday, 9am to 5pm",
        ),
        (
            {
                0: NINE_TO_FIVE,
                1: (time(10), time(17)),
                2: (time(10), time(17)),
                3: (time(10), time(17)),
                4: (time(9), time(16, 30)),
            },
            "Monday, 9am to 5pm, Tuesday to Thursday, 10am to 5pm, and Friday, 9am to 4:30pm",
        ),
        ({}, "closed every day"),
    ],
)
def test_describe_weekly_hours(weekly: dict[int, tuple[time, time] | None], spoken: str) -> None:
    assert describe_weekly_hours(weekly) == spoken


@pytest.mark.parametrize(
    ("t", "spoken"),
    [
        (time(9), "9am"),
        (time(12), "12 noon"),
        (time(12, 30), "12:30pm"),
        (time(16, 30), "4:30pm"),
        (time(17, 5), "5:05pm"),
        (time(0), "12 midnight"),
        (time(0, 15), "12:15am"),
    ],
)
def test_spoken_time(t: time, spoken: str) -> None:
    assert spoken_time(t) == spoken


@pytest.mark.parametrize(
    ("day", "today", "spoken"),
    [
        (date(2026, 11, 27), date(2026, 11, 27), "today"),
        (date(2026, 11, 28), date(2026, 11, 27), "tomorrow"),
        (date(2026, 11, 30), date(2026, 11, 27), "Monday 30 November"),
        (date(2027, 1, 4), date(2026, 12, 24), "Monday 4 January"),
        (date(2026, 12, 31), date(2026, 12, 31), "today"),
        (date(2027, 1, 1), date(2026, 12, 31), "tomorrow"),
        (date(2026, 11, 26), date(2026, 11, 27), "Thursday 26 November"),
    ],
)
def test_spoken_day(day: date, today: date, spoken: str) -> None:
    assert spoken_day(day, today) == spoken


@pytest.mark.parametrize(
    ("weekly", "message"),
    [
        ({7: NINE_TO_FIVE}, "not a weekday number"),
        ({0: (time(17), time(9))}, "Monday opens at 17:00:00 but closes at 09:00:00"),
    ],
)
def test_bad_weekly_hours_fail_at_construction(
    weekly: dict[int, tuple[time, time] | None], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        OpeningHours(weekly=weekly)


def test_opening_hours_is_read_only_and_shares_the_holiday_calendar() -> None:
    source = dict(WEEKLY)
    hours = OpeningHours(weekly=source, closures={date(2026, 12, 29)})  # type: ignore[arg-type]
    source[5] = NINE_TO_FIVE
    assert hours.weekly.get(5) is None
    assert isinstance(hours.closures, frozenset)
    with pytest.raises(TypeError):
        hours.weekly[5] = NINE_TO_FIVE  # type: ignore[index]
    assert hours.bank_holidays() is HOURS.bank_holidays()
