"""Issue 15 on the agent line: caller ID never signs anyone in, a PIN is always asked, weak PINs
are refused, and failures lock out an advisor whatever caller IDs they come from.

Each test is one of the audit's findings, replayed through signed webhooks on a real Redis.
"""

from __future__ import annotations

import io

import pytest
from conftest import ROOT, TEST_REDIS_URL
from test_agent_line import (
    ENTER_NUMBER,
    ENTER_PIN,
    ENTER_PIN_KNOWN,
    HANA_PHONE,
    LOCKED,
    MOBILE,
    PINS,
    PRIYA_PHONE,
    PRIYA_PIN,
    SAM_PIN,
    T0,
    WEDNESDAY,
    WRONG,
    events,
    leave_voicemail,
    line,
    next_callback,
    pin_action_names,
    release,
    sign_in,
    sign_in_with_pin,
    state,
)
from test_agent_line import app as app  # the fixture: nobody on duty until signed in
from test_agent_line import staff as staff  # the fixture
from test_agent_line import traveller as traveller  # the fixture (virtual time)

from ivr import agents, audit
from ivr.agents import State, lockout
from ivr.agents.lockout import Lockout
from ivr.cli import main

PIN_TOO_WEAK = ("Your PIN is too short or too easy to guess, so it can no longer be used. "
                "Please ask a supervisor to set a new one with you. Goodbye.")
# Four caller IDs an attacker rotates through (masked differently: not just the last digits).
ROTATED = ["+447700900111", "+447800900222", "+447900900333", "+441206900444"]


# -- finding: caller ID alone answered "Hello Bob" with the full menu --------------------------


def test_a_spoofed_caller_id_is_asked_for_the_pin_and_reaches_no_menu(make_caller, redis_client,
                                                                      staff, traveller):
    """Every registered phone, spoofed: each is asked for a PIN; none hears a name, the menu,
    a resident's number or a voicemail, whatever it then posts."""
    leave_voicemail(make_caller, traveller, "2026-11-30 10:00:00+00:00", MOBILE, "council_tax")
    release(redis_client, "2026-12-01 09:00:00+00:00")
    traveller.move_to(WEDNESDAY)
    accepted = 0
    for phone, agent_id in ((PRIYA_PHONE, staff.priya), (HANA_PHONE, staff.hana)):
        spoof = line(make_caller, phone)
        doc = spoof.post("/agent/incoming")
        assert doc.text == ENTER_PIN_KNOWN and "Hello" not in doc.text
        assert pin_action_names(spoof, agent_id, doc.first("Gather").get("action"))
        for path, digits in (("/agent/menu/choice", "2"), ("/agent/callback/next", ""),
                             ("/agent/menu", "")):
            doc = spoof.post(path, Digits=digits)  # straight to the menu's steps: turned back
            assert doc.verbs == ["Redirect"] and doc.first("Redirect").text == "/agent/incoming"
        spoof.post("/agent/incoming")
        doc = spoof.press("1")  # no idea of the PIN: a wrong one
        assert doc.text == f"{WRONG} {ENTER_NUMBER}"
        accepted += agents.for_call(redis_client, spoof.sid) is not None
        assert state(redis_client, agent_id) is State.SIGNED_OUT
        heard = " ".join(d.text for d in spoof.history)
        assert "Hello" not in heard and "Callback for" not in heard and "07911" not in heard
        assert not any(d.has("Play") or d.has("Dial") for d in spoof.history)
    assert accepted == 0  # spoofed caller IDs accepted (the count; it was 1 of 1)
    assert audit.read(redis_client, action="voicemail_played") == []
    # the advisor herself, with her PIN, gets the callback as before
    priya = sign_in(make_caller)
    doc = next_callback(priya)
    assert doc.text.startswith("Callback for Council Tax.") and doc.has("Play")


# -- finding: 12 guesses from 4 rotated caller IDs found a PIN with no lockout -----------------


def test_guesses_from_rotated_caller_ids_lock_the_advisor_out(make_caller, redis_client, staff,
                                                               config):
    """Three guesses per caller ID (under its own limit of five), redialling when hung up: the
    advisor is locked after five failures in all, and the twelfth guess, the right PIN, is
    refused unchecked. Each failure is audited with its caller ID masked; the lockout once."""
    limit = 5  # agents.agent_lockout_failures (checked below); a caller ID's limit is 5 too
    guesses = [f"{n:06d}" for n in range(482900, 482911)] + [SAM_PIN]
    answers, call = [], None
    for i, pin in enumerate(guesses):
        caller_id = ROTATED[i // 3]
        if call is None or call.from_ != caller_id or call.doc.verbs[-1] == "Hangup":
            call = line(make_caller, caller_id)
            assert call.post("/agent/incoming").text == ENTER_NUMBER
        assert call.press(staff.sam).text == ENTER_PIN
        answers.append(call.press(pin).text)
    assert answers[-1] == LOCKED  # the right PIN, the twelfth guess: refused
    assert config.agents.agent_lockout_failures == limit == config.agents.lockout_failures
    assert answers[:limit - 1] == [f"{WRONG} {ENTER_NUMBER}"] * 2 + [LOCKED] + [
        f"{WRONG} {ENTER_NUMBER}"]
    assert answers[limit - 1:] == [LOCKED] * (12 - limit + 1)  # the right PIN among them
    assert state(redis_client, staff.sam) is State.SIGNED_OUT
    failed = audit.read(redis_client, action="line_signin_failed")
    assert len(failed) == 12 == len(events(redis_client, "AGENTLOGINFAILED"))
    assert {e.target for e in failed} == {staff.sam}
    assert {e.detail["caller"] for e in failed} == {"+44 7700 900***", "+44 7800 900***",
                                                    "+44 7900 900***", "+44 1206 900***"}
    assert not any(r in str(e.detail) for e in failed for r in ROTATED)  # never in full
    assert [e.detail["reason"] for e in reversed(failed)] == (
        ["wrong pin"] * limit + ["locked out"] * (12 - limit))
    [locked] = audit.read(redis_client, action="locked")
    assert (locked.target, locked.detail["scope"]) == (staff.sam, "agent line")
    assert lockout.lockouts(redis_client, T0) == [Lockout(staff.sam, T0 + 900)]

    # a supervisor sees and ends the lockout; the advisor then signs in from a fifth phone
    done = lockout.unlock(redis_client, staff.sam, staff.hana, T0,
                          retention_days=config.audit.retention_days)
    assert done.agent_line
    assert lockout.lockouts(redis_client, T0) == []
    [unlocked] = audit.read(redis_client, action="unlocked")
    assert (unlocked.actor, unlocked.target) == (staff.hana, staff.sam)
    assert sign_in_with_pin(make_caller, staff.sam, SAM_PIN, MOBILE).doc.text.startswith(
        "Hello Sam.")
    assert not redis_client.exists(lockout.AGENT_FAILS.format(id=staff.sam))


def test_an_advisor_lockout_ends_after_the_window(make_caller, redis_client, staff, traveller,
                                                  config):
    for caller_id in ROTATED[:2]:
        call = line(make_caller, caller_id)
        call.post("/agent/incoming")
        for _ in range(3):
            if call.doc.verbs[-1] == "Hangup":
                break
            call.press(staff.sam)
            call.press("000000")
    assert [x.agent_id for x in lockout.lockouts(redis_client, T0)] == [staff.sam]
    traveller.shift(config.agents.lockout_window + 1)
    now = T0 + config.agents.lockout_window + 1
    assert lockout.lockouts(redis_client, now) == []
    assert sign_in_with_pin(make_caller, staff.sam, SAM_PIN).doc.text.startswith("Hello Sam.")


# -- finding: short and obvious PINs ------------------------------------------------------------


@pytest.mark.parametrize("old_pin", ["4829", "111111", "123456", "135790"])
def test_a_right_pin_the_rules_refuse_signs_nobody_in(make_caller, redis_client, staff,
                                                      monkeypatch, old_pin):
    """Set before the rules (or by hand): refused with a spoken reason and an audit entry, not
    counted towards a lockout; ``ivr agents set-pin`` is the way back."""
    if old_pin == "135790":  # Hana's phone ends ...123403; this one holds her agent number
        old_pin = f"{staff.hana}90"
    agents.set_secret(redis_client, staff.hana, "pin_hash", old_pin)
    call = line(make_caller, HANA_PHONE)
    call.post("/agent/incoming")
    doc = call.press(old_pin)
    assert doc.verbs == ["Say", "Hangup"] and doc.text == PIN_TOO_WEAK
    assert state(redis_client, staff.hana) is State.SIGNED_OUT
    assert agents.for_call(redis_client, call.sid) is None
    [failed] = audit.read(redis_client, action="line_signin_failed")
    assert (failed.actor, failed.target) == (staff.hana, staff.hana)
    assert failed.detail["reason"].startswith("PIN refused by the rules: a PIN ")
    assert old_pin not in str(failed.detail)
    [ev] = events(redis_client, "AGENTLOGINFAILED")
    assert ev["data"]["reason"] == "pin refused by the rules"
    assert not redis_client.exists(lockout.AGENT_FAILS.format(id=staff.hana))

    monkeypatch.setenv("REDIS_URL", TEST_REDIS_URL)
    monkeypatch.setenv("IVR_CONFIG", str(ROOT / "config.yaml"))
    monkeypatch.setattr("sys.stdin", io.StringIO("580417\n"))
    assert main(["agents", "set-pin", staff.hana, "--pin-stdin"]) == 0
    call = line(make_caller, HANA_PHONE)
    call.post("/agent/incoming")
    assert call.press("580417").text.startswith("Hello Hana.")


def test_the_phones_last_digits_are_refused_as_a_pin(make_caller, redis_client, staff):
    agents.set_secret(redis_client, staff.priya, "pin_hash", PRIYA_PHONE[-6:])
    call = line(make_caller, PRIYA_PHONE)
    call.post("/agent/incoming")
    assert call.press(PRIYA_PHONE[-6:]).text == PIN_TOO_WEAK
    assert PINS[PRIYA_PHONE] == PRIYA_PIN  # the fixture's own PINs pass the rules
