"""Each advisor's day, from the report's facts: hand-worked figures, pure (no Redis)."""

from __future__ import annotations

import pytest

from ivr.events import Event
from ivr.report.advisors import AdvisorDay, advisor_days
from ivr.report.facts import collect

START, NOW = 1000.0, 5000.0


def ev(kind: Event, call: str, ts: float, dept: str = "", **data) -> dict:
    return {"event": str(kind), "call": call, "ts": ts, "dept": dept, "data": data}


def state(agent: str, ts: float, previous: str, seconds: float) -> dict:
    return ev(Event.AGENT_STATE, "", ts, agent=agent, previous=previous,
              seconds_in_previous=seconds, state="x")


EVENTS = [
    # Ann: signed in at 2000, available 10 min, a call of 400 s and 100 s of wrap-up, then
    # available again (until now: 1900 s more).
    state("1001", 2000, "signed_out", 500),
    state("1001", 2600, "available", 600),
    state("1001", 3000, "on_call", 400),
    state("1001", 3100, "wrap_up", 100),
    ev(Event.ENTER_QUEUE, "CA1", 2590, "council_tax"),
    ev(Event.CONNECT, "CA1", 2600, "council_tax", wait=10, agent="1001"),
    ev(Event.WRAP_UP, "CAline", 3100, agent="1001", caller="CA1", resolved=True),
    ev(Event.WRAP_UP, "CAline", 3200, agent="1001", caller="CA9", resolved=False),
    # Two callbacks of tasks made yesterday (their CALLBACKCREATED is not in today's events):
    # one by a dial (answered), one recorded by hand; a repeated report counts once.
    ev(Event.CALLBACK_ATTEMPT, "CAcb1", 4000, "housing", task="CB1", agent="1001",
       outcome="answered", attempt=1),
    ev(Event.CALLBACK_ATTEMPT, "CAcb1", 4000, "housing", task="CB1", agent="1001",
       outcome="answered", attempt=1),
    ev(Event.CALLBACK_ATTEMPT, "", 4100, "housing", task="CB2", agent="1001",
       outcome="answered", attempt=1, manual=True),
    # Bo: available from before the day began (only 200 s of it today), now on a break.
    state("1002", 1200, "available", 400),
    # A call answered yesterday is not today's.
    ev(Event.ENTER_QUEUE, "CA0", 900, "council_tax"),
    ev(Event.CONNECT, "CA0", 950, "council_tax", wait=50, agent="1002"),
]


@pytest.fixture(scope="module")
def days() -> dict[str, AdvisorDay]:
    current = {"1001": ("available", 3100.0), "1002": ("on_break", 1200.0)}
    return advisor_days(collect(EVENTS), START, NOW, current, ["1001", "1002", "1003"])


def test_hand_worked_figures(days):
    ann = days["1001"]
    assert (ann.calls, ann.busy_seconds, ann.idle_seconds) == (1, 500, 600 + 1900)
    assert (ann.callbacks, ann.callbacks_answered, ann.handled) == (2, 1, 2)
    assert ann.handle_time == 250  # 500 s busy / (1 call + 1 callback answered by a dial)
    assert ann.occupancy == pytest.approx(500 / 3000)
    assert (ann.wrapups, ann.resolved, ann.fcr) == (2, 1, 0.5)


def test_time_before_the_day_and_breaks_do_not_count(days):
    bo = days["1002"]
    assert (bo.calls, bo.busy_seconds, bo.idle_seconds) == (0, 0, 200)
    assert bo.occupancy == 0 and bo.handle_time is None and bo.fcr is None


def test_an_advisor_with_nothing_today_is_listed_empty(days):
    assert days["1003"] == AdvisorDay("1003")
    assert days["1003"].occupancy is None


def test_advisor_facts_stay_out_of_the_call_figures():
    facts = collect(EVENTS)
    assert len(facts.agent_time) == 5 and len(facts.callback_calls) == 2
    assert all(f.__class__.__name__ not in ("AgentTime", "CallbackCall") for f in facts.all())
