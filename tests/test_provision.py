"""``ivr provision`` against the stand-in's IncomingPhoneNumbers: the council number and the
agent line pointed at PUBLIC_BASE_URL, their fallbacks at the static documents, idempotently;
and the stand-in answering as api.twilio.com does (form-encoded updates, 404, 401, 21405)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from caller import ACCOUNT_SID, AUTH_TOKEN
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from ivr import provision, twilio_rest
from ivr.cli import main
from ivr.config import load_config

ROOT = Path(__file__).resolve().parent.parent
BASE = "https://ivr.example.gov.uk"
STATIC = "https://static.example.gov.uk/ivr-fallback"


def write_config(tmp_path: Path, base_url: str | None = STATIC) -> Path:
    """config.yaml with the fallback documents hosted at ``base_url``."""
    text = (ROOT / "config.yaml").read_text()
    if base_url:
        text = text.replace("  base_url: null ", f"  base_url: {base_url} ", 1)
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def numbers(twilio, config):
    """The account owns the council number and the agent line, bought and never pointed."""
    twilio.auth_token = AUTH_TOKEN
    main_sid = twilio.add_number(ACCOUNT_SID, config.council.main_number)
    line_sid = twilio.add_number(ACCOUNT_SID, config.agents.line_numbers[0])
    twilio.add_number("AC" + "0" * 32, config.council.main_number)  # another account's
    return main_sid, line_sid


@pytest.fixture
def deployed(monkeypatch, tmp_path):
    monkeypatch.setenv("IVR_CONFIG", str(write_config(tmp_path)))
    monkeypatch.setenv("PUBLIC_BASE_URL", BASE)


def client(token: str = AUTH_TOKEN) -> Client:
    c = twilio_rest.client()
    return Client(ACCOUNT_SID, token, http_client=c.http_client)


def test_the_stand_in_lists_and_updates_numbers_as_twilio_does(twilio, numbers, config):
    main_sid, _ = numbers
    c = client()
    found = c.incoming_phone_numbers.list(phone_number=config.council.main_number)
    assert [n.sid for n in found] == [main_sid]  # not the other account's
    assert found[0].voice_url is None and found[0].voice_method == "POST"
    c.incoming_phone_numbers(main_sid).update(voice_url=f"{BASE}/voice/incoming",
                                              voice_fallback_method="get")
    method, url, form = twilio.requests[-1]
    assert method == "POST" and url.endswith(f"/IncomingPhoneNumbers/{main_sid}.json")
    assert form == {"VoiceUrl": f"{BASE}/voice/incoming", "VoiceFallbackMethod": "get"}
    got = c.incoming_phone_numbers(main_sid).fetch()
    assert (got.voice_url, got.voice_fallback_method) == (f"{BASE}/voice/incoming", "GET")
    assert len(c.incoming_phone_numbers.list()) == 2


def test_the_stand_in_refuses_as_twilio_does(twilio, numbers):
    main_sid, _ = numbers
    with pytest.raises(TwilioRestException) as unknown:
        client().incoming_phone_numbers("PN" + "f" * 32).update(voice_url=f"{BASE}/x")
    assert unknown.value.status == 404
    with pytest.raises(TwilioException) as wrong:  # a list's page: twilio-python's own class
        client("not-the-token").incoming_phone_numbers.list()
    assert twilio_rest.error_status(wrong.value) == 401
    with pytest.raises(TwilioRestException) as wrong_one:
        client("not-the-token").incoming_phone_numbers(main_sid).fetch()
    assert (wrong_one.value.status, wrong_one.value.code) == (401, 20003)
    with pytest.raises(TwilioRestException) as no_primary:
        client().incoming_phone_numbers(main_sid).update(voice_fallback_url=f"{STATIC}/v.xml")
    assert (no_primary.value.status, no_primary.value.code) == (400, 21405)
    with pytest.raises(TwilioRestException) as bad_method:
        client().incoming_phone_numbers(main_sid).update(voice_method="PUT")
    assert bad_method.value.status == 400
    assert twilio.numbers[main_sid]["voice_url"] is None  # nothing changed by a refusal


def test_provision_points_both_numbers_here_then_changes_nothing(
        twilio, numbers, deployed, capsys):
    main_sid, line_sid = numbers
    assert main(["provision"]) == 0
    first = capsys.readouterr().out
    assert "2 number(s): 2 changed" in first
    council, line = twilio.numbers[main_sid], twilio.numbers[line_sid]
    assert council["voice_url"] == f"{BASE}/voice/incoming"
    assert council["voice_method"] == "POST"
    assert council["voice_fallback_url"] == f"{STATIC}/voicemail.xml"  # off this host
    assert council["voice_fallback_method"] == "GET"  # a static host may refuse POST
    assert council["status_callback"] == f"{BASE}/voice/status"
    assert line["voice_url"] == f"{BASE}/agent/incoming"
    assert line["voice_fallback_url"] == f"{STATIC}/agent-line.xml"
    assert line["status_callback"] == f"{BASE}/agent/status"
    updates = [r for r in twilio.requests if r[0] == "POST"]
    assert len(updates) == 2

    before = json.dumps(twilio.numbers, sort_keys=True)
    assert main(["provision"]) == 0
    second = capsys.readouterr().out
    assert "2 number(s) already point here: nothing changed" in second
    assert second.count("already points here, nothing changed") == 2
    assert [r for r in twilio.requests if r[0] == "POST"] == updates  # no update sent
    assert json.dumps(twilio.numbers, sort_keys=True) == before  # not even date_updated


def test_provision_sets_only_what_drifted(twilio, numbers, deployed, capsys):
    main_sid, _ = numbers
    main(["provision"])
    twilio.numbers[main_sid]["status_callback"] = "https://old.example.gov.uk/status"
    capsys.readouterr()
    assert main(["provision", "--dry-run"]) == 0
    assert "would set status callback https://ivr.example.gov.uk/voice/status" in (
        capsys.readouterr().out)
    assert twilio.numbers[main_sid]["status_callback"] == "https://old.example.gov.uk/status"
    assert main(["provision"]) == 0
    assert "1 changed, 1 already right" in capsys.readouterr().out
    posts = [r for r in twilio.requests if r[0] == "POST"]
    assert posts[-1][2] == {"StatusCallback": f"{BASE}/voice/status"}


@pytest.mark.parametrize(("env", "config_base", "says"), [
    ({"PUBLIC_BASE_URL": ""}, STATIC, "PUBLIC_BASE_URL is not set"),
    ({"PUBLIC_BASE_URL": "http://ivr.example.gov.uk"}, STATIC, "must start with https://"),
    ({"PUBLIC_BASE_URL": BASE}, None, "fallback.base_url"),
    ({"PUBLIC_BASE_URL": BASE, "TWILIO_AUTH_TOKEN": ""}, STATIC, "TWILIO_AUTH_TOKEN"),
])
def test_provision_mistakes_are_one_line(twilio, numbers, monkeypatch, tmp_path, capsys,
                                         env, config_base, says):
    monkeypatch.setenv("IVR_CONFIG", str(write_config(tmp_path, config_base)))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["provision"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and says in err and err.startswith("error: ")
    assert not [r for r in twilio.requests if r[0] == "POST"]


def test_wrong_credentials_and_a_missing_number_fail(twilio, numbers, deployed, monkeypatch,
                                                     capsys):
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "wrong")
    assert main(["provision"]) == 1
    assert "Twilio answered 401" in capsys.readouterr().err
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    twilio.numbers.pop(numbers[1])
    assert main(["provision"]) == 1
    out = capsys.readouterr().out
    assert "agent line +441206282299: FAIL the Twilio account has no such number" in out


def test_changes_is_a_plain_decision(config, tmp_path):
    cfg = load_config(write_config(tmp_path))
    want = provision.wanted(cfg, BASE + "/")[0]
    assert want.settings["voice_url"] == f"{BASE}/voice/incoming"  # no double slash
    same = dict(want.settings, voice_method="post", voice_application_sid=None)
    assert provision.changes(same, want) == {}
    assert provision.changes(dict(same, voice_application_sid="AP1"), want) == {
        "voice_application_sid": ""}  # a TwiML app would win over the URLs: cleared
