# ruff: noqa: F811 - pytest fixtures imported from the browser tests, used as arguments
"""The supervisor's figures and the worklist at scale, driven in chromium.

Live view: per advisor today (calls, average handle time, occupancy, FCR, callbacks made) and
per queue today (offered, service level, abandons, average answer), long waits marked in
colour and words, all updated in place. Worklist: filter by department and state, search by
number, sort by due, paging; claimed-by and overdue-by on the cards. The day is
``test_accessibility.busy_day``; its figures are worked out by hand below.
"""

from __future__ import annotations

import re
import time

import pytest
from test_accessibility import SIZES, day, shoot  # noqa: F401 - fixture
from test_console_browser import (  # noqa: F401 - fixtures
    WAIT_MS,
    _missing,
    browser,
    page,
    problems,
    server,
    sign_in,
)

from ivr import events
from ivr.events import Event
from voicemail.callbacks import CLAIM
from voicemail.tasks import TASK, WORKLIST

pytestmark = pytest.mark.skipif(bool(_missing), reason="browser tests need " + " and ".join(
    _missing or ["nothing"]))


def cells(pg, selector: str) -> list[str]:
    return [t.strip() for t in pg.locator(selector).all_inner_texts()]


def test_live_view_figures_and_long_waits(page, day, redis_client):
    """Tara: 1 call answered, on calls and wrap-up 100 s (60 + 40), available 300 s before
    and 500 s since: AHT 1:40, occupancy 100 / 900 = 11%, FCR 1 of 1. Council Tax today: CAd0
    (35 s) and CAd1 (80 s) answered, CAd3 hung up: offered 3, SL 2/3 = 67%, 1 abandoned,
    average answer 57.5 s = 0:58. Housing: answered after 150 s and taken to voicemail at
    120 s: offered 2, SL 0%, average answer 2:30."""
    from playwright.sync_api import expect

    sign_in(page, day["staff"]["super"].id)
    tara = page.locator(f'#agent-rows tr[data-agent="{day["staff"]["tax"].id}"]')
    expect(tara.locator("td")).to_have_text(["Available", re.compile(r"^8 minutes \d+ seconds$"),
                                             "1", "1:40", "11%", "100%", "0"],
                                            timeout=WAIT_MS, use_inner_text=True)
    tax = page.locator('#dept-rows tr[data-dept="council_tax"]')
    expect(tax.locator("td").nth(2)).to_have_text("3")
    assert cells(page, '#dept-rows tr[data-dept="council_tax"] td')[2:] == [
        "3", "67%", "1", "0:58"]
    assert cells(page, '#dept-rows tr[data-dept="housing"] td')[2:] == ["2", "0%", "0", "2:30"]
    # Long waits: council tax's caller has waited 100 s (amber), housing's 130 s (red), said
    # in words and a sign as well as colour.
    expect(tax).to_have_attribute("data-level", "amber")
    expect(tax.locator("td.wait")).to_contain_text("near the limit")
    housing = page.locator('#dept-rows tr[data-dept="housing"]')
    expect(housing).to_have_attribute("data-level", "red")
    expect(housing.locator("td.wait")).to_contain_text("over the limit")
    assert page.locator("td.wait.red").evaluate("e => getComputedStyle(e).backgroundColor") \
        == "rgb(164, 22, 26)"

    # Another caller answered by Tara, and a callback she made: her row follows, no reload.
    page.evaluate("window.notReloaded = true")
    now = time.time()
    pipe = redis_client.pipeline(transaction=False)
    for kind, call, ts, dept, data in [
            (Event.ENTER_QUEUE, "CAlive", now - 20, "council_tax", {}),
            (Event.CONNECT, "CAlive", now - 1, "council_tax",
             {"wait": 19, "agent": day["staff"]["tax"].id}),
            (Event.CALLBACK_ATTEMPT, "CAcb", now - 0.5, "council_tax",
             {"task": day["tasks"][0], "agent": day["staff"]["tax"].id, "outcome": "no-answer",
              "attempt": 1})]:
        events.add(pipe, events.fields(kind, call, ts, dept, **data), None)
    pipe.execute()
    expect(tara.locator("td").nth(2)).to_have_text("2", timeout=WAIT_MS)
    expect(tara.locator("td").nth(6)).to_have_text("1", timeout=WAIT_MS)
    expect(tax.locator("td").nth(2)).to_have_text("4", timeout=WAIT_MS)
    assert page.evaluate("window.notReloaded") is True
    shoot(page, "live-figures")


def many_tasks(r, n: int, day: dict) -> list[str]:
    """``n`` open callbacks more (half council tax, half housing), due from 2 hours ago on."""
    now = time.time()
    ids = []
    for i in range(n):
        task_id = f"CB{i:020x}"
        dept = "council_tax" if i % 2 == 0 else "housing"
        due = now - 7200 + 600 * i
        r.hset(TASK.format(id=task_id), mapping={
            "id": task_id, "status": "open", "number": f"+4479111200{i:02d}",
            "department": dept, "created_at": now - 86400, "due_at": due,
            "release_at": now - 3600, "attempts": 0})
        r.zadd(WORKLIST, {task_id: due})
        ids.append(task_id)
    r.set(CLAIM.format(id=ids[0]), day["staff"]["long"].id, ex=600)
    return ids


def test_worklist_filters_search_sort_and_pages(page, day, redis_client):
    from playwright.sync_api import expect

    ids = many_tasks(redis_client, 14, day)  # with the day's 3: 17 open callbacks
    sign_in(page, day["staff"]["super"].id)
    page.goto("/console/callbacks")
    expect(page.locator("#worklist")).to_contain_text("Showing 1–10 of 17 callbacks")
    overdue = page.locator("#overdue article.task")
    first = overdue.first
    expect(first).to_have_attribute("data-task", ids[0])  # the earliest due first
    expect(first.locator(".overdue-by")).to_contain_text("2 h 0 min")
    expect(first.locator(".claimed-by")).to_have_text(day["staff"]["long"].name)
    expect(page.locator("ol.attempts li", has_text="No attempts yet")).to_have_count(0)
    expect(first.locator("p.attempts")).to_have_text("No attempts yet.")
    shoot(page, "callbacks-many")

    page.get_by_role("button", name="Next page").click()
    expect(page.locator("#worklist")).to_contain_text("Showing 11–17 of 17")
    page.get_by_role("button", name="Previous page").click()
    expect(page.locator("#worklist")).to_contain_text("Showing 1–10 of 17")

    page.get_by_label("Department").select_option("housing")
    page.get_by_label("Sort").select_option("due_desc")
    page.get_by_role("button", name="Apply").click()
    shown = [t for t in page.locator("article.task").evaluate_all(
        "cards => cards.map(c => c.dataset.task)")]
    housing = [t for i, t in enumerate(ids) if i % 2 == 1]
    assert set(housing) <= set(shown) and not set(ids[::2]) & set(shown)
    for section in ("overdue", "due"):  # each section latest due first, as chosen
        listed = page.locator(f"#{section} article.task").evaluate_all(
            "cards => cards.map(c => c.dataset.task)")
        dues = [float(redis_client.hget(TASK.format(id=t), "due_at")) for t in listed]
        assert dues == sorted(dues, reverse=True)

    page.get_by_label("Show").select_option("overdue")
    page.get_by_label("Number contains").fill("07911 120003")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("article.task")).to_have_count(1)
    expect(page.locator("article.task")).to_have_attribute("data-task", ids[3])
    assert "07911" not in page.url and "120003" not in page.url  # never in a URL
    page.get_by_role("button", name="Clear filters").click()
    expect(page.locator("#worklist")).to_contain_text("of 17 callbacks")
