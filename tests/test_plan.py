"""``ivr plan``: measured rates from the events, the forecast, both models' staffing, output.

Four weeks of a small centre's events are written into Redis as the app writes them
(ENTERQUEUE, CONNECT/ABANDON/EXITWITHTIMEOUT with the wait, the advisor's AGENTSTATE
sequence taking -> wrap_up -> available, COMPLETECALLER with the talk time), with known
handle times and waits, so every measured figure has a value worked out by hand.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from conftest import ROOT, TEST_REDIS_URL

from ivr import erlang, events
from ivr.cli import main
from ivr.events import Event
from ivr.staffing import forecast, measure, recommend

LONDON = ZoneInfo("Europe/London")
UNTIL = date(2026, 11, 30)  # a Monday: the four weeks are 2 Nov - 29 Nov 2026


def ev(kind: Event, call: str, ts: float, dept: str = "council_tax", **data) -> dict:
    return events.decode(events.fields(kind, call, ts, dept, **data))


def answered(call: str, agent: str, at: float, wait: int, setup: float, talk: float,
             wrap: float) -> list[dict]:
    """A caller answered after ``wait`` s; the advisor's time is setup + talk + wrap."""
    taken = at + wait - setup / 2
    return [ev(Event.ENTER_QUEUE, call, at),
            ev(Event.AGENT_STATE, "AGENTLINE", taken, None, agent=agent, state="on_call",
               previous="available", reason="taking a council_tax caller"),
            ev(Event.CONNECT, call, at + wait, wait=wait, agent=agent, reason="answered"),
            ev(Event.AGENT_STATE, "AGENTLINE", taken + setup + talk, None, agent=agent,
               state="wrap_up", previous="on_call", reason="call ended"),
            ev(Event.COMPLETE_CALLER, "AGENTLINE", taken + setup + talk, None, agent=agent,
               duration=int(talk), caller=call),
            ev(Event.AGENT_STATE, "AGENTLINE", taken + setup + talk + wrap, None, agent=agent,
               state="available", previous="wrap_up", reason="wrap-up done")]


def four_weeks() -> list[dict]:
    """Mondays: 4 callers 09:00-09:30 and 2 callers 09:30-10:00 (one Monday, a bank holiday
    stand-in, has none); Tuesdays: 3 callers 10:00-10:30. Each answered caller takes 10 s of
    set-up, 200 s of talk and 30 s of wrap-up; one caller a day hangs up after 40 s and one
    reaches voicemail at 120 s."""
    out: list[dict] = []
    n = 0
    for week in range(4):
        monday = date(2026, 11, 2 + 7 * week)
        tuesday = date(2026, 11, 3 + 7 * week)
        days = [(tuesday, [(10, 0)] * 3)]
        if week != 2:
            days.append((monday, [(9, 0)] * 4 + [(9, 30)] * 2))
        for day, times in days:
            for k, (h, m) in enumerate(times):
                at = datetime(day.year, day.month, day.day, h, m, tzinfo=LONDON).timestamp()
                at += 60 * k
                n += 1
                call = f"CA{n:032d}"
                if k == 0:
                    out += [ev(Event.ENTER_QUEUE, call, at),
                            ev(Event.ABANDON, call, at + 40, wait=40, reason="hung_up")]
                elif k == 1:
                    out += [ev(Event.ENTER_QUEUE, call, at),
                            ev(Event.EXIT_TIMEOUT, call, at + 120, wait=120,
                               reason="timed_out")]
                else:
                    out += answered(call, f"10{n:02d}", at, 20, 10, 200, 30)
    return out


def write(redis_client, log: list[dict]) -> None:
    for e in sorted(log, key=lambda e: e["ts"]):
        redis_client.xadd(events.STREAM, {**{k: str(v) for k, v in e.items() if k != "data"},
                                          "ts": f"{e['ts']:.3f}",
                                          "data": json.dumps(e["data"])},
                          id=f"{int(e['ts'] * 1000)}-*")


def test_measured_from_the_events():
    m = measure.measure(four_weeks(), LONDON, 120)
    assert m.offered == 3 * 6 + 4 * 3  # three Mondays of 6, four Tuesdays of 3
    h = m.handling
    assert h.answered == 3 * 4 + 4 * 1
    assert (h.handle, h.talk, h.wrap_up, h.setup) == pytest.approx((240, 200, 30, 10))
    # patience: 7 abandons; waited 40 s each, 120 s by each timed-out caller, 20 s by each
    # answered one: the censored estimate is the total waited over the abandons
    assert m.patience.abandoned == 7
    assert m.patience.mean == pytest.approx((7 * 40 + 7 * 120 + 16 * 20) / 7)
    assert m.answered_within == 16


def test_the_forecast_is_the_mean_of_the_same_weekday_and_half_hour_on_days_with_calls():
    m = measure.measure(four_weeks(), LONDON, 120)
    ahead = forecast.forecast(m.counts, UNTIL, 4)
    monday_9 = ahead[(0, 18)]
    assert (monday_9.calls, monday_9.days, monday_9.stderr) == (4.0, 3, 0.0)  # holiday left out
    assert ahead[(0, 19)].calls == 2.0 and ahead[(1, 20)].calls == 3.0
    assert set(ahead) == {(0, 18), (0, 19), (1, 20)}
    assert forecast.forecast(m.counts, UNTIL, 1)[(1, 20)].days == 1  # only the last week
    assert forecast.forecast(m.counts, date(2026, 11, 2), 4) == {}


def test_each_half_hour_is_staffed_by_both_models():
    target = recommend.Target(0.8, 120)
    p = recommend.plan_slot(18, 45, 260, 180, target)
    load = erlang.erlangs(90, 260)
    assert p.erlangs == pytest.approx(load)
    assert p.erlang_c == erlang.agents_for(0.8, 120, load, 260)
    assert p.erlang_a == erlang.agents_for_a(0.8, 120, load, 260, 180, 120)
    assert p.a == erlang.erlang_a(p.erlang_a, load, 260, 180, 120, 120)
    assert p.erlang_a < p.erlang_c  # callers who leave relieve the queue
    assert recommend.by_hour([p, recommend.plan_slot(19, 20, 260, 180, target)]) == {
        9: p.erlang_a}


def test_plan_from_the_events_in_redis(redis_client, monkeypatch, capsys):
    monkeypatch.setenv("REDIS_URL", TEST_REDIS_URL)
    monkeypatch.setenv("IVR_CONFIG", str(ROOT / "config.yaml"))
    write(redis_client, four_weeks())
    assert main(["plan", "--until", str(UNTIL), "--weeks", "4", "--target", "0.9"]) == 0
    out = capsys.readouterr().out
    assert "Staffing plan from the events from 2026-11-02 to 2026-11-29 (4 weeks)" in out
    assert "handle time 240 s per answered caller (set-up 10 s, talk 200 s, wrap-up 30 s" in out
    assert "mean patience 206 s (7 hung up" in out
    assert "Target: 90% answered within 120 s" in out
    assert "Monday (mean of 3 Mondays with calls)" in out
    assert "Tuesday (mean of 4 Tuesdays with calls)" in out
    load = erlang.erlangs(8, 240)  # 4 callers in half an hour
    a = erlang.agents_for_a(0.9, 120, load, 240, (7 * 40 + 7 * 120 + 16 * 20) / 7, 120)
    c = erlang.agents_for(0.9, 120, load, 240)
    row = next(line.split() for line in out.splitlines() if line.strip().startswith("09:00"))
    assert row[:4] == ["09:00", "4.0", f"{load:.2f}", str(c)] and row[5] == str(a)


def test_plan_from_a_profile_as_html(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("IVR_CONFIG", str(ROOT / "config.yaml"))
    page = tmp_path / "plan.html"
    assert main(["plan", "--profile", str(ROOT / "profiles" / "weekday.yaml"), "--format",
                 "html", "--output", str(page)]) == 0
    html = page.read_text()
    assert html.count("<svg") == 1 and 'aria-describedby="day0-table"' in html
    assert '<div id="day0-table"' in html and "<th" in html and "09:30" in html
    assert "Advisors, Erlang A with the cut-off" in html


def test_plan_with_a_simulated_day(redis_client, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("IVR_CONFIG", str(ROOT / "config.yaml"))
    profile = tmp_path / "one-hour.yaml"
    profile.write_text("calls_per_hour: {10: 40}\nhandle_seconds: 200\n"
                       "patience_seconds: 150\n")
    assert main(["plan", "--profile", str(profile), "--simulate", "--redis-url",
                 TEST_REDIS_URL]) == 0
    out = capsys.readouterr().out
    assert "simulated through the webhooks, staffed per hour by Erlang A:" in out
    sim = next(line.split() for line in out.splitlines() if line.strip().startswith("10:00")
               and len(line.split()) == 6)
    assert 15 <= int(sim[1]) <= 70 and sim[3].endswith("%")


@pytest.mark.parametrize(("args", "named"), [
    (["--target", "1.5"], "--target"), (["--target", "high"], "--target"),
    (["--weeks", "0"], "--weeks"), (["--until", "30/11/2026"], "--until"),
    (["--max-abandoned", "0"], "--max-abandoned"), (["--max-voicemail", "2"], "--max-voicemail"),
    (["--profile", "nowhere.yaml"], "--profile"), (["--simulate", "--profile", "x"], "--simulate"),
    (["--output", "/nonexistent/dir/plan.html"], "--output"),
    (["--until", "2020-01-06"], "--weeks"),  # no events then
])
def test_each_mistake_is_one_line_naming_the_argument(redis_client, monkeypatch, capsys, args,
                                                      named):
    monkeypatch.setenv("REDIS_URL", TEST_REDIS_URL)
    monkeypatch.setenv("IVR_CONFIG", str(ROOT / "config.yaml"))
    monkeypatch.delenv("IVR_SIM_REDIS_URL", raising=False)
    assert main(["plan", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and named in err and err.count("\n") == 1, err
