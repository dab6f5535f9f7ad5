# ruff: noqa: F811 - pytest fixtures imported from test_console_browser, used as arguments
"""WCAG 2.2 AA in a real browser: axe-core on every console page, the kiosk wallboard and the
report, with data on them; keyboard-only journeys; the skip link; live regions that speak
only on change; and screenshots of every page at 1366x768 and 390 px.

axe-core comes bundled in the ``axe-playwright-python`` package (no download at test time).
The console's pages are found from the app's URL map (every GET page under /console), so a
page added later is checked too; a page whose URL needs an argument this test cannot supply
fails the test with its name (add the argument to ``ARGUMENTS``).

The figures (violations per page, screenshot files) are written to
``test-artifacts/accessibility.txt`` and printed with ``pytest -s``.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from caller import COUNCIL_NUMBER
from test_console import PASSWORD, add_agent, leave_voicemail, release
from test_console_browser import (  # noqa: F401 - fixtures
    ARTIFACTS,
    LANDLINE,
    WAIT_MS,
    _missing,
    browser,
    page,
    problems,
    server,
    sign_in,
)
from test_wallboard import visit

from ivr import agents, events, kiosk, report, store
from ivr.agents import Role, State
from ivr.events import Event
from ivr.report import LONDON
from ivr.report.html import render_html

try:
    from axe_playwright_python.sync_playwright import Axe
except ImportError:  # pragma: no cover - depends on the machine
    Axe = None
    if os.environ.get("IVR_REQUIRE_BROWSER") == "1":  # CI: never skip silently
        raise RuntimeError("IVR_REQUIRE_BROWSER=1 but axe-playwright-python is missing "
                           "(.venv/bin/pip install -e '.[dev]')") from None

pytestmark = pytest.mark.skipif(bool(_missing) or Axe is None, reason="browser tests need "
                                + " and ".join(_missing or ["axe-playwright-python"]))

SIZES = {"1366": {"width": 1366, "height": 768}, "390": {"width": 390, "height": 844}}
# WCAG 2.0/2.1/2.2 A and AA, as axe tags them.
WCAG_AA = {"runOnly": {"type": "tag", "values": [
    "wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]}, "resultTypes": ["violations"]}
# Console endpoints that are not pages: audio, JSON, files, the kiosk (checked on its own).
NOT_PAGES = {"console.static", "console.recording", "console.kiosk_board", "console.kiosk_json",
             "console.login"}  # (the sign-in page is checked signed out)
LONG_NAME = "Maximiliana Bartholomew-Featherstonehaugh-Ravenscroftington"  # 60: the most
SUMMARY = ARTIFACTS / "accessibility.txt"


def violations(pg) -> list[dict]:
    """axe-core's WCAG 2.2 AA violations on the page as it is now."""
    result = Axe().run(pg, options=WCAG_AA)
    return result.response["violations"]


def described(found: list[dict]) -> str:
    return "; ".join(f"{v['id']} ({v['impact']}): "
                     f"{[(n['target'], n.get('failureSummary', '')) for n in v['nodes']][:4]}"
                     for v in found)


def shoot(pg, name: str) -> list[str]:
    """Screenshots at 1366x768 and 390 px wide (full page); the file names."""
    ARTIFACTS.mkdir(exist_ok=True)
    names = []
    for size, viewport in SIZES.items():
        pg.set_viewport_size(viewport)
        pg.wait_for_timeout(150)
        file = f"a11y-{name}-{size}.png"
        pg.screenshot(path=str(ARTIFACTS / file), full_page=True)
        names.append(file)
    pg.set_viewport_size(SIZES["1366"])
    return names


def busy_day(r, twilio, make_caller) -> dict:
    """A contact centre mid-morning, around the real time of the run: advisors in every
    state (one with a very long name), callers waiting (one near, one over the limit),
    today's answered, abandoned and voicemail calls, wrap-ups, callbacks due and overdue."""
    staff = {
        "super": add_agent(r, "Sam Supervisor", (), "+447911123401", Role.SUPERVISOR),
        "tax": add_agent(r, "Tara Tax", ("council_tax",), "+447911123402"),
        "long": add_agent(r, LONG_NAME, ("council_tax", "housing"), "+447911123403"),
        "hana": add_agent(r, "Hana Housing", ("housing",), "+447911123404"),
    }
    now = time.time()
    # Stretches in states (each change records how long the previous one lasted).
    for agent, steps in {"tax": [(State.AVAILABLE, 900), (State.ON_CALL, 600),
                                 (State.WRAP_UP, 540), (State.AVAILABLE, 500)],
                         "long": [(State.AVAILABLE, 800), (State.ON_CALL, 300)],
                         "hana": [(State.AVAILABLE, 700), (State.ON_BREAK, 200)]}.items():
        current = staff[agent]
        for state, ago in steps:
            current = agents.set_state(r, current, state, now - ago)
    history = []
    for i, (dept, wait, outcome, who) in enumerate([
            ("council_tax", 35, Event.CONNECT, "tax"), ("council_tax", 80, Event.CONNECT, "long"),
            ("housing", 150, Event.CONNECT, "long"), ("council_tax", 50, Event.ABANDON, ""),
            ("housing", 120, Event.EXIT_TIMEOUT, "")]):
        entered = now - 880 + 20 * i
        for kind, call, ts, d, data in visit(f"CAd{i}", dept, entered, outcome, wait):
            history.append((kind, call, min(ts, now - 1), d,
                            data | ({"agent": staff[who].id} if who else {})))
    history += [(Event.WRAP_UP, "CAline1", now - 530, "", {"agent": staff["tax"].id,
                                                          "caller": "CAd0", "resolved": True})]
    pipe = r.pipeline(transaction=False)
    for kind, call, ts, dept, data in sorted(history, key=lambda x: x[2]):
        events.add(pipe, events.fields(kind, call, ts, dept, **data), None)
    pipe.execute()
    r.zadd(store.queue_key("council_tax"), {"CAq1": now - 100})  # near the limit
    r.zadd(store.queue_key("housing"), {"CAq2": now - 130})  # over it
    tasks = []
    for dept, number in [("council_tax", "+447911123456"), ("council_tax", LANDLINE),
                         ("housing", "+447911123457")]:
        task_id, rec = leave_voicemail(make_caller, dept, number)
        release(r, task_id)
        twilio.recordings[rec] = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 64
        tasks.append(task_id)
    link, token = kiosk.create(r, "Contact centre wall", staff["super"].id, now)
    return {"staff": staff, "tasks": tasks, "kiosk": token, "link": link}


def mid_morning(now: float) -> datetime:
    """The first 10:30 in London at or after ``now``: the day's figures count from London's
    midnight, so a run just after midnight must not see the fixture's last quarter of an hour
    as yesterday. Forward (never back), so cookies the server dates stay unexpired for the
    browser, which keeps the real clock."""
    local = datetime.fromtimestamp(now, LONDON)
    target = local.replace(hour=10, minute=30, second=0, microsecond=0)
    return target if target >= local else target + timedelta(days=1)  # wall-clock 10:30


@pytest.fixture
def day(redis_client, twilio, make_caller, monkeypatch):
    """``busy_day`` at mid-morning London time (the clock travels there, and ticks on)."""
    from flows.common import Turn

    monkeypatch.setattr(Turn, "is_open", lambda self: True)  # whatever the hour of the run
    with time_machine.travel(mid_morning(time.time()), tick=True):
        yield busy_day(redis_client, twilio, make_caller)


# The value for each URL argument a console page may take.
def arguments(day: dict) -> dict[str, str]:
    return {"agent_id": day["staff"]["tax"].id, "task_id": day["tasks"][0],
            "link_id": day["link"].id}


def console_pages(app, day: dict) -> tuple[list[str], list[str]]:
    """Every GET page of the console from the URL map (paths), and those it cannot build."""
    known = arguments(day)
    pages, unknown = [], []
    with app.test_request_context():
        from flask import url_for

        for rule in sorted(app.url_map.iter_rules(), key=lambda x: x.rule):
            if (not rule.endpoint.startswith("console.") or "GET" not in rule.methods
                    or rule.endpoint in NOT_PAGES or rule.rule.endswith(".json")):
                continue
            if not set(rule.arguments) <= set(known):
                unknown.append(f"{rule.endpoint} ({rule.rule})")
                continue
            pages.append(url_for(rule.endpoint, **{a: known[a] for a in rule.arguments}))
    return pages, unknown


def page_name(path: str) -> str:
    name = urlsplit(path).path.removeprefix("/console").strip("/").replace("/", "-")
    return name or "live"


def record(figures: dict[str, tuple[int, int]], shots: list[str]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    lines = ["axe-core WCAG 2.2 AA violations per page (1366x768, 390 px):"]
    lines += [f"  {name}: {wide} / {narrow}" for name, (wide, narrow) in figures.items()]
    lines += ["screenshots:"] + [f"  test-artifacts/{s}" for s in shots]
    text = "\n".join(lines) + "\n"
    previous = SUMMARY.read_text() if SUMMARY.exists() else ""
    SUMMARY.write_text(previous + text)
    print(text)


@pytest.fixture
def axe_page(browser, server, problems):  # noqa: F811
    """A page whose Content-Security-Policy lets axe-core's own script add its styles (the
    app's pages are the same; ``page`` in the other tests keeps the policy enforced)."""
    context = browser.new_context(base_url=server, viewport=SIZES["1366"], bypass_csp=True)
    pg = context.new_page()
    pg.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
          if m.type == "error" else None)
    pg.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    yield pg
    context.close()
    assert problems == [], problems


def test_every_page_has_no_axe_violations(axe_page, app, day, server, problems):
    """Every console page (from the URL map), the sign-in page, the kiosk and the report,
    with data, at both sizes: 0 violations; screenshots of each."""
    page = axe_page
    if SUMMARY.exists():
        SUMMARY.unlink()
    pages, unknown = console_pages(app, day)
    assert not unknown, f"console pages this test cannot open (add to arguments()): {unknown}"
    assert {"/console/", "/console/callbacks", "/console/wallboard", "/console/agents",
            "/console/audit", "/console/kiosk-links"} <= set(pages)
    figures: dict[str, tuple[int, int]] = {}
    shots: list[str] = []
    failures: list[str] = []

    def check(name: str) -> None:
        page.set_viewport_size(SIZES["1366"])
        wide = violations(page)
        shots.extend(shoot(page, name))
        page.set_viewport_size(SIZES["390"])
        narrow = violations(page)
        page.set_viewport_size(SIZES["1366"])
        figures[name] = (len(wide), len(narrow))
        if wide or narrow:
            failures.append(f"{name}: {described(wide + narrow)}")

    page.goto("/console/login")
    check("login")
    sign_in(page, day["staff"]["super"].id)
    page.wait_for_selector("#agent-rows")
    for path in pages:
        page.goto(path)
        page.wait_for_load_state("load")
        page.wait_for_timeout(300)
        check(page_name(path))
    page.goto(f"/console/kiosk/{day['kiosk']}")
    check("kiosk")
    html = render_html(report.compute(events.read_all(app.extensions["ivr"].redis),
                                      **report.settings(app.extensions["ivr"].config)),
                       {k: d.name for k, d in app.extensions["ivr"].config.departments.items()})
    page.set_content(html)
    check("report")
    record(figures, shots)
    assert not failures, failures


def test_long_name_keeps_state_and_time_on_screen(page, day):
    """One very long advisor name: State and Time in state stay inside the viewport."""
    sign_in(page, day["staff"]["super"].id)
    row = page.locator(f'#agent-rows tr[data-agent="{day["staff"]["long"].id}"]')
    for size in SIZES.values():
        page.set_viewport_size(size)
        page.wait_for_timeout(100)
        for cell in (row.locator("td").nth(0), row.locator("td").nth(1)):
            box = cell.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= size["width"], (
                size, box)


def test_kiosk_fits_the_screen_without_scrolling(page, day):
    """The kiosk at 1366x768 and 1920x1080: everything in view, no scrollbar, no menu, no
    advisor's name or resident's number."""
    for viewport in ({"width": 1366, "height": 768}, {"width": 1920, "height": 1080}):
        page.set_viewport_size(viewport)
        page.goto(f"/console/kiosk/{day['kiosk']}")
        page.wait_for_timeout(200)
        sizes = page.evaluate("[document.documentElement.scrollWidth, "
                              "document.documentElement.scrollHeight]")
        assert sizes[0] <= viewport["width"] and sizes[1] <= viewport["height"], (viewport, sizes)
        last = page.locator("#wb-rows .wb-card").last.bounding_box()
        assert last["y"] + last["height"] <= viewport["height"]
        text = page.locator("body").inner_text()
        assert "Sam Supervisor" not in text and "Tara" not in text and "07911" not in text
        assert page.locator("nav").count() == 0
        assert page.locator('[data-field="abandoned"]').first.is_visible()
        assert page.locator('[data-field="average_answer"]').first.is_visible()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"a11y-kiosk-{viewport['width']}x"
                                             f"{viewport['height']}.png"))


def test_keyboard_only_sign_in_call_back_and_record_outcome(page, day, twilio, make_caller):
    """Sign in, take a callback and record an outcome with the keyboard alone; the skip link
    is the first Tab stop and takes focus past the menu."""
    page.goto("/console/login")
    page.keyboard.press("Tab")  # focus starts in the agent number (autofocus)...
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")  # ...back to the skip link, first on the page
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "agent"
    page.keyboard.type(day["staff"]["tax"].id)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_selector("#agent-rows")

    page.goto("/console/callbacks")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content"
    page.keyboard.press("Tab")  # the worklist's own: past the filters, to the cards
    assert page.evaluate("document.activeElement.textContent") == "Skip to the callbacks"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "worklist"
    keys = 3
    while page.evaluate("document.activeElement.textContent") != "Call back":
        page.keyboard.press("Tab")
        keys += 1
        assert keys < 40, "no Call back button reachable by Tab"
    tabs_to_call_back = keys
    card_id = page.evaluate("document.activeElement.closest('article').dataset.task")
    page.keyboard.press("Enter")
    card = page.locator(f'article[data-task="{card_id}"]')
    card.locator(".card-note").wait_for()
    assert "Your phone is ringing" in card.locator(".card-note").inner_text()
    assert page.locator(".flash.ok").count() == 0  # said on the card, not only at the top
    (call,) = twilio.calls
    # The card follows the call without a reload: ringing the advisor, then the resident.
    page.evaluate("window.notReloaded = true")
    progress = card.locator("[data-progress]")
    from playwright.sync_api import expect

    expect(progress).to_contain_text("Ringing your phone", timeout=WAIT_MS)
    agent_leg = make_caller(COUNCIL_NUMBER, to=day["staff"]["tax"].phone, call_sid=call["sid"])
    bridge = urlsplit(call["url"])
    doc = agent_leg.post(f"{bridge.path}?{bridge.query}")  # Tara answers: the resident rings
    expect(progress).to_contain_text("Calling the resident", timeout=WAIT_MS)
    parent = make_caller(COUNCIL_NUMBER, to=day["staff"]["tax"].phone, call_sid=call["sid"])
    parent.number_url(doc.first("Number").get("url"), to="+447911123456",
                      caller_id=COUNCIL_NUMBER)  # the resident answers
    expect(progress).to_contain_text("The resident answered", timeout=WAIT_MS)
    agent_leg.dial_result("completed", duration=95)
    expect(progress).to_contain_text("Last attempt: answered", timeout=WAIT_MS)
    assert page.evaluate("window.notReloaded") is True

    # Record an outcome on another card, by keyboard: Tab to its Outcome, choose, submit.
    other = next(t for t in day["tasks"] if t != card_id)
    page.goto("/console/callbacks")
    tabs = 0
    while page.evaluate("document.activeElement.closest('article') ? "
                        "document.activeElement.closest('article').dataset.task + ' ' + "
                        "document.activeElement.name : ''") != f"{other} outcome":
        page.keyboard.press("Tab")
        tabs += 1
        assert tabs < 60, "no Outcome choice reachable by Tab"
    page.keyboard.press("ArrowDown")  # "answered"
    assert page.evaluate("document.activeElement.value") == "answered"
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    done = page.locator(f'article[data-task="{other}"] .card-note')
    done.wait_for()
    assert "Callback done." in done.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "keyboard.json").write_text(json.dumps(
        {"keys_to_first_call_back": tabs_to_call_back}))
    print(f"keys from the page's top to the first Call back: {tabs_to_call_back}")


def test_live_region_speaks_only_when_something_changed(page, day, redis_client, make_caller):
    """The status line ("updated 10:00:02") changes every 2 s but is not a live region; the
    page's one live region is written only when the waiting figures change."""
    sign_in(page, day["staff"]["super"].id)
    assert page.locator("#live-status").get_attribute("role") is None
    assert page.locator("#live-status").get_attribute("aria-live") is None
    page.evaluate("""() => {
        window.spoken = [];
        new MutationObserver(() => window.spoken.push(
            document.getElementById('announce').textContent))
          .observe(document.getElementById('announce'),
                   {childList: true, characterData: true, subtree: true});
    }""")
    page.wait_for_timeout(5000)  # two refreshes or more, nothing changed
    assert page.evaluate("window.spoken") == []
    redis_client.zadd(store.queue_key("benefits"), {"CAnew": time.time()})
    from playwright.sync_api import expect

    expect(page.locator("#waiting-total")).to_have_text("3", timeout=WAIT_MS)
    page.wait_for_timeout(4500)
    spoken = page.evaluate("window.spoken")
    assert spoken and spoken[0].startswith("3 waiting"), spoken
    assert len(set(spoken)) == 1  # said once, not again on the next refreshes


def test_report_charts_have_tables(app, day):
    """Each of the report's charts is a named figure with its figures as a table."""
    r = app.extensions["ivr"].redis
    html = render_html(report.compute(events.read_all(r), **report.settings(
        app.extensions["ivr"].config)), {})
    assert html.count("<svg") == html.count('<svg role="img" aria-labelledby=')
    assert html.count("<figure") == html.count("the figures as a table</summary>") >= 3
    assert 'class="skip" href="#main"' in html
