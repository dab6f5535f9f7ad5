"""Which callbacks the worklist shows: filtered by department, state and number, sorted by
due time, a page at a time. Pure (no Flask, no Redis): the console passes the rows it read.

The page keeps its sections (overdue, due, scheduled, closed), in that order; a page is
``PAGE_SIZE`` cards taken from them in turn, so a section may continue on the next page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

PAGE_SIZE = 10
SECTIONS = ("overdue", "due", "scheduled", "closed")
SHOW = {"all": "Everything", "open": "Overdue and due", "overdue": "Overdue", "due": "Due",
        "scheduled": "Scheduled", "closed": "Done and unreachable"}
ORDERS = {"due": "Due soonest first", "due_desc": "Due latest first"}
NOT_DIGITS = re.compile(r"\D")


class Card(Protocol):
    department: str
    due_ts: float
    digits: str


@dataclass(frozen=True)
class Filters:
    department: str = ""  # "" for every department the viewer sees
    show: str = "all"
    number: str = ""  # digits to look for in the number
    order: str = "due"
    page: int = 1

    def as_dict(self) -> dict[str, Any]:
        return {"department": self.department, "show": self.show, "number": self.number,
                "order": self.order, "page": self.page}


def number_digits(text: str) -> str:
    """What a search for a number looks for: its digits, without the 0 or +44 prefix (so
    '07911 123456', '+44 7911 123456' and '7911123456' find the same resident)."""
    digits = NOT_DIGITS.sub("", text or "")[:15]
    if digits.startswith("44") and len(digits) > 4:
        return digits[2:]
    return digits[1:] if digits.startswith("0") else digits


def parse(form: Mapping[str, str], departments: Sequence[str]) -> Filters:
    """Filters from a submitted form; anything unknown falls back to its default."""
    try:
        page = max(1, min(int(form.get("page", "1") or 1), 10_000))
    except ValueError:
        page = 1
    dept = form.get("department", "")
    show = form.get("show", "all")
    order = form.get("order", "due")
    return Filters(department=dept if dept in departments else "",
                   show=show if show in SHOW else "all",
                   number=number_digits(form.get("number", "")),
                   order=order if order in ORDERS else "due", page=page)


def matches(card: Card, filters: Filters) -> bool:
    if filters.department and card.department != filters.department:
        return False
    return not filters.number or filters.number in card.digits


def shown_sections(show: str) -> tuple[str, ...]:
    if show == "all":
        return SECTIONS
    if show == "open":
        return ("overdue", "due")
    return (show,)


@dataclass
class Page:
    filters: Filters
    sections: dict[str, list[Any]] = field(default_factory=dict)  # this page's cards
    totals: dict[str, int] = field(default_factory=dict)  # cards matching, all pages
    page: int = 1
    pages: int = 1
    first: int = 0  # 1-based number of the first card shown (0: none)
    last: int = 0
    total: int = 0


def page_of(sections: Mapping[str, Sequence[Card]], filters: Filters,
            size: int = PAGE_SIZE) -> Page:
    """The cards to show: those matching ``filters`` in the sections it shows, sorted by due
    time (ties keep their order), and the page asked for (the last one if beyond it)."""
    wanted = shown_sections(filters.show)
    chosen = {name: sorted((c for c in sections.get(name, ()) if matches(c, filters)),
                           key=lambda c: c.due_ts, reverse=filters.order == "due_desc")
              for name in wanted}
    flat = [(name, c) for name in wanted for c in chosen[name]]
    pages = max(1, -(-len(flat) // size))
    page = min(filters.page, pages)
    part = flat[(page - 1) * size:page * size]
    out = Page(filters=filters, totals={n: len(chosen[n]) for n in wanted}, page=page,
               pages=pages, total=len(flat))
    out.sections = {name: [c for n, c in part if n == name] for name in wanted}
    if part:
        out.first, out.last = (page - 1) * size + 1, (page - 1) * size + len(part)
    return out
