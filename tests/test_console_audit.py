"""The console's side of the audit trail: the supervisors' page, and what the console records."""

from __future__ import annotations

import re
import time

import pytest
import time_machine
from flask import g
from test_console import SCRIPT, add_agent, as_user

from ivr import audit
from ivr.agents import Role
from ivr.audit import Action
from ivr.console.auditlog import PAGE_SIZE
from ivr.console.base import voicemail_played

T0 = "2026-12-01 10:00:00+00:00"
ROW = re.compile(r'<tr data-action="([a-z_]+)">\s*<td>([^<]*)</td>\s*<td>([^<]*)</td>'
                 r'\s*<td>[^<]*</td>\s*<td>([^<]*)</td>')


@pytest.fixture
def staff(redis_client):
    return {
        "super": add_agent(redis_client, "Sam Supervisor", (), "", Role.SUPERVISOR),
        "tax": add_agent(redis_client, "Tara Tax", ("council_tax",), "+447911123402"),
    }


def rows(html: str) -> list[tuple[str, str, str, str]]:
    """(action, when, who, of) for each entry shown."""
    return [(m[0], m[1], m[2].strip(), m[3].strip()) for m in ROW.findall(html)]


def test_newest_first_filtered_and_paged(app, staff, redis_client):
    tara = staff["tax"].id
    with time_machine.travel(T0, tick=False):
        start = time.time() - 3 * 3600
        for i in range(2 * PAGE_SIZE + 10):  # one entry a minute, alternating advisors
            actor = tara if i % 2 else "cli"
            audit.record(redis_client, actor, Action.VOICEMAIL_PLAYED if i % 2
                         else Action.UNLOCKED, f"RE{i:032d}", now=start + 60 * i)
        sup = as_user(app, staff["super"])
        first = rows(sup.page("/console/audit"))
        assert len(first) == PAGE_SIZE
        assert first[0][0] == "console_signin"  # the supervisor's own, a moment ago
        assert first[1][3] == f"RE{2 * PAGE_SIZE + 9:032d}" and first[2][3] == \
            f"RE{2 * PAGE_SIZE + 8:032d}"
        html = sup.page("/console/audit?page=3")
        last = rows(html)
        assert len(last) == 11 and 'rel="next"' not in html and 'rel="prev"' in html
        assert last[-1][3] == f"RE{0:032d}"
        mine = rows(sup.page(f"/console/audit?actor={tara}"))
        assert len(mine) == PAGE_SIZE and {r[2] for r in mine} == {f"{tara} Tara Tax"}
        unlocks = rows(sup.page("/console/audit?action=unlocked&page=2"))
        assert len(unlocks) == (2 * PAGE_SIZE + 10) // 2 - PAGE_SIZE
        assert {r[0] for r in unlocks} == {"unlocked"}
        recent = rows(sup.page("/console/audit?period=1&action=voicemail_played"))
        assert len(recent) == PAGE_SIZE
        odd = sup.page("/console/audit?actor=<b>&action=drop&period=x&page=-4")
        assert len(rows(odd)) == PAGE_SIZE  # nonsense filters are ignored, not errors


def test_the_period_filter(app, staff, redis_client):
    with time_machine.travel(T0, tick=False):
        now = time.time()
        audit.record(redis_client, "cli", Action.AGENT_ADDED, "1001", now=now - 40 * 86400)
        audit.record(redis_client, "cli", Action.AGENT_ADDED, "1002", now=now - 3 * 86400)
        sup = as_user(app, staff["super"])
        added = "/console/audit?action=agent_added&period="
        assert [r[3] for r in rows(sup.page(added + "30"))] == ["1002 Tara Tax"]
        assert [r[3] for r in rows(sup.page(added + "all"))] == ["1002 Tara Tax", "1001 Sam "
                                                                 "Supervisor"]
        assert rows(sup.page(added + "1")) == []


def test_entries_are_escaped(app, staff, redis_client):
    audit.record(redis_client, SCRIPT, Action.AGENT_CHANGED, SCRIPT, note=SCRIPT)
    html = as_user(app, staff["super"]).page("/console/audit")
    assert SCRIPT not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_console_changes_are_audited(app, staff, redis_client):
    sup = as_user(app, staff["super"])
    sup.post("/console/agents", name="Hana Housing", departments="housing",
             phone="07911 123403", role="agent", password="first password", pin="493817")
    (added,) = audit.read(redis_client, action=str(Action.AGENT_ADDED))
    assert added.actor == staff["super"].id
    assert added.detail == {"role": "agent", "departments": "housing", "phone": True,
                            "pin": True}
    raw = b"".join(v for _, f in redis_client.xrange(audit.STREAM) for v in f.values())
    assert b"7911" not in raw and b"first password" not in raw  # no number, no password


@pytest.mark.parametrize("range_header,counted", [(None, True), ("bytes=0-", True),
                                                  ("bytes=0-3", True), ("bytes=4096-", False)])
def test_voicemail_played_once_per_play(app, staff, redis_client, range_header, counted):
    """What ``/console/recording/<sid>`` calls once the audio is fetched: one entry a play,
    not one for each range the player asks for afterwards."""
    headers = {"Range": range_header} if range_header else {}
    with app.test_request_context("/console/recording/RE" + "1" * 32, headers=headers):
        g.user = staff["tax"]
        voicemail_played("RE" + "1" * 32, "CB" + "2" * 20)
    played = audit.read(redis_client, action=str(Action.VOICEMAIL_PLAYED))
    assert [(e.actor, e.target, e.detail) for e in played] == (
        [(staff["tax"].id, "RE" + "1" * 32, {"task": "CB" + "2" * 20})] if counted else [])
