"""The agent console in a real browser: Playwright driving Debian's chromium, headless.

The app is served over HTTP on a free loopback port (werkzeug, in a thread) against the test
Redis database; residents reach the same app through the signed Caller harness. Every test
fails on any browser console error, uncaught script error or dialog (an injected alert would
be one), and leaves screenshots in test-artifacts/.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from caller import COUNCIL_NUMBER
from conftest import playwright_real_clock
from test_console import PASSWORD, SCRIPT, add_agent, leave_voicemail, release
from werkzeug.serving import make_server

from ivr import agents
from ivr.agents import Role, State
from ivr.console import session as sessions

CHROMIUM = os.environ.get("IVR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
LANDLINE = "+441206282300"  # no text offer: choosing a department goes straight to its queue
WAIT_MS = 8000  # the page polls every 2 s

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None

_missing = [what for what, ok in [
    ("the playwright package (.venv/bin/pip install -e '.[dev]')", sync_playwright is not None),
    (f"chromium at {CHROMIUM} (apt-get install -y chromium)",
     bool(shutil.which(CHROMIUM)) or Path(CHROMIUM).exists()),
] if not ok]
if _missing and os.environ.get("IVR_REQUIRE_BROWSER") == "1":  # CI: never skip silently
    raise RuntimeError("IVR_REQUIRE_BROWSER=1 but missing: " + " and ".join(_missing))
pytestmark = pytest.mark.skipif(bool(_missing), reason="browser tests need " + " and ".join(
    _missing or ["nothing"]))


@pytest.fixture(scope="module")
def browser():
    with playwright_real_clock() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def server(app):
    """The app over real HTTP on 127.0.0.1, a free port, in a background thread."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, name="console-test-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def problems() -> list[str]:
    """What went wrong in the browser: console errors, uncaught errors, dialogs."""
    return []


@pytest.fixture
def page(browser, server, problems):
    """A fresh browser profile; fails the test on console errors, page errors or dialogs."""
    context = browser.new_context(base_url=server, viewport={"width": 1200, "height": 900})
    pg = context.new_page()
    pg.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
          if m.type == "error" else None)
    pg.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))

    def on_dialog(dialog) -> None:
        problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    pg.on("dialog", on_dialog)
    yield pg
    pg.wait_for_timeout(300)  # let a last poll land before judging
    context.close()
    assert problems == [], problems


def shot(pg, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"console-{name}.png"), full_page=True)


def sign_in(pg, agent_id: str, password: str = PASSWORD) -> None:
    pg.goto("/console/login")
    pg.get_by_label("Agent number").fill(agent_id)
    pg.get_by_label("Password").fill(password)
    pg.get_by_role("button", name="Sign in").click()


@pytest.fixture
def staff(redis_client):
    return {
        "super": add_agent(redis_client, "Sam Supervisor", (), "+447911123401", Role.SUPERVISOR),
        "tax": add_agent(redis_client, "Tara Tax", ("council_tax",), "+447911123402",
                         state=State.AVAILABLE),
    }


def test_login(page, staff, problems):
    sign_in(page, staff["tax"].id, "not the password")
    expect(page.get_by_role("alert")).to_contain_text("do not match")
    # The refusal is a 401 page, which chromium reports on its console: that one is expected.
    assert problems == ["console error: Failed to load resource: the server responded with a "
                        "status of 401 (UNAUTHORIZED)"]
    problems.clear()
    shot(page, "login-refused")
    sign_in(page, staff["tax"].id)
    expect(page.get_by_role("heading", name="Live view")).to_be_visible()
    expect(page.locator("header.top")).to_contain_text("Tara Tax")
    shot(page, "login-live")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_live_view_updates_itself_when_a_call_is_queued(page, staff, redis_client, make_caller,
                                                        monkeypatch):
    from flows.common import Turn

    monkeypatch.setattr(Turn, "is_open", lambda self: True)  # whatever the hour of the run
    add_agent(redis_client, SCRIPT, ("council_tax",), state=State.ON_BREAK)
    sign_in(page, staff["super"].id)
    row = page.locator('#dept-rows tr[data-dept="council_tax"] td')
    expect(row.nth(0)).to_have_text("0")
    expect(page.locator("#agent-rows")).to_contain_text(SCRIPT)  # shown as text, never run
    page.evaluate("window.notReloaded = true")
    shot(page, "live-before")

    caller = make_caller(LANDLINE)
    caller.ring()
    caller.press("2")
    assert caller.follow().verbs[-1] == "Enqueue"
    expect(row.nth(0)).to_have_text("1", timeout=WAIT_MS)
    expect(row.nth(1)).to_contain_text("second", timeout=WAIT_MS)
    expect(page.locator("#waiting-total")).to_have_text("1")

    agents.set_state(redis_client, staff["tax"], State.ON_CALL, time.time())
    tara = page.locator(f'#agent-rows tr[data-agent="{staff["tax"].id}"] td')
    expect(tara.nth(0)).to_have_text("On a call", timeout=WAIT_MS)
    assert page.evaluate("window.notReloaded") is True  # updated in place, not reloaded
    shot(page, "live-after")


def test_working_a_callback(page, staff, redis_client, make_caller, twilio):
    task_id, rec = leave_voicemail(make_caller, "council_tax")
    release(redis_client, task_id)
    twilio.recordings[rec] = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 64
    sign_in(page, staff["tax"].id)
    page.get_by_role("link", name="Callbacks").click()
    card = page.locator(f'#due article[data-task="{task_id}"], '
                        f'#overdue article[data-task="{task_id}"]')
    expect(card).to_contain_text("07911 123456")
    expect(card).to_contain_text("Council Tax")
    src = card.locator("audio").get_attribute("src")
    assert src == f"/console/recording/{rec}"
    audio = page.request.get(src)  # the browser's own session cookie
    assert audio.ok and audio.body() == twilio.recordings[rec]
    shot(page, "callbacks-due")

    card.get_by_role("button", name="Call back").click()
    expect(card.locator(".card-note")).to_contain_text("Your phone is ringing")  # on its card
    (call,) = twilio.calls
    assert call["to"] == staff["tax"].phone
    # While the call is on, the card offers nothing: its result will be the attempt.
    expect(card).to_contain_text("A call to this resident is in progress (you)")
    expect(card.get_by_role("button", name="Call back")).to_have_count(0)
    expect(card.get_by_role("button", name="Record outcome")).to_have_count(0)
    shot(page, "callbacks-calling")

    agent_leg = make_caller(COUNCIL_NUMBER, to=staff["tax"].phone, call_sid=call["sid"])
    bridge = urlsplit(call["url"])  # Twilio asks this server; the harness signs for its own
    agent_leg.post(f"{bridge.path}?{bridge.query}")  # Tara answers; the resident is rung...
    agent_leg.dial_result("no-answer")  # ...and does not answer
    page.reload()
    expect(card).to_contain_text("Tara Tax, no answer")
    expect(card).to_contain_text("Next try")
    expect(card.get_by_role("button", name="Call back")).to_have_count(0)
    expect(card.get_by_role("button", name="Record outcome")).to_have_count(0)

    # Another resident, rung from another phone: recorded by hand, and labelled so.
    other_id, _ = leave_voicemail(make_caller, "council_tax", LANDLINE)
    release(redis_client, other_id)
    page.reload()
    other = page.locator(f'#due article[data-task="{other_id}"], '
                         f'#overdue article[data-task="{other_id}"]')
    expect(other).to_contain_text("Called them from another phone?")
    other.get_by_label("Outcome").select_option("answered")
    other.get_by_role("button", name="Record outcome").click()
    done = page.locator(f'#closed article[data-task="{other_id}"]')
    expect(done.locator(".card-note")).to_contain_text("Callback done.")
    expect(done).to_contain_text("Tara Tax, answered (recorded by hand, no dial result)")
    expect(other).to_have_count(0)
    shot(page, "callbacks-done")


def test_an_ended_session_takes_the_page_to_sign_in(page, staff, redis_client, problems):
    """Signed out everywhere while the live view polls: the next poll is refused and the page
    goes to the sign-in page by itself, saying why."""
    sign_in(page, staff["tax"].id)
    expect(page.get_by_role("heading", name="Live view")).to_be_visible()
    sessions.end_all(redis_client, staff["tax"].id)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator(".flash.error")).to_contain_text("You have been signed out")
    problems[:] = [p for p in problems if "status of 401" not in p]  # the refused poll
    shot(page, "ended-session")


def test_supervisor_signs_an_agent_out_everywhere_and_reads_the_audit(page, staff):
    sign_in(page, staff["super"].id)
    page.get_by_role("link", name="Agents").click()
    page.get_by_role("button", name=f"Sign agent {staff['tax'].id} out everywhere").click()
    expect(page.locator(".flash.ok")).to_contain_text("signed out everywhere")
    shot(page, "agents")
    page.get_by_role("link", name="Audit").click()
    rows = page.locator("#audit-rows tr")
    expect(rows.first).to_contain_text("signed an agent out everywhere")
    expect(rows.nth(1)).to_contain_text("signed in to the console")
    page.get_by_label("Action").select_option("console_signin")
    page.get_by_role("button", name="Show").click()
    expect(rows).to_have_count(1)
    shot(page, "audit")
