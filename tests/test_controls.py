"""Live controls (``ivr.controls``): set from the console or the CLI, heard on the next call of
the same running app (no restart), audited; and the decisions they feed, tested directly."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from test_console import add_agent, as_user
from test_round_trips import trips as trips  # the fixtures
from test_round_trips import warm_app as warm_app

from ivr import audit, cli, controls, controls_store
from ivr.agents import Role
from ivr.calendar import callback_window, is_open, is_working_day
from ivr.controls import ControlError, Controls, Emergency, EmergencyMode, QueueClosed
from ivr.events import read_all

LONDON = ZoneInfo("Europe/London")
OPEN = "2026-12-01 10:00:00+00:00"  # Tuesday 10:00 GMT
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
CLOSURE_SAID = "We are closed this afternoon for staff training. Please call back tomorrow."
LANDLINE = "+441206282300"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# -- the decisions, pure ------------------------------------------------------------------------


def test_a_whole_day_closure_is_not_a_working_day_and_callbacks_move_past_it(config):
    hours = config.hours.opening_hours()
    christmas_eve = at("2026-12-24 12:00:00+00:00")
    assert callback_window(christmas_eve, hours).callback_day == date(2026, 12, 29)
    days = [controls.day_closure(f"c{d}", date(2026, 12, d), "Closed between Christmas and "
                                 "New Year.", christmas_eve, LONDON) for d in (29, 30, 31)]
    live = controls.effective_hours(hours, Controls(closures=tuple(days)))
    assert not is_working_day(date(2026, 12, 30), live)
    # 25 Christmas, 28 Boxing Day (substitute), 29-31 live, 1 Jan New Year, then a weekend.
    assert callback_window(christmas_eve, live).callback_day == date(2027, 1, 4)
    assert hours.closures == frozenset()  # the baseline is untouched


def test_a_span_closes_the_lines_but_the_day_still_works(config):
    hours = config.hours.opening_hours()
    start, end = controls.span_today("12:00", "14:00", NOW, LONDON)
    c = controls.span_closure("x", start, end, CLOSURE_SAID, NOW)
    live = controls.effective_hours(hours, Controls(closures=(c,)))
    assert is_open(at("2026-12-01 11:59:00+00:00"), live)
    assert not is_open(at("2026-12-01 12:00:00+00:00"), live)
    assert not is_open(at("2026-12-01 13:59:00+00:00"), live)
    assert is_open(at("2026-12-01 14:00:00+00:00"), live)
    assert is_working_day(date(2026, 12, 1), live)
    during = at("2026-12-01 12:30:00+00:00")
    assert callback_window(during, live).callback_day == date(2026, 12, 2)
    assert controls.closed_message(Controls(closures=(c,)), during) == CLOSURE_SAID
    assert controls.closed_message(Controls(closures=(c,)), NOW) == ""


def test_a_span_in_summer_is_london_time():
    summer = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)  # 09:00 BST
    start, end = controls.span_today("12:00", "14:00", summer, LONDON)
    assert (start.astimezone(UTC).hour, end.astimezone(UTC).hour) == (11, 13)


def test_the_emergency_closes_or_is_said_first(config):
    hours = config.hours.opening_hours()
    closed = Controls(emergency=Emergency(EmergencyMode.CLOSED, "We are closed today.", NOW))
    assert not is_open(NOW + timedelta(hours=1), controls.effective_hours(hours, closed))
    assert controls.closed_message(closed, NOW) == "We are closed today."
    aware = Controls(emergency=Emergency(EmergencyMode.AWARE, "We know about the flood.", NOW))
    assert is_open(NOW, controls.effective_hours(hours, aware))
    assert controls.greeting_messages(aware, NOW) == ["We know about the flood."]


def test_announcements_by_department_and_time():
    a = controls.announcement("a", "Everyone.", NOW, NOW + timedelta(hours=2), "",
                              ["street_care"], NOW)
    b = controls.announcement("b", "Bins late.", NOW, NOW + timedelta(hours=1), "street_care",
                              ["street_care"], NOW)
    live = Controls(announcements=(a, b))
    assert controls.greeting_messages(live, NOW) == ["Everyone."]
    assert controls.department_messages(live, "street_care", NOW) == ["Bins late."]
    assert controls.department_messages(live, "street_care", NOW + timedelta(hours=1)) == []
    assert controls.greeting_messages(live, NOW + timedelta(hours=2)) == []


@pytest.mark.parametrize(("make", "problem"), [
    (lambda: controls.check_message("   "), "must not be empty"),
    (lambda: controls.check_message("x" * 401), "at most 400"),
    (lambda: controls.parse_time("25:00"), "not a time of day"),
    (lambda: controls.parse_time("noon"), "not a time like 13:30"),
    (lambda: controls.parse_date("24/12/2026"), "not a date like"),
    (lambda: controls.day_closure("x", date(2026, 11, 30), "Closed.", NOW, LONDON), "past"),
    (lambda: controls.span_closure("x", *controls.span_today("09:00", "09:30", NOW, LONDON),
                                   "Closed.", NOW), "over already"),
    (lambda: controls.span_closure("x", *controls.span_today("14:00", "12:00", NOW, LONDON),
                                   "Closed.", NOW), "end must be after"),
    (lambda: controls.announcement("x", "Hi.", NOW, NOW + timedelta(hours=1), "parks",
                                   ["housing"], NOW), "not one of"),
])
def test_bad_controls_are_refused_with_the_field_named(make, problem):
    with pytest.raises(ControlError, match=problem):
        make()


def test_a_message_is_trimmed_to_one_line():
    assert controls.check_message("  Closed\n today.\t ") == "Closed today."


# -- heard on the next call, set from the console -------------------------------------------------


@pytest.fixture
def staff(redis_client):
    return {"super": add_agent(redis_client, "Sam Supervisor", (), "+447911123401",
                               Role.SUPERVISOR),
            "tax": add_agent(redis_client, "Tara Tax", ("council_tax",), "+447911123402")}


@pytest.fixture
def frozen():
    with time_machine.travel(OPEN, tick=False) as clock:
        yield clock


def test_a_closure_set_in_the_console_is_heard_on_the_next_call(
        app, staff, make_caller, redis_client, frozen):
    before = make_caller(LANDLINE).ring()
    assert before.has("Gather") and "Please choose" in before.text
    sup = as_user(app, staff["super"])
    r = sup.post("/console/controls/closures", kind="span", start="09:30", end="12:00",
                 message=CLOSURE_SAID)
    assert r.status_code == 302
    doc = make_caller(LANDLINE).ring()  # the same app: no restart
    assert CLOSURE_SAID in doc.text and "Please choose" not in doc.text
    assert "Our telephone lines are closed" not in doc.text
    assert "call you back tomorrow" in doc.text
    (entry,) = audit.read(redis_client, action="control_set")
    assert entry.actor == staff["super"].id and entry.detail["message"] == CLOSURE_SAID
    assert [e for e in read_all(redis_client) if e["event"] == "OUTOFHOURS"][-1]["data"] == {
        "live_closure": True}
    frozen.move_to("2026-12-01 12:00:00+00:00")  # it ends by itself
    assert "Please choose" in make_caller(LANDLINE).ring().text


def test_a_whole_day_closure_moves_the_callback_day(app, staff, make_caller, frozen):
    sup = as_user(app, staff["super"])
    sup.post("/console/controls/closures", kind="day", date="2026-12-02",
             message="We are closed tomorrow for the council elections.")
    frozen.move_to("2026-12-01 18:00:00+00:00")
    doc = make_caller(LANDLINE).ring()
    assert "call you back Thursday 3 December" in doc.text


def test_an_announcement_follows_the_recording_notice(app, staff, make_caller, config,
                                                      frozen):
    sup = as_user(app, staff["super"])
    sup.post("/console/controls/announcements", start_date="", start="", end_date="2026-12-01",
             end="11:00", message="Our website is down this morning.")
    sup.post("/console/controls/announcements", start_date="", start="", end_date="2026-12-01",
             end="11:00", department="street_care", message="Bin collections are a day late.")
    caller = make_caller(LANDLINE)
    says = [s.text for s in caller.ring().all("Say")]
    notice = says.index(config.messages.recording_notice)
    assert says[notice + 1] == "Our website is down this morning."
    caller.press("4")
    chose = caller.follow()
    assert [s.text for s in chose.all("Say")][0] == "Bin collections are a day late."
    frozen.move_to("2026-12-01 11:00:00+00:00")
    assert "Our website is down" not in make_caller(LANDLINE).ring().text


def test_the_emergency_switch(app, staff, make_caller, frozen):
    sup = as_user(app, staff["super"])
    sup.post("/console/controls/emergency", mode="aware",
             message="We are aware that the A12 is closed and bins are late.")
    doc = make_caller(LANDLINE).ring()
    assert "A12 is closed" in doc.text and "Please choose" in doc.text
    sup.post("/console/controls/emergency", mode="closed",
             message="Our offices are closed because of snow.")
    doc = make_caller(LANDLINE).ring()
    assert "because of snow" in doc.text and "Please choose" not in doc.text
    sup.post("/console/controls/emergency", mode="off")
    assert "Please choose" in make_caller(LANDLINE).ring().text


def test_a_closed_queue_offers_voicemail_at_once(app, staff, make_caller, redis_client,
                                                 frozen):
    sup = as_user(app, staff["super"])
    sup.post("/console/controls/queues/council_tax", state="closed", message="")
    caller = make_caller(LANDLINE)
    caller.ring()
    doc = caller.press("2")
    if not doc.has("Redirect") or "voicemail" not in doc.first("Redirect").text:
        doc = caller.follow()
    assert "Sorry, the Council Tax line is closed at the moment." in doc.text
    assert doc.first("Redirect").text.startswith("/voicemail/start?dept=council_tax")
    assert not doc.has("Enqueue")
    sup.post("/console/controls/queues/council_tax", state="open")
    assert not controls_store.load(redis_client).queues_closed


def test_the_page_shows_and_ends_controls(app, staff, redis_client, frozen):
    sup = as_user(app, staff["super"])
    sup.post("/console/controls/closures", kind="span", start="13:00", end="14:00",
             message=CLOSURE_SAID)
    page = sup.page("/console/controls")
    assert CLOSURE_SAID in page and "Planned" in page
    (c,) = controls_store.load(redis_client).closures
    sup.post(f"/console/controls/closure/{c.id}/end")
    assert not controls_store.load(redis_client).closures
    assert [e.action for e in audit.read(redis_client)][:2] == ["control_cleared",
                                                               "control_set"]


def test_bad_input_on_the_page_is_one_clear_line(app, staff, redis_client, frozen):
    sup = as_user(app, staff["super"])
    sup.post("/console/controls/closures", kind="span", start="13:00", end="14:00", message="")
    assert "Message: must not be empty" in sup.page("/console/controls")
    sup.post("/console/controls/closures", kind="span", start="13:00", end="14:00",
             message="y" * 500)
    assert "at most 400" in sup.page("/console/controls")
    assert controls_store.load(redis_client).empty


def test_advisors_cannot_set_controls(app, staff, redis_client, frozen):
    tax = as_user(app, staff["tax"])
    assert tax.post("/console/controls/emergency", mode="closed",
                    message="Hijacked.").status_code == 403
    assert controls_store.load(redis_client).empty


def test_an_unreadable_field_is_skipped(redis_client, caplog):
    redis_client.hset(controls_store.KEY, mapping={"closure:bad": "{not json",
                                                   "queue:housing": '{"since": 1}'})
    live = controls_store.load(redis_client)
    assert live.closures == () and live.queues_closed["housing"] == QueueClosed(
        "housing", "", datetime.fromtimestamp(1, UTC), "")
    assert "unreadable" in caplog.text


# -- the CLI -------------------------------------------------------------------------------------


@pytest.fixture
def ivr_cli(monkeypatch, capsys):
    from conftest import TEST_REDIS_URL

    monkeypatch.setenv("REDIS_URL", TEST_REDIS_URL)

    def run(*argv: str) -> tuple[int, str, str]:
        code = cli.main(["controls", *argv])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def test_the_cli_sets_lists_and_ends(ivr_cli, redis_client, frozen):
    code, out, _ = ivr_cli("close", "--from", "12:00", "--to", "13:00", "--message",
                           CLOSURE_SAID)
    assert code == 0 and "Tue 1 Dec 12:00 to 13:00" in out
    assert ivr_cli("announce", "--to", "16:00", "--department", "housing", "--message",
                   "Repairs line busy.")[0] == 0
    assert ivr_cli("emergency", "aware", "--message", "We know.")[0] == 0
    assert ivr_cli("queue", "benefits", "closed")[0] == 0
    code, out, _ = ivr_cli("list")
    assert code == 0
    assert all(x in out for x in ("closure", "announcement", "emergency (aware)",
                                  "queue benefits closed: Sorry, the Benefits line"))
    (c,) = controls_store.load(redis_client).closures
    assert ivr_cli("end", c.id)[0] == 0
    assert ivr_cli("emergency", "off")[0] == 0
    assert ivr_cli("queue", "benefits", "open")[0] == 0
    live = controls_store.load(redis_client)
    assert not (live.closures or live.emergency or live.queues_closed)
    assert {e.actor for e in audit.read(redis_client)} == {"cli"}


@pytest.mark.parametrize(("argv", "named"), [
    (("close", "--message", "x"), "--date"),
    (("close", "--from", "13:00", "--message", "x"), "--to"),
    (("close", "--date", "2026-12-32", "--message", "x"), "--date"),
    (("close", "--from", "13:00", "--to", "12:00", "--message", "x"), "--to"),
    (("close", "--date", "2026-12-24", "--message", " "), "--message"),
    (("announce", "--to", "25:00", "--message", "x"), "--to"),
    (("queue", "parks", "closed"), "department"),
    (("end", "nope"), "ID"),
    (("emergency", "closed"), "--message"),
])
def test_cli_mistakes_are_one_line(ivr_cli, redis_client, frozen, argv, named):
    code, out, err = ivr_cli(*argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"error: {named}"), err
    assert controls_store.load(redis_client).empty


def test_baseline_closures_still_come_from_config(config):
    listed = config.model_copy(update={"hours": config.hours.model_copy(
        update={"closures": [date(2026, 12, 29)]})})
    hours = controls.effective_hours(listed.hours.opening_hours(), Controls())
    assert not is_working_day(date(2026, 12, 29), hours)


@pytest.mark.parametrize(("left", "day", "kept"), [
    ("2026-12-01 19:00:00+00:00", date(2026, 12, 2), True),  # as promised
    ("2026-12-01 19:00:00+00:00", date(2026, 12, 3), True),  # a live closure moved it on
    ("2026-12-02 00:00:30+00:00", date(2026, 12, 2), False),  # went past midnight: recompute
    ("2026-12-01 19:00:00+00:00", date(2026, 12, 5), False),  # a Saturday: not a working day
    ("2026-12-01 19:00:00+00:00", date(2027, 6, 1), False),  # absurdly far: recompute
])
def test_the_day_promised_at_the_tone_is_kept_when_it_can_be(config, left, day, kept):
    from ivr.calendar import promised_window

    window = promised_window(at(left), day, config.hours.opening_hours())
    assert (window is not None and window.callback_day == day) is kept


def test_a_voicemail_keeps_the_promised_day_without_reading_the_controls(
        app, staff, make_caller, redis_client, frozen):
    sup = as_user(app, staff["super"])
    sup.post("/console/controls/closures", kind="day", date="2026-12-02",
             message="Closed tomorrow.")
    frozen.move_to("2026-12-01 19:00:00+00:00")
    caller = make_caller()
    doc = caller.post("/voicemail/start?dept=general")
    assert "by the end of Thursday 3 December" in doc.text
    assert "day=2026-12-03" in doc.first("Record").get("action")
    caller.record()
    (task,) = [redis_client.hgetall(k) for k in redis_client.scan_iter("{ivr}:cb:task:*")
               if redis_client.type(k) == b"hash"]
    assert task[b"callback_day"] == b"2026-12-03"


def test_live_controls_cost_no_round_trip_of_their_own(make_caller, warm_app, trips,
                                                       redis_client, frozen):
    """Every webhook stays within its two round trips with controls set (issue 5)."""
    now = datetime.now(UTC)
    ann = controls.announcement("a1", "Bins are late.", now, now + timedelta(hours=2),
                                "council_tax", ["council_tax"], now)
    controls_store.put_announcement(redis_client, ann, "cli", now.timestamp(), 30)
    caller = make_caller(LANDLINE)
    costs = {"ring": trips.during(caller.ring)[1],
             "menu": trips.during(lambda: caller.press("2"))[1]}
    doc, costs["department"] = trips.during(caller.follow)
    assert "Bins are late." in doc.text and doc.verbs[-1] == "Enqueue"
    start, end = controls.span_today("09:00", "12:00", now, LONDON)
    controls_store.put_closure(redis_client, controls.span_closure("c1", start, end,
                                                                   CLOSURE_SAID, now),
                               "cli", now.timestamp(), 30)
    closed = make_caller(LANDLINE)
    doc, costs["ring closed"] = trips.during(closed.ring)
    assert CLOSURE_SAID in doc.text
    doc, costs["closed choice"] = trips.during(lambda: closed.press("2"))
    doc, costs["voicemail start"] = trips.during(closed.follow)
    assert doc.has("Record")
    assert max(costs.values()) <= 2, costs
