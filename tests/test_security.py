"""Every Twilio-facing request must be signed by our account; anything else gets 403 and
changes nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging

import pytest
import time_machine
from caller import ACCOUNT_SID, AUTH_TOKEN, Caller, sign, written_keys

OPEN = "2026-12-01 10:00:00+00:00"
PUBLIC = "https://ivr.example.org"

# Every webhook the app serves, with the parameters Twilio would send there.
WEBHOOKS = [
    ("/voice/incoming", {}),
    ("/voice/status", {"CallStatus": "completed", "CallDuration": "30"}),
    ("/voice/fallback", {"ErrorCode": "11200"}),
    ("/voice/menu", {}),
    ("/voice/menu/choice?miss=0", {"Digits": "2"}),
    ("/voice/closed/choice?miss=0", {"Digits": "2"}),
    ("/voice/dept/council_tax", {}),
    ("/voice/dept/council_tax/sms", {"Digits": "1"}),
    ("/voice/queue/council_tax/enter", {}),
    ("/voice/queue/council_tax/wait", {"QueueTime": "10", "QueuePosition": "1"}),
    ("/voice/queue/council_tax/left", {"QueueResult": "hangup", "QueueTime": "10"}),
    ("/voice/payments", {}),
    ("/voice/payments/result", {"DialCallStatus": "completed"}),
    ("/voice/payments/failed", {"Digits": "1"}),
    ("/voice/textphone", {}),
    ("/voice/textphone/result", {"DialCallStatus": "busy"}),
    ("/voicemail/start?dept=general", {}),
    ("/voicemail/number?dept=general&tries=0", {"Digits": "01206282222"}),
    ("/voicemail/recorded?dept=general&number=%2B447911123456",
     {"RecordingUrl": "https://api.twilio.com/x/Recordings/RE" + "1" * 32,
      "RecordingDuration": "12"}),
    ("/voicemail/recording?dept=general&number=%2B447911123456",
     {"RecordingSid": "RE" + "2" * 32, "RecordingStatus": "completed",
      "RecordingUrl": "https://api.twilio.com/x/Recordings/RE" + "2" * 32}),
]
IDS = [path.split("?")[0] for path, _ in WEBHOOKS]


@pytest.fixture(autouse=True)
def _in_hours():
    with time_machine.travel(OPEN, tick=False):
        yield


def twilio_form(**extra: str) -> dict[str, str]:
    return {
        "CallSid": "CA" + "a" * 32, "AccountSid": ACCOUNT_SID, "From": "+447911123456",
        "To": "+441206282222", "CallStatus": "in-progress", "ApiVersion": "2010-04-01",
        "Direction": "inbound",
    } | extra


def twilio_hmac(url: str, params: dict[str, str], token: str) -> str:
    """Twilio's algorithm written out (twilio.md §2.1), independent of twilio-python."""
    data = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def snapshot(redis_client, spool_dir) -> tuple:
    files = sorted(p.name for p in spool_dir.rglob("*")) if spool_dir.exists() else []
    return written_keys(redis_client), redis_client.xlen("{ivr}:events"), files


# -- the harness signs exactly like Twilio ------------------------------------------------------

KNOWN_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
KNOWN_PARAMS = {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675309", "Digits": "1234",
                "From": "+14158675309", "To": "+18005551212"}


def test_harness_signs_like_twilio_known_answer():
    assert sign(KNOWN_URL, KNOWN_PARAMS, "12345") == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert twilio_hmac(KNOWN_URL, KNOWN_PARAMS, "12345") == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://mycompany.com:443/myapp.php?foo=1&bar=2", "kvajT1Ptam85bY51eRf/AJRuM3w="),
        ("http://mycompany.com:80/myapp.php?foo=1&bar=2", "0ZXoZLH/DfblKGATFgpif+LLRf4="),
    ],
)
def test_harness_signs_port_variants_like_twilio(url, expected):
    assert sign(url, KNOWN_PARAMS, "12345") == expected


def test_harness_signature_is_twilios_on_a_real_request():
    form = twilio_form(Digits="2")
    url = "http://localhost/voice/menu/choice?miss=0"
    assert sign(url, form) == twilio_hmac(url, form, AUTH_TOKEN)


# -- refused ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "extra"), WEBHOOKS, ids=IDS)
def test_unsigned_request_is_refused_and_changes_nothing(app, redis_client, spool_dir, path,
                                                          extra):
    before = snapshot(redis_client, spool_dir)
    response = app.test_client().post(path, data=twilio_form(**extra))
    assert response.status_code == 403
    assert b"<Response" not in response.data
    assert snapshot(redis_client, spool_dir) == before


@pytest.mark.parametrize(("path", "extra"), WEBHOOKS, ids=IDS)
def test_wrong_signature_is_refused(app, redis_client, spool_dir, path, extra):
    before = snapshot(redis_client, spool_dir)
    form = twilio_form(**extra)
    bad = sign("http://localhost" + path, form, token="not-our-auth-token")
    response = app.test_client().post(path, data=form, headers={"X-Twilio-Signature": bad})
    assert response.status_code == 403
    assert snapshot(redis_client, spool_dir) == before


@pytest.mark.parametrize(
    "header", ["", "garbage", "RSOYDt4T1cUTdK1PDd93/VVr8B8="], ids=["empty", "garbage", "other"]
)
def test_malformed_signature_is_refused(app, redis_client, header):
    response = app.test_client().post("/voice/incoming", data=twilio_form(),
                                      headers={"X-Twilio-Signature": header})
    assert response.status_code == 403
    assert written_keys(redis_client) == 0


def test_tampered_parameters_are_refused(app, redis_client):
    """Signed for Digits=2, sent with Digits=1: the signature covers every parameter."""
    url = "http://localhost/voice/menu/choice?miss=0"
    signature = sign(url, twilio_form(Digits="2"))
    response = app.test_client().post("/voice/menu/choice?miss=0", data=twilio_form(Digits="1"),
                                      headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403
    # An added parameter breaks it too.
    response = app.test_client().post("/voice/menu/choice?miss=0",
                                      data=twilio_form(Digits="2", Extra="x"),
                                      headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403
    assert written_keys(redis_client) == 0


@pytest.mark.parametrize(
    ("signed_for", "sent_to"),
    [
        ("http://localhost/voice/menu/choice?miss=0", "/voice/incoming"),
        ("http://localhost/voice/menu/choice?miss=2", "/voice/menu/choice?miss=0"),
        ("http://localhost/voice/menu/choice", "/voice/menu/choice?miss=0"),
        ("https://localhost/voice/incoming", "/voice/incoming"),
        ("http://attacker.example/voice/incoming", "/voice/incoming"),
        (PUBLIC + "/voice/incoming", "/voice/incoming"),  # this app has no PUBLIC_BASE_URL
    ],
)
def test_signature_for_another_url_is_refused(app, redis_client, signed_for, sent_to):
    form = twilio_form()
    response = app.test_client().post(sent_to, data=form,
                                      headers={"X-Twilio-Signature": sign(signed_for, form)})
    assert response.status_code == 403
    assert written_keys(redis_client) == 0


@pytest.mark.parametrize("token", ["", AUTH_TOKEN])
def test_empty_auth_token_refuses_everything(make_app, redis_client, token):
    app = make_app(TWILIO_AUTH_TOKEN="")
    form = twilio_form()
    signature = sign("http://localhost/voice/incoming", form, token=token) if token else "x"
    response = app.test_client().post("/voice/incoming", data=form,
                                      headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403
    assert written_keys(redis_client) == 0


# -- accepted -----------------------------------------------------------------------------------


def test_signed_request_is_accepted(app, redis_client):
    form = twilio_form()
    response = app.test_client().post(
        "/voice/incoming", data=form,
        headers={"X-Twilio-Signature": sign("http://localhost/voice/incoming", form)},
    )
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    assert redis_client.exists(f"{{ivr}}:call:{form['CallSid']}")


def test_behind_a_proxy_the_public_url_is_checked(make_app, redis_client):
    """TLS ends at the proxy: the app sees http://localhost, Twilio signed https://ivr...."""
    app = make_app(PUBLIC_BASE_URL=PUBLIC)
    client = app.test_client()
    form = twilio_form(Digits="2")
    path = "/voice/menu/choice?miss=0"
    response = client.post(path, data=form,
                           headers={"X-Twilio-Signature": sign(PUBLIC + path, form)})
    assert response.status_code == 200
    assert b"/voice/dept/council_tax" in response.data
    # The URL the app itself sees is not what Twilio signed, so it is refused there.
    response = client.post(path, data=form,
                           headers={"X-Twilio-Signature": sign("http://localhost" + path, form)})
    assert response.status_code == 403


def test_public_base_url_with_a_trailing_slash(make_app):
    app = make_app(PUBLIC_BASE_URL=PUBLIC + "/")
    form = twilio_form()
    response = app.test_client().post(
        "/voice/incoming", data=form,
        headers={"X-Twilio-Signature": sign(PUBLIC + "/voice/incoming", form)},
    )
    assert response.status_code == 200


def test_caller_harness_through_a_proxy(make_app):
    """The signed Caller works against a proxied app when it signs for the public URL."""
    app = make_app(PUBLIC_BASE_URL=PUBLIC)
    caller = Caller(app.test_client())
    doc = caller.post(PUBLIC + "/voice/incoming", CallStatus="ringing")
    assert doc.has("Gather")


def test_dev_switch_skips_the_check_and_warns_every_time(make_app, redis_client, caplog):
    app = make_app(IVR_INSECURE_SKIP_SIGNATURE=True)
    client = app.test_client()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ivr.security"):
        for path in ("/voice/incoming", "/voice/menu/choice?miss=0", "/voice/status"):
            response = client.post(path, data=twilio_form(Digits="2", CallStatus="completed"))
            assert response.status_code == 200
    warnings = [r for r in caplog.records
                if r.name == "ivr.security" and r.levelno == logging.WARNING]
    assert len(warnings) == 3
    assert all("IVR_INSECURE_SKIP_SIGNATURE" in r.getMessage() for r in warnings)
    assert redis_client.exists("{ivr}:call:CA" + "a" * 32)


def test_dev_switch_is_off_by_default(app):
    response = app.test_client().post("/voice/incoming", data=twilio_form())
    assert response.status_code == 403


def test_health_check_needs_no_signature(app):
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["ok"] is True
