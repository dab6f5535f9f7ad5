"""Which callbacks the worklist shows: filters, number search, sort by due, paging (pure)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ivr.console.worklist_view import Filters, number_digits, page_of, parse

DEPTS = ["council_tax", "housing"]


@dataclass
class Card:
    id: str
    department: str
    due_ts: float
    digits: str = ""


def cards(prefix: str, n: int, dept: str = "council_tax", start: float = 0) -> list[Card]:
    return [Card(f"{prefix}{i}", dept, start + 10 * (n - i), f"4479111234{i:02d} 079111234{i:02d}")
            for i in range(n)]


@pytest.mark.parametrize("typed, digits", [
    ("07911 123456", "7911123456"), ("+44 7911 123456", "7911123456"),
    ("7911-123-456", "7911123456"), ("456", "456"), ("", ""), ("abc", ""),
])
def test_number_digits(typed, digits):
    assert number_digits(typed) == digits


def test_parse_keeps_only_known_values():
    assert parse({"department": "housing", "show": "due", "order": "due_desc", "page": "3",
                  "number": "07911"}, DEPTS) == Filters("housing", "due", "7911", "due_desc", 3)
    assert parse({"department": "<script>", "show": "x", "order": "y", "page": "-5"},
                 DEPTS) == Filters("", "all", "", "due", 1)
    assert parse({"page": "lots"}, DEPTS).page == 1


def test_sections_in_order_sorted_by_due_and_paged():
    sections = {"overdue": cards("o", 4), "due": cards("d", 12, start=1000),
                "scheduled": cards("s", 2), "closed": []}
    first = page_of(sections, Filters())
    assert (first.total, first.pages, first.first, first.last) == (18, 2, 1, 10)
    assert [c.id for c in first.sections["overdue"]] == ["o3", "o2", "o1", "o0"]  # soonest due
    assert len(first.sections["due"]) == 6 and first.sections["scheduled"] == []
    assert first.totals == {"overdue": 4, "due": 12, "scheduled": 2, "closed": 0}
    second = page_of(sections, Filters(page=2))
    assert (second.first, second.last) == (11, 18)
    assert [c.id for c in second.sections["due"]] == ["d5", "d4", "d3", "d2", "d1", "d0"]
    assert len(second.sections["scheduled"]) == 2
    beyond = page_of(sections, Filters(page=99))
    assert beyond.page == 2  # the last page, not an empty one
    latest = page_of(sections, Filters(order="due_desc", show="overdue"))
    assert list(latest.sections) == ["overdue"]
    assert [c.id for c in latest.sections["overdue"]] == ["o0", "o1", "o2", "o3"]


def test_department_state_and_number_filters():
    sections = {"overdue": cards("o", 3) + cards("h", 2, "housing"), "due": cards("d", 3),
                "scheduled": [], "closed": []}
    housing = page_of(sections, Filters(department="housing"))
    assert [c.id for c in housing.sections["overdue"]] == ["h1", "h0"]
    assert housing.sections["due"] == []
    open_only = page_of(sections, Filters(show="open"))
    assert list(open_only.sections) == ["overdue", "due"]
    one = page_of(sections, Filters(number=number_digits("07911 123401")))
    assert [c.id for n in one.sections.values() for c in n] == ["h1", "o1", "d1"]  # by due
    none = page_of(sections, Filters(number="999"))
    assert (none.total, none.first, none.pages) == (0, 0, 1)
