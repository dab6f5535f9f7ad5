"""The HTML report: one self-contained file with charts, rendered in headless chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import time_machine
from conftest import ROOT, TEST_REDIS_URL, playwright_real_clock
from report_events import decoded, entries

from ivr import cli, events, report
from ivr.events import decode
from ivr.report import demo as report_demo
from ivr.report.html import render_html

NAMES = {"council_tax": "Council Tax", "benefits": "Benefits", "housing": "Housing",
         "general": "Customer Service", "street_care": "Street Care"}
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser",
                             shutil.which("chromium") or "") if p and Path(p).exists()), None)


@pytest.fixture(scope="module")
def fixed_html() -> str:
    return render_html(report.compute(decoded()), NAMES)


@pytest.fixture(scope="module")
def week_html(config) -> str:
    options = report.settings(config)
    start, end = report.day_bounds(date(2026, 11, 30), date(2026, 12, 6))
    week = [decode(e) for e in report_demo.sample_week(date(2026, 11, 30), options["hours"])]
    return render_html(report.compute(week, start=start, end=end, **options), NAMES)


def test_self_contained(fixed_html):
    assert fixed_html.startswith("<!doctype html>")
    assert "<script" not in fixed_html and "<link" not in fixed_html
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", fixed_html)
    assert "<style>" in fixed_html


def test_charts_are_inline_svg(fixed_html):
    # Calls and SL by hour, waits, by department, feedback.
    assert fixed_html.count("<svg") == 4
    assert "Calls and service level by hour (Europe/London)" in fixed_html
    assert "How long callers waited" in fixed_html
    svg_ids = re.findall(r'<[^>]+ id="([^"]+)"', fixed_html)
    assert len(svg_ids) == len(set(svg_ids))  # several SVGs in one page: no clashing ids


def test_tiles_and_exceptions(fixed_html):
    assert re.search(r'class="tile warn"><div class="l">2-minute promise</div>'
                     r'<div class="v">70.0%</div>', fixed_html) is None  # 70 % is red, not amber
    assert re.search(r'class="tile bad"><div class="l">2-minute promise</div>'
                     r'<div class="v">70.0%</div>', fixed_html)
    assert re.search(r'class="tile bad"><div class="l">Recording notice played</div>'
                     r'<div class="v">95.5%</div>', fixed_html)  # 21 of 22
    for sid in ("CA03", "CA05", "CA09", "CA30", "T-FRI2", "T-UNR2", "T-OPEN", "RECOMMENT1"):
        assert f">{sid}<" in fixed_html
    assert "answered 1 min after the due time" in fixed_html


def test_cli_writes_html_from_redis(monkeypatch, redis_client, tmp_path, capsys):
    monkeypatch.setenv("REDIS_URL", TEST_REDIS_URL)
    monkeypatch.setenv("IVR_CONFIG", str(ROOT / "config.yaml"))
    pipe = redis_client.pipeline()
    for e in entries():
        events.add(pipe, e, 400)
    pipe.execute()
    out = tmp_path / "report.html"
    with time_machine.travel(datetime(2027, 3, 1, tzinfo=UTC), tick=False):
        assert cli.main(["report", "--from", "2026-11-23", "--to", "2026-11-29", "--format",
                         "html", "--output", str(out), "--whole-stream"]) == 0
    html = out.read_text()
    assert "Monday 23 November 2026 to Sunday 29 November 2026" in html
    assert ">T-FRI2<" in html and ">T-XMAS<" not in html
    assert "wrote" in capsys.readouterr().err


def _screenshot(html: str, name: str) -> tuple[Path, list[str], dict]:
    """Render in headless chromium; returns the screenshot, console errors and a few sizes."""
    ARTIFACTS.mkdir(exist_ok=True)
    page_file = ARTIFACTS / f"{name}.html"
    page_file.write_text(html, encoding="utf-8")
    shot = ARTIFACTS / f"{name}.png"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", "--window-size=1280,2400",
                        f"--screenshot={shot}", page_file.as_uri()],
                       check=True, capture_output=True, timeout=60)
        return shot, [], {}
    errors: list[str] = []
    with playwright_real_clock() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(page_file.as_uri())
        sizes = page.evaluate("""() => ({
            svgs: [...document.querySelectorAll('svg')].map(s => s.getBoundingClientRect().width),
            overflow: document.documentElement.scrollWidth - window.innerWidth,
            tiles: [...document.querySelectorAll('.tile .v')].map(t => t.textContent)})""")
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    return shot, errors, sizes


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium installed (Debian: apt install "
                                             "chromium) for the rendering test")
def test_renders_in_headless_chromium(week_html):
    shot, errors, sizes = _screenshot(week_html, "report-sample-week")
    assert shot.stat().st_size > 50_000  # a real picture, not a blank page
    assert errors == []
    if sizes:  # measured through Playwright
        assert len(sizes["svgs"]) == 4 and min(sizes["svgs"]) > 300
        assert sizes["overflow"] <= 0  # nothing wider than the window
        assert len(sizes["tiles"]) == 6


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium installed")
def test_narrow_screen_has_no_sideways_scroll(fixed_html):
    pytest.importorskip("playwright.sync_api", reason="Playwright measures the layout")

    with playwright_real_clock() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 700, "height": 900})
        page.set_content(fixed_html)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        page.screenshot(path=str(ARTIFACTS / "report-narrow.png"), full_page=True)
        browser.close()
    assert overflow <= 0
