"""The fallback that survives the host: ``ivr fallback-twiml`` writes static documents that
take a voicemail through Twilio alone, valid TwiML that never loops; a call whose voice URL
fails (the host is down) is answered by them on the stand-in's engine; once the service is
back, the reconciler turns that recording into a callback task, with the caller's number read
from Twilio's Call resource, exactly once."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from caller import ACCOUNT_SID, AUTH_TOKEN
from test_provision import STATIC, write_config
from twiml_schema import validate

from ivr import fallback, reconcile, twilio_rest
from ivr.cli import main
from ivr.config import load_config
from ivr.sim.clock import VirtualClock
from ivr.sim.engine import Engine
from ivr.sim.legs import Message
from ivr.sim.rest import TwilioRestStandIn
from ivr.sim.scenario import Caller
from ivr.sim.transport import Reply
from voicemail.tasks import load_task

START = 1_796_119_200.0  # Tue 1 Dec 2026 10:00 UTC
MOBILE = "+447911123456"
BASE = "https://ivr.example.gov.uk"


class HostDown:
    """This service's host refuses every request; the static host serves the documents by
    GET, as a plain file server does (405 to POST)."""

    def __init__(self, docs: dict[str, str]) -> None:
        self.docs = docs
        self.sent: list[tuple[str, str]] = []

    def send(self, method: str, url: str, params: dict, headers: dict) -> Reply:
        self.sent.append((method, url))
        parts = urlsplit(url)
        if not url.startswith(STATIC):
            return Reply(502, b"<html>Bad Gateway</html>", "text/html")
        if method != "GET":
            return Reply(405, b"", "text/plain")
        body = self.docs.get(parts.path.rsplit("/", 1)[-1])
        return Reply(200, body.encode(), "text/xml") if body else Reply(404, b"", "text/plain")


@pytest.fixture
def docs(tmp_path, monkeypatch, capsys) -> dict[str, str]:
    monkeypatch.setenv("IVR_CONFIG", str(write_config(tmp_path)))
    assert main(["fallback-twiml", "--output", str(tmp_path / "out")]) == 0
    assert "wrote" in capsys.readouterr().out
    return {p.name: p.read_text() for p in (tmp_path / "out").iterdir()}


def test_the_documents_are_valid_twiml_and_never_loop(docs, config):
    assert sorted(docs) == ["agent-line.xml", "thanks.xml", "voicemail.xml"]
    for text in docs.values():
        validate(text)  # the TwiML schema, as every document the app serves
    main_doc = docs["voicemail.xml"]
    assert config.messages.recording_notice in main_doc  # the notice before anything else
    assert main_doc.index(config.messages.recording_notice) < main_doc.index("<Record")
    # the Record's action is the hosted thanks document, fetched by GET: no re-request loop
    assert f'action="{STATIC}/thanks.xml"' in main_doc and 'method="GET"' in main_doc
    assert "recordingStatusCallback" not in main_doc  # nothing of ours may be answering
    assert main_doc.rstrip().endswith("<Hangup /></Response>")
    assert docs["thanks.xml"].rstrip().endswith("<Hangup /></Response>")


def test_fallback_mistakes_are_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("IVR_CONFIG", str(write_config(tmp_path, None)))
    assert main(["fallback-twiml", "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fallback.base_url or fallback.thanks_url" in err
    assert not (tmp_path / "out").exists()
    assert main(["fallback-twiml", "--thanks-url", "http://x.example/t.xml"]) == 2
    assert "--thanks-url must be an https:// URL" in capsys.readouterr().err
    no_section = tmp_path / "bare.yaml"
    text = (Path(__file__).parent.parent / "config.yaml").read_text()
    no_section.write_text(text[:text.index("\nfallback:")])
    monkeypatch.setenv("IVR_CONFIG", str(no_section))
    assert main(["fallback-twiml", "--thanks-url", f"{STATIC}/t.xml"]) == 2
    assert "config.yaml has no fallback section" in capsys.readouterr().err


def test_a_call_while_the_host_is_down_becomes_a_callback_task_once(
        docs, config, make_app, redis_client, monkeypatch):
    transport = HostDown(docs)
    engine = Engine(transport, auth_token=AUTH_TOKEN, account_sid=ACCOUNT_SID,
                    clock=VirtualClock(START, travel=False))
    rest = TwilioRestStandIn(engine=engine)
    engine.rest = rest
    engine.add_number(config.council.main_number, f"{BASE}/voice/incoming",
                      fallback_url=f"{STATIC}/voicemail.xml", fallback_method="GET")
    resident = Caller(message=Message("It's about my bin collection, please call me back."))
    leg = engine.call(MOBILE, config.council.main_number, resident)
    engine.run()

    said = leg.said
    assert said[0] == config.messages.recording_notice  # written from config.yaml's words
    assert any(s.startswith("Sorry, our telephone system") for s in said)
    assert said[-1].startswith("Thank you. We've got your message")
    assert [u for m, u in transport.sent if u.startswith(STATIC)] == [
        f"{STATIC}/voicemail.xml", f"{STATIC}/thanks.xml"]  # once each: no loop
    assert [m for m, u in transport.sent if u.startswith(STATIC)] == ["GET", "GET"]
    [(sid, info)] = engine.recording_info.items()
    assert info["call_sid"] == leg.sid and info["source"] == "RecordVerb"

    # the service is back: its reconciler reads Twilio's recordings and the Call resource
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    twilio_rest.use_http_client(lambda: rest)
    try:
        ivr = make_app().extensions["ivr"]
        later = info["date_created"] + reconcile.RECORDINGS_GRACE + 1
        assert reconcile.recordings_pass(ivr, later) == reconcile.Mended(fixed=1)
        assert reconcile.recordings_pass(ivr, later + 300) == reconcile.Mended()  # once
    finally:
        twilio_rest.use_http_client(None)
    assert any(r[0] == "GET" and r[1].endswith(f"/Calls/{leg.sid}.json") for r in rest.requests)
    keys = [k.decode() for k in redis_client.keys("{ivr}:cb:task:*") if k.count(b":") == 3]
    [task_key] = keys
    task = load_task(redis_client, task_key.split(":")[3])
    assert (task["number"], task["source"], task["status"]) == (MOBILE, "reconciled",
                                                                "scheduled")
    assert sid in task["recordings"]


def test_documents_is_a_plain_function(config, tmp_path):
    cfg = load_config(write_config(tmp_path))
    out = fallback.documents(cfg, "https://bins.example.gov.uk/EH1")
    assert 'action="https://bins.example.gov.uk/EH1"' in out["voicemail.xml"]
    assert cfg.fallback.url("agent_line") == f"{STATIC}/agent-line.xml"
