"""The report's figures against hand-worked expectations (see tests/report_events.py)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest
import time_machine
from conftest import ROOT, TEST_REDIS_URL
from report_events import FRI_DUE, XMAS_DUE, at, decoded, entries, entry

from ivr import cli, events, report
from ivr.calendar import callback_window, with_closures
from ivr.events import Event, decode
from ivr.report import demo as report_demo
from ivr.report.live import Backlog, backlog, live_today
from ivr.report.text import render_csv, render_text
from voicemail.tasks import TASK, WORKLIST

NAMES = {"council_tax": "Council Tax", "benefits": "Benefits", "housing": "Housing",
         "general": "Customer Service", "street_care": "Street Care"}


@pytest.fixture(scope="module")
def full():
    return report.compute(decoded())


def test_settings_come_from_the_config(config):
    options = report.settings(config)
    assert (options["limit"], options["tolerance"], options["attempts"]) == (120, 5, 3)
    assert options["hours"].tz.key == "Europe/London"


def test_queue_figures(full):
    assert full.offered == 12  # CA01-CA12; CA09 never left but is long past the limit
    assert (full.answered, full.answered_within) == (4, 2)  # within: CA01 (120 s), CA07 (45 s)
    assert (full.abandoned, full.abandoned_within) == (3, 2)  # CA04 30 s, CA10 120 s; CA05 130
    assert (full.timed_out, full.full, full.errors, full.no_outcome) == (3, 1, 0, 1)
    assert full.waiting == 0
    assert full.no_agents == 3  # CA13, CA16, CA17: straight to voicemail, never queued
    assert full.longest_wait == 130
    assert full.mean_wait == pytest.approx((120 + 121 + 126 + 45) / 4)


def test_service_level_counts_120_not_121(full):
    assert full.service_level == pytest.approx(2 / 12)
    # SL2, Asterisk ServicelevelPerf2: (answered within + abandoned within) /
    # (answered + abandoned) = (2 + 2) / (4 + 3); timeouts and the full queue are outside it.
    assert full.service_level2 == pytest.approx(4 / 7)
    ten = full.by_hour[10]  # CA01 120 s, CA02 121 s, CA03 126 s
    assert (ten.offered, ten.answered, ten.answered_within) == (3, 3, 1)
    assert (ten.promise_kept, [m.visit.call for m in ten.misses]) == (2, ["CA03"])


def test_two_minute_promise(full):
    # Kept: CA01 120, CA02 121, CA06 voicemail 123, CA07, CA08 full, CA11 120, CA12 121.
    assert full.promise_kept == 7
    assert full.short_abandons == 2  # CA04 and CA10 hung up within 125 s: not counted
    assert [(m.visit.call, m.visit.outcome, m.visit.wait, m.what) for m in full.misses] == [
        ("CA03", "answered", 126, "answered after 126 s"),
        ("CA05", "abandoned", 130, "hung up after 130 s, still queuing past the limit"),
        ("CA09", "", None, "no outcome recorded after 125 s in the queue"),
    ]
    assert full.promise_counted == 10
    assert full.promise_share == pytest.approx(0.7)


def test_next_working_day_promise(full):
    assert (full.callbacks, full.voicemails, full.voicemails_merged) == (7, 8, 1)
    assert (full.callbacks_answered, full.callbacks_unreachable) == (4, 2)
    # Kept: T-TUE, T-FRI1 (16:59), T-XMAS (over the holidays), T-UNR (3 attempts, on time).
    assert full.callbacks_kept == 4
    assert full.callback_share == pytest.approx(4 / 7)
    overdue = {o.task.task: o for o in full.overdue}
    assert set(overdue) == {"T-FRI2", "T-UNR2", "T-OPEN"}
    assert overdue["T-FRI2"].task.closed_at == at(11, 30, 17, 1)
    assert overdue["T-FRI2"].task.due_at == FRI_DUE
    assert overdue["T-FRI2"].what == "answered 1 min after the due time"
    assert overdue["T-UNR2"].what == "closed unreachable after only 2 of 3 attempts"
    assert overdue["T-OPEN"].task.status == "open"
    assert overdue["T-OPEN"].task.voicemails == 2  # CA17's message joined CA16's task


# Closure days the council might list (config.yaml ships none), added as live ones would be.
SHUTDOWN = (date(2026, 12, 29), date(2026, 12, 30), date(2026, 12, 31))


def test_friday_voicemail_is_due_monday_and_christmas_after_the_holidays(config):
    hours = with_closures(config.hours.opening_hours(), SHUTDOWN)
    friday = callback_window(datetime.fromtimestamp(at(11, 27, 16, 32), UTC), hours)
    assert friday.due_at.timestamp() == FRI_DUE  # Monday 30 November 17:00
    christmas = callback_window(datetime.fromtimestamp(at(12, 24, 15, 1), UTC), hours)
    # Christmas Day, Boxing Day (Monday 28th), the 29-31 closure, New Year's Day, a weekend.
    assert christmas.due_at.timestamp() == XMAS_DUE


def test_due_time_worked_out_when_an_old_event_lacks_it(config):
    old = [entry(Event.CALLBACK_CREATED, "CAold", at(12, 24, 15, 1), "general", task="T1"),
           entry(Event.CALLBACK_DONE, "CAagent", at(1, 4, 16, 59, year=2027), "general",
                 task="T1", attempts=1)]
    r = report.compute([decode(e) for e in old],
                       hours=with_closures(config.hours.opening_hours(), SHUTDOWN))
    assert r.callbacks_kept == 1 and r.overdue == ()


def _task_events(*attempts_then_close) -> list[dict]:
    """T1 (general) left Tue 24 Nov 19:00, due Wed 25 Nov 17:00, then the given events."""
    out = [entry(Event.CALLBACK_CREATED, "CAvm", at(11, 24, 19), "general", task="T1",
                 due_at=at(11, 25, 17))]
    return [decode(e) for e in out + list(attempts_then_close)]


def test_an_attempt_reported_twice_counts_once():
    """Two real attempts, the first reported twice (the double count of issue 15), then closed
    unreachable: not kept, however the attempts were reported."""
    tried = [entry(Event.CALLBACK_ATTEMPT, "CAline", at(11, 25, hour, minute), "general",
                   task="T1", agent="1001", outcome="no-answer", attempt=n)
             for n, hour, minute in ((1, 10, 0), (1, 10, 1), (2, 11, 0))]
    closed = entry(Event.CALLBACK_UNREACHABLE, "CAline", at(11, 25, 11), "general", task="T1",
                   attempts=2)
    r = report.compute(_task_events(*tried, closed), attempts=3)
    assert r.callbacks_kept == 0 and r.callbacks_unreachable == 1
    (late,) = r.overdue
    assert (late.task.attempts, late.what) == (2, "closed unreachable after only 2 of 3 "
                                                   "attempts")


def test_callbacks_answered_by_hand_are_counted_apart():
    by_hand = [entry(Event.CALLBACK_ATTEMPT, "", at(11, 25, 10), "general", task="T1",
                     agent="1001", outcome="answered", attempt=1, manual=True),
               entry(Event.CALLBACK_DONE, "", at(11, 25, 10), "general", task="T1",
                     agent="1001", attempts=1)]
    r = report.compute(_task_events(*by_hand), attempts=3)
    assert (r.callbacks_answered, r.callbacks_kept, r.callbacks_by_hand) == (1, 1, 1)
    assert "1 answered (1 recorded by hand), 0 unreachable, 0 open" in render_text(r, NAMES)
    total = next(csv.DictReader(io.StringIO(render_csv(r, NAMES))))
    assert total["callbacks_answered_by_hand"] == "1"
    dialled = report.compute(decoded())
    assert dialled.callbacks_by_hand == 0
    assert "4 answered, 2 unreachable" in render_text(dialled, NAMES)


def test_as_of_decides_pending_and_waiting():
    # Monday 30 November noon: both Friday callbacks are open but not yet due.
    monday = report.compute(decoded(), as_of=at(11, 30, 12))
    assert monday.callbacks == 6 and monday.callbacks_pending == 2
    assert {o.task.task for o in monday.overdue} == {"T-UNR2", "T-OPEN"}
    assert monday.callbacks_kept == 2  # T-TUE, T-UNR
    assert monday.callback_share == pytest.approx(2 / 4)
    # A minute after CA09 joined the queue it is waiting, neither offered nor an exception.
    early = report.compute(decoded(), as_of=at(11, 25, 11, 1))
    assert (early.offered, early.waiting) == (8, 1)
    assert "CA09" not in [m.visit.call for m in early.misses]


def test_period_keeps_what_happened_there_and_later_outcomes():
    start, end = report.day_bounds(date(2026, 11, 23), date(2026, 11, 29))
    week = report.compute(decoded(), start=start, end=end)
    assert week.no_agents == 2  # CA13 on 24 December is outside
    assert week.callbacks == 6 and "T-XMAS" not in {o.task.task for o in week.overdue}
    assert week.callbacks_kept == 3  # T-FRI1 answered on Monday 30th, after the week: kept
    assert week.offered == 12


def test_recording_notice(full):
    assert (full.inbound, full.notice_played) == (22, 21)
    assert [c.call for c in full.notice_missing] == ["CA30"]
    assert full.out_of_hours == 2


def test_transfers_and_online(full):
    assert full.transfers == {"payment": 3, "text_phone": 1}
    assert full.transfer_results == {"payment": {"completed": 1, "no-answer": 1, "no result": 1},
                                     "text_phone": {"completed": 1}}
    # asked for (SMSLINK), but no SMSSENT from the job: not counted as sent, nor failed yet
    assert (full.online, full.sms_offered, full.sms_requested) == (2, 1, 1)
    assert (full.sms_links, full.sms_failed) == (0, 0)


def test_first_contact_resolution_and_feedback(full):
    assert (full.wrapups, full.resolved) == (4, 3)
    assert full.fcr == pytest.approx(0.75)
    assert full.feedback_scores == {1: 0, 2: 1, 3: 0, 4: 1, 5: 2}
    assert full.feedback_mean == pytest.approx((5 + 4 + 2 + 5) / 4)
    assert [(c.call, c.score, c.comment) for c in full.comments] == [("CA01", 5, "RECOMMENT1")]


def test_by_department(full):
    assert list(full.by_department) == ["", "benefits", "council_tax", "general", "housing"]
    ct = full.by_department["council_tax"]
    assert (ct.offered, ct.answered, ct.answered_within, ct.abandoned, ct.timed_out) == (
        6, 3, 1, 1, 2)
    assert ct.service_level2 == pytest.approx((1 + 1) / (3 + 1))
    assert (ct.promise_kept, ct.short_abandons, len(ct.misses)) == (4, 1, 1)
    assert (ct.callbacks_kept, ct.callbacks) == (1, 2)
    # Wrap-ups and feedback carry no department: they follow the caller's call.
    assert ct.fcr == pytest.approx(2 / 3)
    assert ct.feedback_mean == pytest.approx(11 / 3)
    housing = full.by_department["housing"]
    assert (housing.offered, housing.service_level, housing.service_level2) == (3, 0.0, 0.5)
    assert (housing.no_agents, housing.voicemails, housing.voicemails_merged) == (2, 3, 1)
    general = full.by_department["general"]
    assert (general.callbacks, general.callbacks_kept, general.offered) == (3, 2, 0)
    unrouted = full.by_department[""]
    assert (unrouted.inbound, sum(unrouted.transfers.values()), unrouted.offered) == (5, 4, 0)


def test_by_hour(full):
    sixteen = full.by_hour[16]  # CA11, CA12 to voicemail; their tasks created at 16:32/16:42
    assert (sixteen.offered, sixteen.timed_out, sixteen.service_level) == (2, 2, 0.0)
    assert (sixteen.callbacks, sixteen.callbacks_kept) == (2, 1)
    fourteen = full.by_hour[14]  # CA04 30 s and CA05 130 s hung up
    assert (fourteen.abandoned, fourteen.abandoned_within) == (2, 1)
    assert fourteen.service_level2 == pytest.approx(1 / 2)
    assert sum(h.offered for h in full.by_hour.values()) == full.offered


def test_department_filter():
    housing = report.compute(decoded(), department="housing")
    assert (housing.offered, housing.no_agents, housing.callbacks) == (3, 2, 2)
    assert list(housing.by_department) == ["housing"]
    assert housing.inbound == 5  # CA04, CA05, CA06, CA16, CA17


def test_repeated_leave_counted_once_and_missing_enter_recovered(full):
    ca04 = [v for v in full.visits if v.call == "CA04"]
    assert [(v.outcome, v.wait) for v in ca04] == [("abandoned", 30)]
    lone = [decode(entry(Event.CONNECT, "CAx", at(11, 23, 10, 1), "benefits", wait=50))]
    r = report.compute(lone)
    assert (r.offered, r.answered_within, r.visits[0].ts) == (1, 1, at(11, 23, 10, 0, 10))


def test_splits_add_up_on_a_generated_week(config):
    options = report.settings(config)
    start, end = report.day_bounds(date(2026, 11, 30), date(2026, 12, 6))
    week = [decode(e) for e in report_demo.sample_week(date(2026, 11, 30), options["hours"])]
    r = report.compute(week, start=start, end=end, **options)
    assert r.offered > 300
    assert r.offered == (r.answered + r.abandoned + r.timed_out + r.full + r.errors
                         + r.no_outcome)
    assert r.offered == r.promise_kept + r.short_abandons + len(r.misses)
    for split in (r.by_department, r.by_hour):
        for name in ("offered", "answered", "answered_within", "abandoned", "callbacks",
                     "callbacks_kept", "inbound", "wrapups", "feedback_count"):
            assert sum(getattr(x, name) for x in split.values()) == getattr(r, name), name


def _write_with_ids_at(redis_client, items):
    """Stream entries with ids at chosen times (ms), as Redis would have stored them."""
    for stored_at, e in sorted(items, key=lambda x: x[0]):
        redis_client.xadd(events.STREAM, e, id=f"{int(stored_at * 1000)}-*")


def test_load_events_reads_late_spooled_events_by_their_own_time(redis_client):
    day = report.day_bounds(date(2026, 11, 23), date(2026, 11, 23))
    inside = entry(Event.INCOMING, "CAlive", at(11, 23, 10))
    spooled = entry(Event.INCOMING, "CAspool", at(11, 23, 11))
    before = entry(Event.INCOMING, "CAbefore", at(11, 22, 23, 59))
    very_late = entry(Event.INCOMING, "CAverylate", at(11, 23, 12))
    _write_with_ids_at(redis_client, [
        (at(11, 23, 10), inside), (at(11, 23, 10), inside),  # the same event replayed twice
        (at(11, 23, 0, 1), before),  # stored inside the day but it happened before
        (at(11, 25, 9), spooled),  # Redis was down: replayed two days later
        (at(12, 9, 9), very_late),  # replayed 16 days later: beyond the 7-day window
    ])
    found = report.load_events(redis_client, *day)
    assert [e["call"] for e in found] == ["CAlive", "CAspool"]
    assert found[1]["ts"] == at(11, 23, 11)
    everything = report.load_events(redis_client, *day, whole=True)
    assert [e["call"] for e in everything] == ["CAlive", "CAspool", "CAverylate"]


def test_live_today_and_backlog(redis_client, config):
    options = report.settings(config)
    now = at(11, 30, 11)
    _write_with_ids_at(redis_client, [(float(e["ts"]), e) for e in entries()])
    today = live_today(redis_client, now, **options)
    assert today.offered == 0 and today.callbacks == 0  # nothing happened on Monday yet
    friday = live_today(redis_client, at(11, 27, 16, 45), **options)
    assert (friday.offered, friday.timed_out, friday.callbacks) == (2, 2, 2)
    assert friday.callbacks_pending == 2  # due Monday 17:00
    # The open backlog is the worklist's (voicemail.tasks zsets), not the events': the same
    # open tasks as those events leave on Monday 11:00 (T-OPEN, Thursday's, is overdue).
    redis_client.zadd(WORKLIST, {"T-FRI1": FRI_DUE, "T-FRI2": FRI_DUE, "T-OPEN": at(11, 27, 17)})
    for task, dept in [("T-FRI1", "council_tax"), ("T-FRI2", "council_tax"), ("T-OPEN", "housing")]:
        redis_client.hset(TASK.format(id=task), mapping={"department": dept, "status": "open"})
    assert backlog(redis_client, now) == {
        "council_tax": Backlog(due=2, overdue=0), "housing": Backlog(due=0, overdue=1)}


def test_text_and_csv_renderings(full):
    text = render_text(full, NAMES)
    assert "70.0%  7 of 10 queued callers; 2 hung up sooner, not counted" in text
    assert "57.1%  4 of 7 callbacks; 0 not yet due" in text
    assert "service level (SL) 16.7%" in text
    assert "CA03" in text and "answered after 126 s" in text
    assert "task T-FRI2" in text and "due Mon 30 Nov 17:00  closed Mon 30 Nov 17:01" in text
    rows = list(csv.DictReader(io.StringIO(render_csv(full, NAMES))))
    total = rows[0]
    assert (total["scope"], total["offered"], total["service_level"]) == ("total", "12", "0.1667")
    assert (total["service_level2"], total["promise_2min_share"]) == ("0.5714", "0.7000")
    by_dept = {r["key"]: r for r in rows if r["scope"] == "department"}
    assert by_dept["council_tax"]["name"] == "Council Tax"
    assert by_dept["housing"]["callbacks_overdue"] == "1"
    assert [r["key"] for r in rows if r["scope"] == "hour"] == [
        "09", "10", "11", "12", "13", "14", "15", "16", "19"]


@pytest.fixture
def cli_env(monkeypatch, redis_client):
    monkeypatch.setenv("REDIS_URL", TEST_REDIS_URL)
    monkeypatch.setenv("IVR_CONFIG", str(ROOT / "config.yaml"))
    pipe = redis_client.pipeline()
    for e in entries():
        events.add(pipe, e, 400)
    pipe.execute()
    return redis_client


@time_machine.travel(datetime(2027, 3, 1, tzinfo=UTC), tick=False)
@pytest.mark.parametrize("fmt", ["text", "csv"])
def test_cli_writes_the_report_from_redis(cli_env, tmp_path, capsys, fmt):
    out = tmp_path / f"report.{fmt}"
    code = cli.main(["report", "--from", "2026-11-23", "--to", "2026-12-31", "--format", fmt,
                     "--output", str(out), "--whole-stream"])
    assert code == 0
    assert f"wrote {out} ({fmt}," in capsys.readouterr().err
    written = out.read_text()
    if fmt == "text":
        assert "Monday 23 November 2026 to Thursday 31 December 2026" in written
        assert "70.0%  7 of 10 queued callers" in written
        assert "CA09" in written and "task T-UNR2" in written
    else:
        total = next(csv.DictReader(io.StringIO(written)))
        assert (total["offered"], total["callbacks_kept"], total["callbacks"]) == ("12", "4", "7")


@time_machine.travel(datetime(2027, 3, 1, tzinfo=UTC), tick=False)
def test_cli_department_and_period(cli_env, capsys):
    assert cli.main(["report", "--from", "2026-11-23", "--to", "2026-11-29", "--department",
                     "general", "--format", "csv", "--whole-stream"]) == 0
    total = next(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert (total["name"], total["callbacks"], total["callbacks_kept"]) == (
        "Customer Service", "2", "1")  # T-UNR kept, T-UNR2 not; T-XMAS is outside the week


def test_cli_reads_ids_in_the_period_by_default(redis_client, monkeypatch, tmp_path):
    monkeypatch.setenv("REDIS_URL", TEST_REDIS_URL)
    monkeypatch.setenv("IVR_CONFIG", str(ROOT / "config.yaml"))
    hours = report.settings(cli.load_config(ROOT / "config.yaml"))["hours"]
    report_demo.write(redis_client, report_demo.sample_week(date(2026, 11, 30), hours))
    out = tmp_path / "week.csv"
    with time_machine.travel(datetime(2027, 3, 1, tzinfo=UTC), tick=False):
        assert cli.main(["report", "--from", "2026-11-30", "--to", "2026-12-06",
                         "--format", "csv", "--output", str(out)]) == 0
    total = next(csv.DictReader(io.StringIO(out.read_text())))
    demo = report.compute([decode(e) for e in report_demo.sample_week(
        date(2026, 11, 30), hours)], **report.settings(cli.load_config(ROOT / "config.yaml")),
        start=report.day_bounds(date(2026, 11, 30), date(2026, 12, 6))[0],
        end=report.day_bounds(date(2026, 11, 30), date(2026, 12, 6))[1])
    assert int(total["offered"]) == demo.offered > 0
    assert int(total["callbacks_kept"]) == demo.callbacks_kept


def test_cli_rejects_an_unknown_department(monkeypatch, capsys):
    monkeypatch.setenv("IVR_CONFIG", str(ROOT / "config.yaml"))
    assert cli.main(["report", "--from", "2026-12-01", "--to", "2026-12-07",
                     "--department", "parking", "--demo"]) == 2
    assert "unknown department 'parking'" in capsys.readouterr().err


def test_cli_demo_needs_no_redis(monkeypatch, capsys):
    monkeypatch.setenv("IVR_CONFIG", str(ROOT / "config.yaml"))
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens there
    assert cli.main(["report", "--from", "2026-11-30", "--to", "2026-12-06", "--demo"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Colchester Borough Council - Customer Service Standard report")
    assert "BY DEPARTMENT" in text and "Council Tax" in text
