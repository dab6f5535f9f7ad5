"""``ivr simulate``: the simulator against Erlang C on a small case, and the command's output.

The theory case offers 2 Erlangs (40 calls an hour, handle time 3 minutes) to 3 advisors for
8 hours: about 320 callers, all through the real webhooks, the agent line and the push in
virtual time, each advisor's whole handle time drawn Exp(180 s).

Tolerance, from the size. Against Erlang C itself a share of ~320 callers is a poor estimate:
their waits are strongly correlated (they share busy periods), and over 8 hours the share
answered within 20 s of an ideal M/M/3 queue varies with a standard deviation of about 8 points
from seed to seed (``theory.sampling_sd``). So the test compares the app with the ideal FIFO
M/M/3 queue fed with the *same* arrivals and handle times (common random numbers), which has
the same sampling error: measured, the two differ by at most half a point (seed 1: +0.3,
0.0, -0.2), from the push job's delay of up to 2 s and whole-second waits. 3 points (about ten
callers) covers that; a queue that is not FIFO, loses callers, leaves advisors idle while
callers wait or adds overhead to each call misses by far more (the agent line's old 20 s per
call was 20 points). Against Erlang C the test allows three standard deviations. The
benchmark (bench/erlang_check.py, ~4,800 callers per setting) makes the large comparison.
"""

from __future__ import annotations

import io
import json
import statistics

import pytest
from conftest import ROOT, TEST_REDIS_URL

from ivr import erlang
from ivr.cli import main
from ivr.config import load_config
from ivr.sim import theory
from ivr.sim.simulate import DAY, Profile, ProfileError, ProgressLine, arrivals
from ivr.sim.simulate_cli import simulate_once

TOLERANCE = 0.03  # simulated vs the ideal queue on the same draws (see the module docstring)


def test_a_small_theory_case_matches_erlang_c(redis_client):
    config = theory.theory_config(load_config(ROOT / "config.yaml"))
    assert config.queue.voicemail_after == 3600 and config.agents.whisper is False
    hours = range(9, 17)
    out = simulate_once(config, TEST_REDIS_URL, theory.theory_profile(2.0, 180.0),
                        {h: 3 for h in hours}, hours, seed=1, quiet=True, theory_mode=True)
    assert 250 <= len(out.waits) <= 400  # every caller offered, each one answered
    assert out.report.answered == out.report.offered == len(out.waits) == len(out.arrivals)
    assert out.calls - len(out.arrivals) <= 3  # the last callers reach the queue after 17:00
    assert out.report.timed_out == out.report.abandoned == 0
    # the advisors' holding time is the drawn handle time: no overhead on the agent line
    assert out.holding == pytest.approx(statistics.mean(out.handles), rel=0.02)
    sd = theory.sampling_sd(3, 2.0, 180.0, len(hours))
    for row in theory.compare(out, 3, 2.0, 180.0):
        assert row.simulated == pytest.approx(row.ideal, abs=TOLERANCE), row
        assert row.adjusted == pytest.approx(row.erlang_c, abs=TOLERANCE), row
        assert row.simulated == pytest.approx(row.erlang_c, abs=3 * sd), row
    assert [r.erlang_c for r in theory.compare(out, 3, 2.0, 180.0)] == [
        erlang.service_level(3, 2.0, t, 180.0) for t in theory.TIMES]


def test_the_ideal_queue_is_first_come_first_served():
    assert theory.fifo_waits([0, 1, 2, 3], [10, 10, 10, 1], 2) == [0, 0, 8, 8]
    assert theory.share_within([0.5, 20.9, 21.0], 20, whole_seconds=True) == pytest.approx(2 / 3)
    assert theory.share_within([0.5, 20.9, 21.0], 20) == pytest.approx(1 / 3)


def test_poisson_arrivals_follow_the_hourly_profile():
    import random

    profile = Profile.from_dict({"calls_per_hour": {9: 100, 10: 0, 11: 400}})
    times = arrivals(random.Random(7), profile, range(9, 12))
    by_hour = [sum(int(t // 3600) == h for t in times) for h in (9, 10, 11)]
    assert abs(by_hour[0] - 100) < 4 * 10 and by_hour[1] == 0 and abs(by_hour[2] - 400) < 4 * 20
    assert times == sorted(times)


def test_profiles_load_from_json_and_yaml(tmp_path):
    (tmp_path / "p.json").write_text(json.dumps({"calls_per_hour": 30, "handle_seconds": 200,
                                                 "patience_seconds": None}))
    (tmp_path / "p.yaml").write_text("calls_per_hour: {9: 30}\nmix: {'2': 1}\n")
    j, y = Profile.load(tmp_path / "p.json"), Profile.load(tmp_path / "p.yaml")
    assert (j.calls_per_hour[13], j.handle_seconds, j.patience_seconds) == (30.0, 200.0, None)
    assert (y.calls_per_hour, y.mix, y.handle_seconds) == ({9: 30.0}, {"2": 1.0}, 240.0)


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text("calls_per_hour: {9: 30}\nmix: {'2': 0.6, '3': 0.4}\n"
                    "handle_seconds: 200\npatience_seconds: 150\n")
    return path


def test_simulate_prints_the_customer_service_standard_figures(redis_client, tiny, tmp_path,
                                                              capsys):
    html = tmp_path / "out.html"
    assert main(["simulate", "--profile", str(tiny), "--agents", "2", "--hours", "9-10",
                 "--redis-url", TEST_REDIS_URL, "--html", str(html)]) == 0
    out, err = capsys.readouterr()
    for figure in ("calls simulated:", "service level (answered within 120 s):",
                   "voicemails (queue timeouts):", "callbacks due:", "abandoned:",
                   "agent occupancy (on calls and wrap-up / signed in, breaks excluded):",
                   "by hour:", "  09:00 "):
        assert figure in out
    assert "simulated to 10:00:" in err and "\r" not in err  # plain progress lines off a TTY
    assert "Service level" in html.read_text()


@pytest.mark.parametrize("model", ["erlang-a", "erlang-c"])
def test_agents_for_staffs_by_the_model_with_handle_time_and_checks_by_simulation(
        redis_client, tiny, capsys, model):
    """The staffing uses the advisor's whole time per caller (talk 200 s + the simulation's
    set-up and wrap-up), not the talk time; Erlang A (the default) also the patience (150 s)
    and the 120 s limit; the output names the model."""
    from ivr.sim.theory import SIM_OVERHEAD_SECONDS

    args = ["simulate", "--profile", str(tiny), "--agents-for", "0.8", "--hours", "9-10",
            "--redis-url", TEST_REDIS_URL, "--quiet"]
    assert main(args + ([] if model == "erlang-a" else ["--model", model])) == 0
    out = capsys.readouterr().out
    aht = 200 + SIM_OVERHEAD_SECONDS
    load = erlang.erlangs(30, aht)
    need = (erlang.agents_for_a(0.8, 120, load, aht, 150, 120) if model == "erlang-a"
            else erlang.agents_for(0.8, 120, load, aht))
    name = "Erlang A" if model == "erlang-a" else "Erlang C"
    assert out.startswith(name)
    assert f"handle time {aht:g} s (talk 200 s + set-up and wrap-up {SIM_OVERHEAD_SECONDS:g} s)" \
        in out
    assert f"09:00    30.0 calls  {need:3d} advisors" in out
    assert f"advisors: {need}" in out and "the target 80%" in out
    assert f"advisors  {name}  on break" in out  # the simulated staffing beside the model's
    assert "advisor time per answered caller in this simulation:" in out
    row = next(line for line in out.splitlines() if line.startswith("  09:00 ")
               and "%" in line)
    assert row.split()[4] == str(need)
    # the overhead planned with is what the simulated advisors really spend beyond the talk
    from ivr import events
    from ivr.staffing.measure import handling

    h = handling(events.read_all(redis_client))
    assert h.answered >= 15
    assert h.setup + h.wrap_up == pytest.approx(SIM_OVERHEAD_SECONDS, abs=6)


def test_simulate_refuses_database_zero_and_needs_a_database(tiny, monkeypatch, capsys):
    monkeypatch.delenv("IVR_SIM_REDIS_URL", raising=False)
    assert main(["simulate", "--profile", str(tiny), "--agents", "1"]) == 2
    assert "--redis-url" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="database 0"):
        main(["simulate", "--profile", str(tiny), "--agents", "1",
              "--redis-url", "redis://127.0.0.1:6379/0"])


# -- shifts ----------------------------------------------------------------------------------

ROTA = {
    "calls_per_hour": {9: 30}, "mix": {"2": 1.0}, "handle_seconds": 300,
    "patience_seconds": 600,
    "shifts": [
        {"name": "early", "start": "09:00", "end": "09:30", "advisors": 1},
        {"name": "late", "start": "09:30", "end": "10:00", "advisors": 2,
         "departments": ["council_tax"],
         "breaks": [{"at": "09:40", "minutes": 10, "stagger_minutes": 5}]},
    ],
}
AT = DAY.timestamp()  # midnight of the simulated day


def at(clock: str) -> float:
    hours, minutes = clock.split(":")
    return AT + int(hours) * 3600 + int(minutes) * 60


@pytest.fixture(scope="module")
def rota():
    """An hour on the rota above (about 30 callers), run once for the tests below: the
    outcome, each advisor's AGENTSTATE changes as (time, previous, state), and the progress
    written (plain lines)."""
    import redis

    from ivr import events

    config = load_config(ROOT / "config.yaml")
    profile = Profile.from_dict(ROTA, config.departments)
    lines = io.StringIO()
    out = simulate_once(config, TEST_REDIS_URL, profile, None, range(9, 10), seed=3,
                        quiet=True, progress=ProgressLine(lines, tty=False))
    client = redis.Redis.from_url(TEST_REDIS_URL)
    log = events.read_all(client)
    client.flushdb()
    states: dict[str, list[tuple[float, str, str]]] = {}
    for ev in log:
        if ev["event"] == "AGENTSTATE":
            d = ev["data"]
            states.setdefault(d["agent"], []).append((ev["ts"], d["previous"], d["state"]))
    return out, states, log, lines.getvalue()


def test_shift_advisors_sign_in_at_the_start_and_out_at_the_end(rota):
    out, states, _, _ = rota
    assert sorted(states) == ["1001", "1002", "1003"]  # one early advisor, two late
    for agent, start, end in (("1001", "09:00", "09:30"), ("1002", "09:30", "10:00"),
                              ("1003", "09:30", "10:00")):
        first, last = states[agent][0], states[agent][-1]
        assert first[1:] == ("signed_out", "available")
        # signed in as the shift starts: the PIN keyed during the line's prompt (7 keys)
        assert at(start) < first[0] < at(start) + 4
        assert last[1:] == ("available", "signed_out")
        # at the end, or once the call in progress and its wrap-up are over: promptly
        free = max(at(end), states[agent][-2][0])
        assert at(end) <= last[0] <= free + 60, (agent, last[0] - at(end))
    # the early advisor was on a call at 09:30 (5-minute calls, 30 an hour) and finished it
    early = states["1001"]
    assert any(s == "on_call" and t < at("09:30") for t, _, s in early)
    assert early[-1][0] > at("09:30") + 60
    assert out.agents == 3 and len(out.shifts) == 2


def test_an_advisor_serves_only_their_shifts_departments(rota):
    _, _, log, _ = rota
    taken = [(ev["data"]["agent"], ev["dept"]) for ev in log if ev["event"] == "CONNECT"]
    assert {dept for agent, dept in taken if agent in ("1002", "1003")} == {"council_tax"}
    assert any(agent in ("1002", "1003") for agent, _ in taken)


def test_a_break_takes_an_advisor_off_for_its_length(rota):
    out, states, _, _ = rota
    for agent, due in (("1002", "09:40"), ("1003", "09:45")):  # staggered by 5 minutes
        went = [t for t, _, s in states[agent] if s == "on_break"]
        back = [t for t, p, s in states[agent] if p == "on_break"]
        assert len(went) == len(back) == 1, states[agent]
        assert went[0] >= at(due)  # at the first menu after its time (after a call)
        assert 600 <= back[0] - went[0] <= 600 + 45  # its length, to the next menu round
        # nothing taken during the break
        assert not any(went[0] < t < back[0] and s == "on_call" for t, _, s in states[agent])
    assert "on_break" not in {s for _, _, s in states["1001"]}
    late = out.staffing.shifts[1]
    assert late.seconds["on_break"] == pytest.approx(2 * 600, abs=2 * 45)
    assert 0 < late.occupancy <= 1 and 0 < out.staffing.shifts[0].occupancy <= 1


def test_progress_counts_the_webhook_requests(rota):
    out, _, _, written = rota
    lines = written.splitlines()
    assert [line[:19] for line in lines[:3]] == [
        "simulated to 09:00:", "simulated to 09:15:", "simulated to 09:30:"]  # the quarters
    assert "\r" not in written
    counts = [int(line.split("; ")[1].split()[0].replace(",", "")) for line in lines]
    assert counts == sorted(counts) and counts[0] > 0
    assert counts[-1] == out.requests > 100
    assert f"{out.calls} of {out.calls} calls started, {out.calls} finished" in lines[-1]


def test_progress_on_a_terminal_rewrites_one_line():
    stream = io.StringIO()
    progress = ProgressLine(stream, tty=True)
    assert progress.every == 60.0 and ProgressLine(io.StringIO(), tty=False).every == 900.0
    first, shorter = "simulated to 09:01: 10 webhook requests", "simulated to 09:02: 9"
    progress(first)
    progress(shorter)
    progress.close()  # the line ends, so what is printed next starts afresh
    assert stream.getvalue() == f"\r{first}\r{shorter.ljust(len(first))}\n"


def test_the_figures_show_occupancy_per_hour_and_per_shift(rota):
    from ivr.sim.simulate import figures

    text = "\n".join(figures(rota[0]))
    assert "advisors: 3 in 2 shifts" in text and "by shift:" in text
    assert "  early 09:00-09:30 " in text and "  late 09:30-10:00 " in text
    assert "  09:00 " in text


@pytest.mark.parametrize(("shift", "field", "words"), [
    ({"start": "10:00", "end": "09:00", "advisors": 1}, "shifts.0", "later than start"),
    ({"start": "09:00", "end": "10:00", "advisors": -1}, "shifts.0.advisors",
     "greater than or equal to 0"),
    ({"start": "09:00", "end": "10:00", "advisors": 1, "departments": ["parking"]},
     "shifts.0.departments", "unknown department(s) ['parking']"),
    ({"start": "9 am", "end": "10:00", "advisors": 1}, "shifts.0.start", "HH:MM"),
    ({"start": "09:00", "end": "10:00", "advisors": 2,
      "breaks": [{"at": "09:45", "minutes": 15, "stagger_minutes": 15}]},
     "shifts.0", "breaks.0 (09:45, 15 min, staggered 15) must fit within the shift"),
])
def test_a_bad_shift_fails_naming_the_field(shift, field, words):
    departments = load_config(ROOT / "config.yaml").departments
    with pytest.raises(ProfileError) as caught:
        Profile.from_dict({"calls_per_hour": 10, "shifts": [shift]}, departments)
    assert f"{field}: " in str(caught.value) and words in str(caught.value)


def test_the_command_reports_a_bad_profile_by_file_and_field(tmp_path, capsys):
    path = tmp_path / "rota.yaml"
    path.write_text("calls_per_hour: 10\nshifts:\n  - {start: 12:30, end: 11:00, advisors: 1}\n")
    assert main(["simulate", "--profile", str(path), "--redis-url", TEST_REDIS_URL]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "shifts.0: " in err
    assert "end 11:00 must be later than start 12:30" in err


def test_the_example_profiles_load():
    departments = load_config(ROOT / "config.yaml").departments
    plain = Profile.load(ROOT / "profiles" / "weekday.yaml", departments)
    shifts = Profile.load(ROOT / "profiles" / "weekday-shifts.yaml", departments)
    assert not plain.shifts and plain.calls_per_hour == shifts.calls_per_hour
    assert [s.name for s in shifts.shifts] == ["day", "morning peak", "late"]
    assert shifts.shifts[0].breaks[1].at == 12 * 60  # unquoted times are times, not base 60
