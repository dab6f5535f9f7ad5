"""The wallboard: figures against a known Redis state and known events, who sees what,
escaping, one source for /metrics, the live view and the wallboard, and a real browser.

The known state, Tuesday 1 December 2026 at 11:00 GMT (Europe/London = UTC in December):

  queue zsets    council_tax  CAq1 since 10:58:25 (95 s: amber), CAq2 since 10:59:50 (10 s)
                 housing      CAq3 since 10:57:30 (150 s: red)
                 street_care  CAq4 since 10:58:00 (120 s exactly: red, the limit reached)
                 general      CAq5 since 10:58:31 (89 s: not yet amber, which starts at 90 s)
                 benefits     nobody

  agents         Tara  council_tax           available
                 Carl  council_tax, housing  on a call
                 Hana  housing               available
                 Sam   supervisor, no departments (serves all)  on a break
                 Ben   benefits              signed out

  events today   council_tax  CA01 answered after 120 s (within the limit)
                              CA02 answered after 121 s (not within)
                              CA03 hung up after 30 s
                              CA04 taken to voicemail at 120 s, and left one
                              CAq1 entered the queue and is still inside the limit: not offered
                              CAn entered at 23:59 yesterday, answered at 00:00:30: yesterday's
                              CAy yesterday 15:00: not today
                 housing      CA05 answered after 45 s; CA06 left a voicemail
                 -> council_tax offered 4, answered 2, within 1: SL 25 %, 1 voicemail
                    housing     offered 1, answered 1, within 1: SL 100 %, 1 voicemail

  callbacks      worklist  T1 council_tax due today 17:00 (due); T2 council_tax due yesterday
                           17:00 (overdue); T3 housing due today 17:00 (due)
                 scheduled T4 council_tax due tomorrow (scheduled); T5 housing due yesterday,
                           its release never ran (overdue); T6 an odd department (not shown)
"""

from __future__ import annotations

import re
import time
from datetime import datetime

import pytest
import time_machine
from test_console import HOSTILE, SCRIPT, add_agent, as_user
from test_console_browser import (  # noqa: F401 - fixtures used by the browser test
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
from test_metrics import scrape

from ivr import events, store
from ivr.agents import Role, State
from ivr.events import Event
from ivr.report import LONDON
from ivr.report import live as report_live
from voicemail.tasks import SCHEDULED, TASK, WORKLIST

NOW = "2026-12-01 11:00:00+00:00"
DEPTS = ["council_tax", "benefits", "street_care", "housing", "general"]


def at(day: int, hour: int, minute: int = 0, second: int = 0, month: int = 12) -> float:
    return datetime(2026, month, day, hour, minute, second, tzinfo=LONDON).timestamp()


T11 = at(1, 11)


def write(r, items: list[tuple[Event, str, float, str, dict]]) -> None:
    """Events stored as the app stores them (ids at their own times), oldest first."""
    pipe = r.pipeline(transaction=False)
    for kind, call, ts, dept, data in sorted(items, key=lambda x: x[2]):
        events.add(pipe, events.fields(kind, call, ts, dept, **data), None)
    pipe.execute()


def visit(call: str, dept: str, entered: float, leave: Event, wait: int) -> list:
    return [(Event.ENTER_QUEUE, call, entered, dept, {}),
            (leave, call, entered + wait, dept, {"wait": wait, "reason": str(leave)})]


def todays_events() -> list:
    return [
        *visit("CAy", "council_tax", at(30, 15, month=11), Event.CONNECT, 10),
        *visit("CAn", "council_tax", at(30, 23, 59, month=11), Event.CONNECT, 90),
        *visit("CA01", "council_tax", at(1, 9), Event.CONNECT, 120),
        *visit("CA02", "council_tax", at(1, 9, 10), Event.CONNECT, 121),
        *visit("CA03", "council_tax", at(1, 9, 20), Event.ABANDON, 30),
        *visit("CA04", "council_tax", at(1, 9, 30), Event.EXIT_TIMEOUT, 120),
        (Event.VOICEMAIL, "CA04", at(1, 9, 33), "council_tax", {"task": "T-VM1"}),
        *visit("CA05", "housing", at(1, 10), Event.CONNECT, 45),
        (Event.VOICEMAIL, "CA06", at(1, 10, 30), "housing", {"task": "T-VM2"}),
        (Event.ENTER_QUEUE, "CAq1", T11 - 95, "council_tax", {}),
    ]


def task(r, task_id: str, dept: str, due_at: float, *, scheduled_at: float | None = None):
    r.hset(TASK.format(id=task_id), mapping={
        "id": task_id, "department": dept, "due_at": int(due_at),
        "status": "scheduled" if scheduled_at else "open"})
    if scheduled_at:
        r.zadd(SCHEDULED, {task_id: scheduled_at})
    else:
        r.zadd(WORKLIST, {task_id: due_at})


@pytest.fixture
def known(redis_client):
    """The state in the module docstring; returns the agents."""
    write(redis_client, todays_events())  # the morning's history, then the agents' state now
    with time_machine.travel(NOW, tick=False):
        staff = {
            "tara": add_agent(redis_client, "Tara Tax", ("council_tax",), state=State.AVAILABLE),
            "carl": add_agent(redis_client, "Carl Both", ("council_tax", "housing"),
                              state=State.ON_CALL),
            "hana": add_agent(redis_client, "Hana Housing", ("housing",), state=State.AVAILABLE),
            "sam": add_agent(redis_client, "Sam Supervisor", (), role=Role.SUPERVISOR,
                             state=State.ON_BREAK),
            "ben": add_agent(redis_client, "Ben Benefits", ("benefits",)),
        }
    for dept, members in {"council_tax": {"CAq1": T11 - 95, "CAq2": T11 - 10},
                          "housing": {"CAq3": T11 - 150}, "street_care": {"CAq4": T11 - 120},
                          "general": {"CAq5": T11 - 89}}.items():
        redis_client.zadd(store.queue_key(dept), members)
    task(redis_client, "T1", "council_tax", at(1, 17))
    task(redis_client, "T2", "council_tax", at(30, 17, month=11))
    task(redis_client, "T3", "housing", at(1, 17))
    task(redis_client, "T4", "council_tax", at(2, 17), scheduled_at=at(2, 9))
    task(redis_client, "T5", "housing", at(30, 17, month=11), scheduled_at=at(30, 9, month=11))
    task(redis_client, "T6", HOSTILE, at(2, 17), scheduled_at=at(2, 9))
    return staff


def board_json(app, agent) -> dict:
    with time_machine.travel(NOW, tick=False):
        response = as_user(app, agent).client.get("/console/wallboard.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()


def pick(row: dict, *names: str) -> tuple:
    return tuple(row[n] for n in names)


QUEUE = ("waiting", "longest_seconds", "longest", "wait_level")
TODAY = ("offered", "answered", "answered_within", "service_level_text", "voicemails")
STAFF = ("available", "signed_in")
CALLBACKS = ("callbacks_due", "callbacks_overdue", "callbacks_scheduled")


def test_supervisor_sees_every_department_with_hand_worked_figures(app, known):
    data = board_json(app, known["sam"])
    rows = {d["id"]: d for d in data["departments"]}
    assert list(rows) == DEPTS  # the config's order
    assert (data["at"], data["at_text"], data["limit"]) == (T11, "11:00:00", 120)
    assert {d: pick(r, *QUEUE) for d, r in rows.items()} == {
        "council_tax": (2, 95, "1:35", "amber"),
        "benefits": (0, 0, "–", "ok"),
        "street_care": (1, 120, "2:00", "red"),
        "housing": (1, 150, "2:30", "red"),
        "general": (1, 89, "1:29", "ok"),
    }
    assert {d: pick(r, *STAFF) for d, r in rows.items()} == {
        "council_tax": (1, 3), "benefits": (0, 1), "street_care": (0, 1), "housing": (1, 3),
        "general": (0, 1)}
    assert {d: pick(r, *TODAY) for d, r in rows.items()} == {
        "council_tax": (4, 2, 1, "25%", 1),
        "benefits": (0, 0, 0, "–", 0),
        "street_care": (0, 0, 0, "–", 0),
        "housing": (1, 1, 1, "100%", 1),
        "general": (0, 0, 0, "–", 0),
    }
    assert rows["council_tax"]["service_level"] == 0.25
    assert rows["council_tax"]["service_level_detail"] == "1 of 4 answered within 2 min"
    assert rows["benefits"]["service_level"] is None
    assert rows["benefits"]["service_level_detail"] == "no calls yet today"
    assert {d: pick(r, *CALLBACKS) for d, r in rows.items()} == {
        "council_tax": (1, 1, 1), "benefits": (0, 0, 0), "street_care": (0, 0, 0),
        "housing": (1, 1, 0), "general": (0, 0, 0)}
    total = data["total"]
    assert (total["id"], total["name"]) == ("", "All departments")
    assert pick(total, *QUEUE) == (5, 150, "2:30", "red")
    assert pick(total, *STAFF) == (2, 4)  # each agent once, whatever they serve
    assert pick(total, *TODAY) == (5, 3, 2, "40%", 2)
    assert pick(total, *CALLBACKS) == (2, 2, 1)  # T6's odd department is on no card


def test_agents_see_their_departments(app, known):
    tara = board_json(app, known["tara"])
    assert [d["id"] for d in tara["departments"]] == ["council_tax"]
    (row,) = tara["departments"]
    assert {k: v for k, v in tara["total"].items() if k not in ("id", "name")} == {
        k: v for k, v in row.items() if k not in ("id", "name")}
    assert tara["total"]["name"] == "Your departments"
    carl = board_json(app, known["carl"])
    assert [d["id"] for d in carl["departments"]] == ["council_tax", "housing"]
    assert pick(carl["total"], *QUEUE) == (3, 150, "2:30", "red")
    assert pick(carl["total"], *STAFF) == (2, 4)  # Tara, Hana available; Carl, Sam signed in
    assert pick(carl["total"], *TODAY) == (5, 3, 2, "40%", 2)
    assert pick(carl["total"], *CALLBACKS) == (2, 2, 1)
    ben = board_json(app, known["ben"])
    assert [(d["id"], d["available"], d["signed_in"]) for d in ben["departments"]] == [
        ("benefits", 0, 1)]
    with time_machine.travel(NOW, tick=False):
        html = as_user(app, known["tara"]).page("/console/wallboard")
    assert 'data-dept="council_tax"' in html and 'data-dept="housing"' not in html
    assert "Housing" not in html and "Benefits" not in html


def test_the_page_signed_out_and_its_headers(app, known):
    client = app.test_client()
    assert client.get("/console/wallboard").status_code == 302
    assert client.get("/console/wallboard.json").status_code == 401
    with time_machine.travel(NOW, tick=False):
        sup = as_user(app, known["sam"])
        response = sup.client.get("/console/wallboard")
    html = response.get_data(as_text=True)
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts and all(' src="/console/static/' in s for s in scripts)  # no inline script
    assert 'data-wallboard-url="/console/wallboard.json"' in html
    assert 'href="/console/wallboard" aria-current="page">Wallboard</a>' in html
    # The server renders the same figures the script will refresh.
    card = re.search(r'<article class="wb-card" data-dept="street_care".*?</article>', html, re.S)
    assert card and 'data-level="red"' in card.group(0)
    assert '<span data-field="longest">2:00</span>' in card.group(0)
    assert "over the limit" in card.group(0)  # told in words, not by colour alone
    assert sup.client.get("/console/static/wallboard.js").status_code == 200
    assert 'href="/console/wallboard">Wallboard</a>' in as_user(app, known["tara"]).page(
        "/console/")


def test_one_source_for_metrics_live_view_and_wallboard(app, known):
    """The same reader gives /metrics, the live view and the wallboard their figures."""
    board = board_json(app, known["sam"])
    with time_machine.travel(NOW, tick=False):
        live = as_user(app, known["sam"]).live()
        m = scrape(app)
    rows = {d["id"]: d for d in board["departments"]}
    for d in live["departments"]:
        dept = d["id"]
        assert d["waiting"] == rows[dept]["waiting"] == m[
            ("ivr_queue_callers", (("department", dept),))]
        assert d["longest_seconds"] == rows[dept]["longest_seconds"] == m[
            ("ivr_queue_oldest_wait_seconds", (("department", dept),))]
        # Today's queue figures on the live view are the wallboard's (the report's).
        assert (d["offered"], d["abandoned"], d["average_answer"]) == (
            rows[dept]["offered"], rows[dept]["abandoned"], rows[dept]["average_answer"])
        assert d["service_level"] == rows[dept]["service_level_text"]
    assert {s["state"]: s["count"] for s in live["states"]} == {
        "available": 2, "on_call": 1, "wrap_up": 0, "on_break": 1, "signed_out": 1}
    assert {k: m[("ivr_agents", (("state", k),))] for k in (
        "available", "on_call", "wrap_up", "on_break", "signed_out")} == {
        "available": 2, "on_call": 1, "wrap_up": 0, "on_break": 1, "signed_out": 1}
    assert (m[("ivr_callbacks", (("status", "due"),))],
            m[("ivr_callbacks", (("status", "overdue"),))],
            m[("ivr_callbacks", (("status", "scheduled"),))]) == (2, 2, 2)  # T6 counts here


def test_callbacks_from_the_worklist_zsets(redis_client):
    """Due: released, not yet past due; overdue: past due, released or not; scheduled."""
    task(redis_client, "T1", "council_tax", T11 + 60)
    task(redis_client, "T2", "council_tax", T11 - 1)
    task(redis_client, "T3", "council_tax", at(2, 17), scheduled_at=at(2, 9))
    task(redis_client, "T4", "council_tax", T11 - 1, scheduled_at=T11 - 3600)
    redis_client.zadd(WORKLIST, {"T-no-hash": T11 + 60})  # no task hash: still on the list
    assert report_live.backlog(redis_client, T11) == {
        "": report_live.Backlog(due=1), "council_tax": report_live.Backlog(1, 2, 1)}
    assert report_live.backlog(redis_client, T11, ["housing"]) == {}


def test_today_reads_only_new_events_in_two_round_trips(app, known, redis_client, monkeypatch):
    r = app.extensions["ivr"].redis
    options = {"limit": 120, "tolerance": 5, "attempts": 3, "hours": app.extensions["ivr"].hours}
    with time_machine.travel(NOW, tick=False) as traveller:
        first = report_live.board(r, DEPTS, time.time(), **options)
        assert (first.total.today.offered, first.rows[0].queue.waiting) == (5, 2)

        trips = []
        pipeline = r.pipeline
        monkeypatch.setattr(r, "execute_command", lambda *a, **k: trips.append(a[0]))

        def counted(*a, **k):
            pipe = pipeline(*a, **k)
            execute = pipe.execute
            pipe.execute = lambda *x, **y: trips.append("pipeline") or execute(*x, **y)
            return pipe

        monkeypatch.setattr(r, "pipeline", counted)
        traveller.shift(5)  # 11:00:05: CAq1 is answered after 100 s
        write(redis_client, [(Event.CONNECT, "CAq1", T11 + 5, "council_tax", {"wait": 100})])
        redis_client.zrem(store.queue_key("council_tax"), "CAq1")
        second = report_live.board(r, DEPTS, time.time(), **options)
        assert trips == ["pipeline", "pipeline"]
        monkeypatch.undo()
        tax = second.rows[0]
        assert (tax.queue, tax.wait_level) == (report_live.QueueNow(1, 15), "ok")
        assert (tax.today.offered, tax.today.answered, tax.today.answered_within) == (5, 3, 2)
        assert tax.today.service_level == 0.4

        redis_client.delete(events.STREAM)  # the stream is gone: the day is read again
        third = report_live.board(r, DEPTS, time.time(), **options)
        assert third.total.today.offered == 0 and third.total.queue.waiting == 4


def test_new_events_are_read_page_by_page_and_figures_reused_meanwhile(redis_client, config,
                                                                         monkeypatch):
    monkeypatch.setattr(report_live, "PAGE", 2)
    options = {"limit": 120, "tolerance": 5, "attempts": 3,
               "hours": config.hours.opening_hours()}
    write(redis_client, visit("CA01", "housing", at(1, 9), Event.CONNECT, 30))
    first = report_live.live_today(redis_client, T11, **options)
    assert first.offered == 1
    assert report_live.live_today(redis_client, T11, **options) is first  # nothing new
    write(redis_client, [e for i in range(2, 7)
                         for e in visit(f"CA0{i}", "housing", at(1, 10, i), Event.CONNECT, 200)])
    later = report_live.live_today(redis_client, T11, **options)  # 10 new events, 5 pages
    assert (later.offered, later.answered, later.answered_within) == (6, 6, 1)
    assert later.by_department["housing"].service_level == 1 / 6


def test_an_event_stamped_after_now_counts_once_now_reaches_it(redis_client, config):
    """Another server's clock a little ahead: its event is left out until ``now`` reaches
    its time (as ``report.compute`` leaves it out), then counted; the day's facts, collected
    once per new event for the figures and the advisors, never count it early."""
    options = {"limit": 120, "tolerance": 5, "attempts": 3,
               "hours": config.hours.opening_hours()}
    write(redis_client, visit("CA01", "housing", at(1, 9), Event.CONNECT, 30))
    write(redis_client, visit("CA02", "housing", T11 - 10, Event.CONNECT, 20))  # ends T11+10
    early = report_live.live_today(redis_client, T11, **options)
    early = report_live.live_today(redis_client, T11, **options)  # (again: the facts kept)
    assert (early.offered, early.answered, early.waiting) == (1, 1, 1)  # CA02 still waits
    later = report_live.live_today(redis_client, T11 + 15, **options)
    assert (later.offered, later.answered, later.waiting) == (2, 2, 0)


@pytest.fixture
def app(make_app, config, request):
    """The usual app, or (parametrized "hostile") one whose department names are markup."""
    if getattr(request, "param", None) != "hostile":
        return make_app()
    depts = dict(config.departments)
    depts["council_tax"] = depts["council_tax"].model_copy(update={"name": SCRIPT})
    depts["housing"] = depts["housing"].model_copy(update={"name": HOSTILE})
    return make_app(config=config.model_copy(update={"departments": depts}))


@pytest.mark.parametrize("app", ["hostile"], indirect=True)
def test_hostile_names_are_escaped(app, known):
    with time_machine.travel(NOW, tick=False):
        sup = as_user(app, known["sam"])
        html = sup.page("/console/wallboard")
        response = sup.client.get("/console/wallboard.json")
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert response.mimetype == "application/json"
    names = [d["name"] for d in response.get_json()["departments"]]
    assert SCRIPT in names and HOSTILE in names  # plain data; the page sets it as text


# -- in a real browser ---------------------------------------------------------------------

browser_only = pytest.mark.skipif(bool(_missing), reason="browser tests need " + " and ".join(
    _missing or ["nothing"]))


def field(card, name: str):
    return card.locator(f'[data-field="{name}"]')


def _busy_morning(r) -> None:
    """Figures for the screenshot, around the real time of the run."""
    now = time.time()
    r.zadd(store.queue_key("housing"), {"CAh1": now - 100})  # amber
    r.zadd(store.queue_key("street_care"), {"CAs1": now - 130, "CAs2": now - 40})  # red
    history = [(Event.VOICEMAIL, "CAb4", now - 400, "street_care", {})]
    for i, (dept, wait, outcome) in enumerate([
            ("council_tax", 35, Event.CONNECT), ("council_tax", 80, Event.CONNECT),
            ("council_tax", 150, Event.CONNECT), ("housing", 60, Event.CONNECT),
            ("street_care", 120, Event.EXIT_TIMEOUT), ("benefits", 20, Event.ABANDON)]):
        entered = now - 900 + 60 * i
        history += [(*e[:2], min(e[2], now - 1), *e[3:])
                    for e in visit(f"CAb{i}", dept, entered, outcome, wait)]
    write(r, history)
    task(r, "CBdue1", "council_tax", now + 3 * 3600)
    task(r, "CBlate", "housing", now - 3600)


@browser_only
def test_wallboard_in_chromium_updates_itself(page, redis_client, make_caller,  # noqa: F811
                                               monkeypatch, problems):  # noqa: F811
    from playwright.sync_api import expect

    from flows.common import Turn

    monkeypatch.setattr(Turn, "is_open", lambda self: True)  # whatever the hour of the run
    sam = add_agent(redis_client, "Sam Supervisor", (), "+447911123401", Role.SUPERVISOR)
    add_agent(redis_client, "Tara Tax", ("council_tax",), state=State.AVAILABLE)
    add_agent(redis_client, "Carl Both", ("council_tax", "housing"), state=State.ON_CALL)
    add_agent(redis_client, "Hana Housing", ("housing",), state=State.AVAILABLE)
    _busy_morning(redis_client)
    sign_in(page, sam.id)
    page.get_by_role("link", name="Wallboard").click()
    tax = page.locator('#wb-rows .wb-card[data-dept="council_tax"]')
    expect(field(tax, "waiting")).to_have_text("0")
    expect(field(tax, "longest")).to_have_text("–")
    expect(field(tax, "available")).to_have_text("1")
    expect(page.locator('#wb-rows .wb-card[data-dept="housing"]')).to_have_attribute(
        "data-level", "amber")
    expect(page.locator('#wb-rows .wb-card[data-dept="street_care"]')).to_have_attribute(
        "data-level", "red")
    page.evaluate("window.notReloaded = true")

    caller = make_caller(LANDLINE)
    caller.ring()
    caller.press("2")
    assert caller.follow().verbs[-1] == "Enqueue"
    expect(field(tax, "waiting")).to_have_text("1", timeout=WAIT_MS)
    expect(field(tax, "longest")).to_have_text(re.compile(r"^0:0\d$"))
    expect(tax).to_have_attribute("data-level", "ok")
    total = page.locator("#wb-total .wb-card")
    expect(field(total, "waiting")).to_have_text("4")  # 1 + housing 1 + street care 2
    expect(field(total, "callbacks_overdue")).to_have_text("1")
    expect(page.locator("#wb-status")).to_contain_text("updated")
    assert page.evaluate("window.notReloaded") is True  # updated in place, not reloaded
    ARTIFACTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.wait_for_timeout(200)
    page.screenshot(path=str(ARTIFACTS / "wallboard.png"), full_page=True)
    assert problems == []


@browser_only
@pytest.mark.parametrize("app", ["hostile"], indirect=True)
def test_wallboard_in_chromium_shows_markup_as_text(page, redis_client, problems):  # noqa: F811
    from playwright.sync_api import expect

    sam = add_agent(redis_client, "Sam Supervisor", (), "", Role.SUPERVISOR)
    sign_in(page, sam.id)
    page.goto("/console/wallboard")
    name = page.locator('#wb-rows .wb-card[data-dept="council_tax"] [data-field="name"]')
    expect(name).to_have_text(SCRIPT)
    page.wait_for_timeout(3500)  # one poll rewrites every figure through the script
    expect(name).to_have_text(SCRIPT)
    expect(page.locator('[data-field="name"]', has_text="onerror")).to_have_text(HOSTILE)
    assert problems == []  # no dialog: nothing ran

