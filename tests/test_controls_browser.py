"""The Controls page and the advisor controls in a real browser (Playwright, Debian's
chromium; fixtures from test_console_browser): each control driven as a supervisor would, the
closure set with the keyboard alone, and the effect heard by the next caller of the same
running app. Screenshots at 1366x768 and 390 px wide go to test-artifacts/ (named
``controls-<page>-<width>.png``; the run prints the directory)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import test_console_browser as tcb
from test_console import add_agent
from test_console_browser import ARTIFACTS, LANDLINE, sign_in, sync_playwright

from ivr import agents, controls_store

if sync_playwright is not None:
    from playwright.sync_api import expect
from ivr.agents import Role, State

pytestmark = tcb.pytestmark
browser, server, problems, page = tcb.browser, tcb.server, tcb.problems, tcb.page  # fixtures
LONDON = ZoneInfo("Europe/London")
SIZES = {"1366": (1366, 768), "390": (390, 844)}
CLOSURE_SAID = "Our contact centre is closed today for staff training. Please call tomorrow."
TAKEN: list[str] = []


AXE_VIOLATIONS: dict[str, int] = {}


def axe_violations(pg) -> list[str]:
    """axe-core's WCAG 2.x A/AA violations on the page as it is (rule: nodes)."""
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(pg, options={"runOnly": {"type": "tag", "values": [
        "wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]}}).response["violations"]
    return [f"{v['id']}: {[n['target'] for n in v['nodes']]}" for v in found]


def shots(pg, name: str) -> None:
    """Full-page screenshots of this page at both widths, each checked by axe-core first;
    back to the test's own size."""
    ARTIFACTS.mkdir(exist_ok=True)
    before = pg.viewport_size
    for label, (w, h) in SIZES.items():
        pg.set_viewport_size({"width": w, "height": h})
        path = ARTIFACTS / f"controls-{name}-{label}.png"
        problems = axe_violations(pg)
        AXE_VIOLATIONS[f"{name}-{label}"] = len(problems)
        assert problems == [], problems
        pg.screenshot(path=str(path), full_page=True)
        TAKEN.append(path.name)
    pg.set_viewport_size(before)


@pytest.fixture(scope="module", autouse=True)
def _say_where_the_screenshots_are():
    yield
    if TAKEN:
        print(f"\nscreenshots in {ARTIFACTS}: {', '.join(sorted(set(TAKEN)))}")
        print(f"axe-core WCAG 2.2 A/AA violations per page: {AXE_VIOLATIONS}")


@pytest.fixture
def team(redis_client):
    now = time.time()
    sup = add_agent(redis_client, "Sam Supervisor", (), "+447911123401", Role.SUPERVISOR)
    tax = add_agent(redis_client, "Tara Tax", ("council_tax",), "+447911123402")
    tax = agents.set_state(redis_client, tax, State.AVAILABLE, now)
    ben = add_agent(redis_client, "Ben Benefits", ("benefits",), "")
    return {"super": sup, "tax": tax, "ben": ben}


def test_a_closure_set_with_the_keyboard_alone_is_heard_on_the_next_call(
        page, team, make_caller):
    sign_in(page, team["super"].id)
    page.get_by_role("link", name="Controls").click()
    radio = page.get_by_label("A whole day (callbacks move to the next working day)")
    tabs = 0
    page.locator("body").focus()
    while not radio.evaluate("e => e === document.activeElement") and tabs < 40:
        if page.evaluate("document.activeElement.name") == "kind":
            page.keyboard.press("ArrowDown")  # within the radio group: the next choice
        else:
            page.keyboard.press("Tab")
        tabs += 1
    expect_checked = radio.is_checked()
    assert expect_checked, f"the whole-day choice not reached in {tabs} key presses"
    while page.evaluate("document.activeElement.id") != "closure-message" and tabs < 80:
        page.keyboard.press("Tab")
        tabs += 1
    page.keyboard.type(CLOSURE_SAID)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Set the closure"
    page.keyboard.press("Enter")
    page.wait_for_url("**/console/controls")
    expect(page.get_by_text("Closure set:")).to_be_visible()
    row = page.locator("tr[data-closure]")
    assert "all day" in row.inner_text() and "In force" in row.inner_text()
    shots(page, "page")

    doc = make_caller(LANDLINE).ring()  # the same running app: no restart
    assert CLOSURE_SAID in doc.text and "Please choose" not in doc.text

    page.get_by_role("button", name=re.compile(r"End now\W+the closure")).click()
    expect(page.get_by_text("The closure has ended.")).to_be_visible()
    assert CLOSURE_SAID not in make_caller(LANDLINE).ring().text


def test_an_announcement_and_a_closed_queue(page, team, make_caller, redis_client):
    sign_in(page, team["super"].id)
    page.goto("/console/controls")
    tomorrow = (datetime.now(UTC).astimezone(LONDON) + timedelta(days=1)).date().isoformat()
    page.get_by_label("Who hears it").select_option(label="Every caller (after the recording "
                                                          "notice)")
    page.get_by_label("End date").fill(tomorrow)
    page.get_by_label("End time").fill("12:00")
    page.locator("#announcement-message").fill("Our payments website is down; please call "
                                               "back later to pay.")
    page.get_by_role("button", name="Set the announcement").click()
    expect(page.get_by_text("Announcement set:")).to_be_visible()
    assert "Every caller" in page.locator("tr[data-announcement]").inner_text()
    doc = make_caller(LANDLINE).ring()
    says = [s.text for s in doc.all("Say")]
    assert says[says.index("Calls may be recorded for training and monitoring purposes.") + 1] \
        == "Our payments website is down; please call back later to pay."

    page.get_by_role("button", name="Close the Housing queue").click()
    expect(page.locator('tr[data-queue="housing"]').get_by_text("Closed")).to_be_visible()
    assert "housing" in controls_store.load(redis_client).queues_closed
    page.get_by_label("We are aware of a problem").check()
    page.locator("#emergency-message").fill("We are aware that the Colchester bin rounds are "
                                            "running late.")
    page.get_by_role("button", name="Switch the emergency on").click()
    expect(page.get_by_text("On (said to every caller)")).to_be_visible()
    shots(page, "page-in-use")
    assert "bin rounds are running late" in make_caller(LANDLINE).ring().text


def test_force_sign_out_edit_and_confirmed_remove(page, team, redis_client):
    sup, tax, ben = team["super"], team["tax"], team["ben"]
    sign_in(page, sup.id)
    page.get_by_role("link", name="Agents").click()
    page.get_by_role("button", name=re.compile(rf"Sign out\W+Tara Tax \({tax.id}\)")).click()
    expect(page.get_by_text("Tara Tax is now signed out.")).to_be_visible()
    assert agents.get(redis_client, tax.id).state is State.SIGNED_OUT
    page.get_by_role("link", name="Live view").click()
    row = page.locator(f'#agent-rows tr[data-agent="{tax.id}"]')
    assert f"Signed out: set by {sup.id}" in row.inner_text()

    page.goto("/console/agents")
    shots(page, "agents")
    page.get_by_role("link", name=re.compile(rf"Edit\W+Ben Benefits \({ben.id}\)")).click()
    page.get_by_label("Name").fill("Ben Benefits-Smith")
    page.get_by_label("Housing").check()
    page.get_by_label("Phone (empty: none)").fill("07911 123488")
    shots(page, "agent-edit")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text(f"Saved agent {ben.id}")).to_be_visible()
    edited = agents.get(redis_client, ben.id)
    assert (edited.name, edited.departments, edited.phone) == (
        "Ben Benefits-Smith", ("benefits", "housing"), "+447911123488")

    page.goto("/console/agents")
    page.get_by_role("link", name=re.compile(rf"Remove…\W*Ben Benefits-Smith \({ben.id}\)")).click()
    expect(page.get_by_role("heading", name=re.compile("Remove agent"))).to_be_visible()
    shots(page, "agent-remove")
    page.get_by_role("link", name="No, keep them").click()
    assert agents.get(redis_client, ben.id) is not None
    page.get_by_role("link", name=re.compile(rf"Remove…\W*Ben Benefits-Smith \({ben.id}\)")).click()
    page.get_by_role("button", name="Yes, remove Ben Benefits-Smith").click()
    expect(page.get_by_text(f"Removed agent {ben.id}.")).to_be_visible()
    assert agents.get(redis_client, ben.id) is None


def test_an_advisor_sets_their_own_state(page, team, redis_client):
    sign_in(page, team["tax"].id)
    page.get_by_role("link", name="My state").click()
    expect(page.get_by_role("heading", name="You are available")).to_be_visible()
    page.get_by_role("button", name="On a break").click()
    expect(page.get_by_role("heading", name="You are on a break")).to_be_visible()
    assert agents.get(redis_client, team["tax"].id).state is State.ON_BREAK
    shots(page, "my-state")
    page.get_by_role("button", name="Available").click()
    assert agents.get(redis_client, team["tax"].id).state is State.AVAILABLE

