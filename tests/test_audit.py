"""The audit trail: its own stream, its own retention, read newest first and by ``ivr audit``."""

from __future__ import annotations

from ivr import audit
from ivr.audit import Action

T0 = 1_796_000_000.0  # a fixed instant: ids come from the app's clock, not Redis's


def test_entries_are_read_newest_first_and_filtered(redis_client):
    audit.record(redis_client, "1001", Action.CONSOLE_SIGNIN, "1001", now=T0)
    audit.record(redis_client, "1001", Action.VOICEMAIL_PLAYED, "RE" + "1" * 32, now=T0 + 5,
                 task="CB1")
    audit.record(redis_client, "1002", Action.OUTCOME_RECORDED, "CB1", now=T0 + 9,
                 outcome="answered")
    found = audit.read(redis_client)
    assert [e.action for e in found] == ["outcome_recorded", "voicemail_played",
                                         "console_signin"]
    assert found[1].detail == {"task": "CB1"} and found[1].ts == T0 + 5
    assert [e.actor for e in audit.read(redis_client, actor="1001")] == ["1001", "1001"]
    assert len(audit.read(redis_client, since=T0 + 1)) == 2
    assert len(audit.read(redis_client, limit=1)) == 1
    assert audit.read(redis_client, action="voicemail_played")[0].target.startswith("RE")
    assert not redis_client.exists("{ivr}:events")  # apart from the call events


def test_an_entry_written_out_of_order_still_lands(redis_client):
    audit.record(redis_client, "1001", Action.CONSOLE_SIGNIN, now=T0 + 60)
    audit.record(redis_client, "1001", Action.CONSOLE_SIGNOUT, now=T0)  # a slower server
    assert len(audit.read(redis_client)) == 2


def test_the_audit_command(redis_client, monkeypatch, capsys):
    from conftest import TEST_REDIS_URL

    from ivr.cli import main

    monkeypatch.setenv("REDIS_URL", TEST_REDIS_URL)
    audit.record(redis_client, "1001", Action.VOICEMAIL_PLAYED, "RE9", now=T0, task="CB7")
    assert main(["audit", "--actor", "1001"]) == 0
    out = capsys.readouterr().out
    assert "voicemail_played" in out and "task=CB7" in out and "RE9" in out
    assert main(["audit", "--since", "2026-13-01"]) == 2
    assert "--since takes a date" in capsys.readouterr().err
