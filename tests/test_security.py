"""Every Twilio-facing request must be signed by our account; anything else gets 403 and
changes nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from urllib.parse import unquote

import pytest
import time_machine
from caller import ACCOUNT_SID, AUTH_TOKEN, Caller, sign, written_keys
from twilio.request_validator import RequestValidator

from ivr.security import sent_target

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
    ("/sms/status", {"MessageSid": "SM" + "3" * 32, "MessageStatus": "delivered"}),
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


# -- the URL as Twilio sent it: percent-encoding intact -----------------------------------------

# (path and query as requested, the form, what the page must say). Werkzeug decodes %XX in the
# path before routing; Twilio signed the encoded URL it requested.
ENCODED = [
    ("/voice/dept/council%5Ftax", {}, b"council tax"),
    ("/voice/dept/council%20tax", {}, b"<Response>"),  # no such department: the fallback one
    ("/voice/queue/council%2Btax/wait?x=%2F", {"QueueTime": "10", "QueuePosition": "1"},
     b"You are number 1 in the queue."),
    ("/voicemail/recorded?dept=general&number=%2B447911123456&note=a%2Fb%20c",
     {"RecordingUrl": "https://api.twilio.com/x/Recordings/RE" + "1" * 32,
      "RecordingDuration": "12"}, b"We've got your message"),
]
ENCODED_IDS = ["underscore", "space", "plus-and-slash", "query"]


def post_signed(client, path: str, form: dict[str, str], signed_for: str, **kwargs):
    return client.post(path, data=form, headers={"X-Twilio-Signature": sign(signed_for, form)},
                       **kwargs)


@pytest.mark.parametrize(("path", "extra", "said"), ENCODED, ids=ENCODED_IDS)
def test_signed_over_the_url_as_sent_is_accepted(app, path, extra, said):
    form = twilio_form(**extra)
    response = post_signed(app.test_client(), path, form, "http://localhost" + path)
    assert response.status_code == 200
    assert said in response.data


@pytest.mark.parametrize(("path", "extra", "said"), ENCODED, ids=ENCODED_IDS)
def test_signed_over_the_decoded_url_is_refused(app, redis_client, path, extra, said):
    form = twilio_form(**extra)
    decoded = "http://localhost" + unquote(path)
    assert decoded != "http://localhost" + path
    response = post_signed(app.test_client(), path, form, decoded)
    assert response.status_code == 403
    assert written_keys(redis_client) == 0


@pytest.mark.parametrize(
    "environ",
    [
        {"RAW_URI": "/voice/dept/council%5Ftax", "REQUEST_URI": ""},  # gunicorn
        {"RAW_URI": "", "REQUEST_URI": "/voice/dept/council%5Ftax"},  # uWSGI, mod_wsgi
        {"RAW_URI": "http://localhost/voice/dept/council%5Ftax", "REQUEST_URI": ""},  # absolute
    ],
    ids=["RAW_URI", "REQUEST_URI", "absolute-form"],
)
def test_each_servers_raw_uri_is_used(app, environ):
    form = twilio_form()
    client = app.test_client()
    signed = "http://localhost/voice/dept/council%5Ftax"
    response = post_signed(client, "/voice/dept/council_tax", form, signed,
                           environ_overrides=environ)
    assert response.status_code == 200
    response = post_signed(client, "/voice/dept/council_tax", form,
                           "http://localhost/voice/dept/council_tax", environ_overrides=environ)
    assert response.status_code == 403


def test_without_a_raw_uri_the_decoded_path_and_raw_query_stand_in(app):
    """A server that gives neither RAW_URI nor REQUEST_URI: the URL rebuilt as before."""
    form = twilio_form()
    none = {"RAW_URI": "", "REQUEST_URI": ""}
    path = "/voice/dept/council%5Ftax?x=%2B44"
    response = post_signed(app.test_client(), path, form,
                           "http://localhost/voice/dept/council_tax?x=%2B44",
                           environ_overrides=none)
    assert response.status_code == 200


def test_behind_a_proxy_the_public_base_and_the_path_as_sent(make_app):
    app = make_app(PUBLIC_BASE_URL=PUBLIC)
    path, extra, said = ENCODED[0]
    form = twilio_form(**extra)
    client = app.test_client()
    assert post_signed(client, path, form, PUBLIC + path).status_code == 200
    assert post_signed(client, path, form, PUBLIC + unquote(path)).status_code == 403


def test_mounted_below_a_path_the_mount_is_part_of_the_url(app):
    """SCRIPT_NAME=/ivr (gunicorn): RAW_URI is the whole path; the URL is not doubled."""
    form = twilio_form()
    environ = {"RAW_URI": "/ivr/voice/dept/council%5Ftax", "REQUEST_URI": ""}
    response = post_signed(app.test_client(), "/voice/dept/council_tax", form,
                           "http://localhost/ivr/voice/dept/council%5Ftax",
                           base_url="http://localhost/ivr/", environ_overrides=environ)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("environ", "query", "expected"),
    [
        ({"RAW_URI": "/a%2Fb?x=%2B1"}, b"x=%2B1", "/a%2Fb?x=%2B1"),
        ({"REQUEST_URI": "/a%20b"}, b"", "/a%20b"),
        ({"RAW_URI": "/a", "REQUEST_URI": "/b"}, b"", "/a"),
        ({"REQUEST_URI": "/a"}, b"x=1", "/a?x=1"),  # werkzeug's test client, query apart
        ({"RAW_URI": "/a?"}, b"", "/a?"),
        ({"RAW_URI": "https://h.example:8443/a%2F?q=1"}, b"q=1", "/a%2F?q=1"),
        ({"RAW_URI": "http://h.example"}, b"", "/"),
        ({"RAW_URI": "/next?u=http://x/y"}, b"u=http://x/y", "/next?u=http://x/y"),
        ({"RAW_URI": "*"}, b"", None),
        ({}, b"x=1", None),
    ],
)
def test_sent_target(environ, query, expected):
    assert sent_target(environ, query) == expected


# -- JSON bodies: bodySHA256 -------------------------------------------------------------------


def test_a_json_body_is_checked_against_its_body_hash(app):
    """Twilio's JSON requests sign the URL with ``bodySHA256`` and no parameters; the body
    must match that hash (RequestValidator checks it when given the body)."""
    validator = RequestValidator(AUTH_TOKEN)
    body = json.dumps({"CallSid": "CA" + "a" * 32, "CallStatus": "completed"})
    path = f"/voice/status?bodySHA256={validator.compute_hash(body)}"
    signature = validator.compute_signature("http://localhost" + path, {})
    client = app.test_client()
    sent = client.post(path, data=body, content_type="application/json",
                       headers={"X-Twilio-Signature": signature})
    assert sent.status_code == 200
    tampered = client.post(path, data=body.replace("completed", "busy"),
                           content_type="application/json",
                           headers={"X-Twilio-Signature": signature})
    assert tampered.status_code == 403


@pytest.mark.parametrize("form", [
    [],
    [("CallSid", "CA" + "1" * 32), ("From", "+447911123456"), ("Digits", "")],
    [("b", "2"), ("a", "1"), ("a", "0"), ("a", "1")],  # repeated names and values
    [("Caf\u00e9", "cr\u00e8me br\u00fbl\u00e9e"), ("SpeechResult", "council tax, please")],
])
def test_form_signature_is_twilios_compute_signature(form):
    """The fast path signs exactly as RequestValidator does (else valid requests would fall
    through to the slow path, or worse)."""
    from werkzeug.datastructures import ImmutableMultiDict

    from ivr.security import form_signature

    validator = RequestValidator("secret-token")
    params = ImmutableMultiDict(form)
    url = "https://ivr.example.org/voice/menu/choice?miss=1"
    assert form_signature(validator.token, url, params) == \
        validator.compute_signature(url, params).encode()


def test_a_text_status_counts_only_when_twilio_signed_it(app, redis_client):
    """``/sms/status`` turns a text's delivery into an event for its call: unsigned, nothing."""
    from ivr.events import read_all
    from ivr.messaging import SENT

    sid = "SM" + "4" * 32
    redis_client.hset(SENT.format(sid=sid), mapping={"call": "CA" + "5" * 32,
                                                     "dept": "council_tax"})
    form = twilio_form(MessageSid=sid, MessageStatus="delivered")
    client = app.test_client()
    assert client.post("/sms/status", data=form).status_code == 403
    assert [e for e in read_all(redis_client) if e["event"] == "SMSDELIVERED"] == []
    signed = {"X-Twilio-Signature": sign("http://localhost/sms/status", form)}
    assert client.post("/sms/status", data=form, headers=signed).status_code == 200
    delivered = [e for e in read_all(redis_client) if e["event"] == "SMSDELIVERED"]
    assert [(e["call"], e["data"]["message"]) for e in delivered] == [("CA" + "5" * 32, sid)]
