"""The stand-in's own fidelity: it must behave as twilio.md says Twilio does.

Driven against a tiny Flask app that checks every signature with twilio's RequestValidator and
answers fixed TwiML, so each Twilio behaviour is observed directly: what is requested, when,
and with which parameters.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from flask import Flask, Response, abort, request
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from ivr.sim.clock import VirtualClock
from ivr.sim.engine import Engine, Fidelity, TwimlViolation
from ivr.sim.legs import Answer, Message
from ivr.sim.rest import TwilioRestStandIn
from ivr.sim.scenario import Agent, Caller, hang_up, press, say, steps
from ivr.sim.transport import Faults, Reply, WsgiTransport

TOKEN = "fidelity-token"
ACCOUNT = "AC" + "f" * 32
START = 1_796_119_200.0  # Tue 1 Dec 2026 10:00 UTC
NUMBER, CALLER = "+441206000001", "+447911123456"
BASE = "http://localhost"

# -- request signing (twilio.md §2.1, vectors from twilio-python's tests) ------------------------
VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675309", "Digits": "1234",
                 "From": "+14158675309", "To": "+18005551212"}


class Capture:
    """A transport that answers an empty document and keeps what was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict, dict]] = []

    def send(self, method, url, params, headers) -> Reply:
        self.sent.append((method, url, params, headers))
        return Reply(200, b"<Response/>")


@pytest.mark.parametrize(("url", "expected"), [
    (VECTOR_URL, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
    ("https://mycompany.com:443/myapp.php?foo=1&bar=2", "kvajT1Ptam85bY51eRf/AJRuM3w="),
    ("http://mycompany.com:80/myapp.php?foo=1&bar=2", "0ZXoZLH/DfblKGATFgpif+LLRf4="),
])
def test_signature_known_answers(url, expected):
    capture = Capture()
    engine = Engine(capture, auth_token="12345", account_sid=ACCOUNT,
                    clock=VirtualClock(START, travel=False))
    leg = engine.new_leg(CALLER, NUMBER, "inbound", None, None, status="ringing")
    engine.request(leg, url, "POST", dict(VECTOR_PARAMS), "status", standard=False)
    method, sent_url, params, headers = capture.sent[0]
    assert (method, sent_url, params) == ("POST", url, VECTOR_PARAMS)
    assert headers["X-Twilio-Signature"] == expected


# -- a signed fake app ---------------------------------------------------------------------
Route = str | Callable[[dict], str]


def fake_app(routes: dict[str, Route], seen: list) -> Flask:
    app = Flask("fake")

    @app.route("/<path:path>", methods=["GET", "POST"])
    def any_path(path: str):
        params = request.form if request.method == "POST" else {}
        ok = RequestValidator(TOKEN).validate(request.url, params,
                                              request.headers.get("X-Twilio-Signature", ""))
        seen.append({"path": "/" + path, "url": request.url, **request.values.to_dict()})
        if not ok:
            abort(403)
        body = routes.get("/" + path, "<Response/>")
        body = body(request.values.to_dict()) if callable(body) else body
        return Response(body if body.startswith("<?xml") or body.startswith("<Response")
                        else f"<Response>{body}</Response>", mimetype="text/xml")

    return app


def world(routes: dict[str, Route], *, fallback: str = "", status: str = "/status",
          **fidelity) -> tuple[Engine, list[dict]]:
    seen: list[dict] = []
    faults = Faults(WsgiTransport(fake_app(routes, seen)))
    engine = Engine(faults, auth_token=TOKEN, account_sid=ACCOUNT,
                    clock=VirtualClock(START, travel=False), fidelity=Fidelity(**fidelity))
    engine.add_number(NUMBER, f"{BASE}/start", fallback_url=fallback and BASE + fallback,
                      status_callback=status and BASE + status)
    return engine, seen


def hits(seen: list[dict], path: str) -> list[dict]:
    return [s for s in seen if s["path"] == path]


def at(engine: Engine, leg, kind: str, text: str = "") -> float:
    return round(next(n.at for n in leg.notices if n.kind == kind and text in n.text) - START, 3)


def test_every_request_is_signed_with_the_standard_parameters():
    engine, seen = world({"/start": '<Gather action="next?x=1" numDigits="1"><Say>Hi</Say>'
                                    '</Gather>', "/next": "<Say>Bye</Say>"})
    leg = engine.call(CALLER, NUMBER, Caller(steps("5")))
    engine.run()
    assert [s["path"] for s in seen] == ["/start", "/next", "/status"]
    first, second, status = seen
    for sent in seen:  # a refused signature would have been a 403 and an error
        assert sent["CallSid"] == leg.sid and sent["AccountSid"] == ACCOUNT
        assert sent["From"] == sent["Caller"] == CALLER
        assert sent["To"] == sent["Called"] == NUMBER
        assert sent["ApiVersion"] == "2010-04-01" and sent["Direction"] == "inbound"
        assert sent["FromCountry"] == "GB"
    assert first["CallStatus"] == "ringing" and second["CallStatus"] == "in-progress"
    assert second["url"] == f"{BASE}/next?x=1"  # relative action resolved on the document URL
    assert (second["Digits"], second["x"]) == ("5", "1")
    assert status["CallStatus"] == "completed" and status["SequenceNumber"] == "0"
    assert status["CallbackSource"] == "call-progress-events"
    assert int(status["CallDuration"]) == leg.duration() > 0
    assert leg.errors == []


# -- Gather ------------------------------------------------------------------------------------
GATHER = ('<Gather action="/got" timeout="4"{extra}><Say>Press a key.</Say></Gather>'
          "<Say>You said nothing.</Say>")


def test_gather_without_input_falls_through_to_the_next_verb():
    engine, seen = world({"/start": GATHER.format(extra="")})
    leg = engine.call(CALLER, NUMBER, Caller())
    engine.run()
    assert hits(seen, "/got") == []
    assert leg.said == ["Press a key.", "You said nothing."]
    assert at(engine, leg, "say", "nothing") == pytest.approx(3 / 2.5 + 4.0)  # prompt, timeout


def test_action_on_empty_result_requests_the_action_with_no_digits():
    engine, seen = world({"/start": GATHER.format(extra=' actionOnEmptyResult="true"')})
    engine.call(CALLER, NUMBER, Caller())
    engine.run()
    (got,) = hits(seen, "/got")
    assert "Digits" not in got and "SpeechResult" not in got


def test_gather_keys_num_digits_finish_key_and_speech():
    engine, seen = world({
        "/start": '<Gather action="/one" numDigits="1"><Say>One key.</Say></Gather>',
        "/one": '<Gather action="/many" finishOnKey="#"><Say>Number.</Say></Gather>',
        "/many": '<Gather action="/words" input="speech" language="en-GB"><Say>Say it.</Say>'
                 "</Gather>",
        "/words": "<Hangup/>"})
    leg = engine.call(CALLER, NUMBER, Caller([press("29"), press("01206123456#"),
                                              say("council tax")]))
    engine.run()
    assert hits(seen, "/one")[0]["Digits"] == "2"  # numDigits=1 submits at the first key
    many = hits(seen, "/many")[0]
    assert (many["Digits"], many["FinishedOnKey"]) == ("01206123456", "#")
    words = hits(seen, "/words")[0]
    assert words["SpeechResult"] == "council tax" and float(words["Confidence"]) > 0.5
    assert leg.status == "completed"


def test_a_key_during_the_prompt_barges_in():
    engine, seen = world({"/start": '<Gather action="/got" numDigits="1"><Say>' + "word " * 50
                                    + "</Say></Gather>"})
    engine.call(CALLER, NUMBER, Caller([press("3", after=2.0)]))
    engine.run()
    assert hits(seen, "/got")[0]["Digits"] == "3"
    assert engine.requests[1].at - START == pytest.approx(2.0)  # not after 20 s of prompt


def test_reject_as_the_first_verb_leaves_the_call_unanswered():
    engine, seen = world({"/start": '<Reject reason="busy"/>'})
    leg = engine.call(CALLER, NUMBER, Caller())
    engine.run()
    assert leg.status == "busy" and leg.answered_at is None
    (status,) = hits(seen, "/status")
    assert (status["CallStatus"], status["CallDuration"]) == ("busy", "0")


# -- Record ------------------------------------------------------------------------------------
RECORD = ('<Say>Leave a message.</Say><Record action="/recorded" maxLength="60" '
          'recordingStatusCallback="/rec-status" recordingStatusCallbackEvent="completed"/>'
          '<Say>Unreached.</Say>')


def test_record_hang_up_posts_the_action_with_digits_hangup_and_the_callback_twice():
    engine, seen = world({"/start": RECORD}, recording_callbacks=2)
    leg = engine.call(CALLER, NUMBER, Caller(message=Message("my message " * 10, hangup=True)))
    engine.run()
    (action,) = hits(seen, "/recorded")
    assert action["Digits"] == "hangup" and action["CallStatus"] == "completed"
    assert action["RecordingUrl"].endswith(action["RecordingSid"])
    assert int(action["RecordingDuration"]) == 8  # 20 words at 2.5 words a second
    callbacks = hits(seen, "/rec-status")
    assert len(callbacks) == 2 and {c["RecordingSid"] for c in callbacks} == {
        action["RecordingSid"]}
    assert callbacks[0]["RecordingStatus"] == "completed"
    assert callbacks[0]["RecordingSource"] == "RecordVerb"
    assert "From" not in callbacks[0]  # recording callbacks carry no call parameters
    assert [s["path"] for s in seen].index("/recorded") < [s["path"] for s in seen].index(
        "/status")
    assert leg.said == ["Leave a message."]


def test_record_finished_with_a_key_then_the_action_drives_the_call():
    engine, seen = world({"/start": RECORD, "/recorded": "<Say>Thanks.</Say><Hangup/>"})
    leg = engine.call(CALLER, NUMBER, Caller(message=Message("hello there")))
    engine.run()
    assert hits(seen, "/recorded")[0]["Digits"] == "#"
    assert leg.said == ["Leave a message.", "Thanks."]


# -- Queues --------------------------------------------------------------------------------------
ENQUEUE = '<Enqueue action="/left" waitUrl="/wait" maxQueueSize="{size}">support</Enqueue>'


def wait_doc(leave_after: int) -> Callable[[dict], str]:
    def doc(form: dict) -> str:
        if int(form["QueueTime"]) >= leave_after:
            return "<Leave/>"
        return f'<Say>You are number {form["QueuePosition"]}.</Say><Pause length="8"/>'

    return doc


def test_queue_positions_wait_refetch_and_leave():
    engine, seen = world({"/start": ENQUEUE.format(size=10), "/wait": wait_doc(30),
                          "/left": "<Say>Left.</Say>"})
    legs = [engine.call(f"+44791100000{i}", NUMBER, Caller(), at=START + i) for i in range(3)]
    engine.run()
    first_fetch = {s["CallSid"]: s for s in reversed(hits(seen, "/wait"))}
    assert [first_fetch[leg.sid]["QueuePosition"] for leg in legs] == ["1", "2", "3"]
    assert [first_fetch[leg.sid]["CurrentQueueSize"] for leg in legs] == ["1", "2", "3"]
    assert first_fetch[legs[0].sid]["MaxQueueSize"] == "1000"
    times = [int(s["QueueTime"]) for s in hits(seen, "/wait") if s["CallSid"] == legs[0].sid]
    assert times == [0, 9, 19, 28, 38]  # re-fetched whenever the 9.6 s document runs out
    left = hits(seen, "/left")
    assert {s["QueueResult"] for s in left} == {"leave"} and len(left) == 3
    assert at(engine, legs[0], "dequeued") == pytest.approx(38.4)  # at once after <Leave>
    assert all(leg.said[-1] == "Left." for leg in legs)


def test_queue_full_and_caller_hang_up():
    engine, seen = world({"/start": ENQUEUE.format(size=1), "/wait": wait_doc(999)})
    patient = engine.call("+447911000001", NUMBER, Caller(patience=15))
    refused = engine.call("+447911000002", NUMBER, Caller(), at=START + 1)
    engine.run()
    by_call = {s["CallSid"]: s for s in hits(seen, "/left")}
    assert by_call[refused.sid]["QueueResult"] == "queue-full"
    assert "QueueTime" not in by_call[refused.sid]  # never enqueued
    gone = by_call[patient.sid]
    assert (gone["QueueResult"], gone["QueueTime"], gone["CallStatus"]) == (
        "hangup", "15", "completed")
    statuses = [s for s in seen if s["path"] == "/status" and s["CallSid"] == patient.sid]
    assert len(statuses) == 1 and seen.index(statuses[0]) > seen.index(gone)


def test_dial_queue_takes_the_front_caller_runs_the_queue_url_then_bridges():
    agent_number = "+441206000099"
    routes = {"/start": ENQUEUE.format(size=10), "/wait": wait_doc(999), "/left": "<Hangup/>",
              "/agent": '<Dial action="/agent-done" timeout="20"><Queue url="/connect">support'
                        "</Queue></Dial>",
              "/connect": "<Say>Connecting you now.</Say>", "/agent-done": "<Hangup/>"}
    engine, seen = world(routes)
    engine.add_number(agent_number, f"{BASE}/agent")
    first = engine.call("+447911000001", NUMBER, Caller(talk_seconds=40))
    second = engine.call("+447911000002", NUMBER, Caller(patience=100), at=START + 5)
    agent = engine.call("+447700900001", agent_number, Agent(), at=START + 30)
    engine.run()
    (connect,) = hits(seen, "/connect")
    assert connect["CallSid"] == first.sid and connect["DequeingCallSid"] == agent.sid
    assert connect["QueueTime"] == "30"
    assert first.said[-1] == "Connecting you now."
    (done,) = hits(seen, "/agent-done")
    assert (done["DialCallStatus"], done["DialCallSid"], done["DialBridged"]) == (
        "completed", first.sid, "true")
    assert done["DialCallDuration"] == "40" and done["QueueTime"] == "30"
    left = {s["CallSid"]: s for s in hits(seen, "/left")}
    assert left[first.sid]["QueueResult"] == "bridged"  # only after the conversation ended
    assert at(engine, first, "end") == pytest.approx(30 + 1.0 + 40, abs=0.5)
    assert left[second.sid]["QueueResult"] == "hangup"


def test_dial_on_an_empty_queue_waits_for_the_next_caller_until_the_timeout():
    agent_number = "+441206000099"
    routes = {"/start": ENQUEUE.format(size=10), "/wait": wait_doc(999),
              "/agent": '<Dial action="/agent-done" timeout="10"><Queue>support</Queue></Dial>'
                        '<Say>unreachable</Say>',
              "/agent-done": lambda form: "<Say>Again.</Say><Redirect>/agent</Redirect>"
              if form["DialCallStatus"] != "completed" else "<Hangup/>"}
    engine, seen = world(routes)
    engine.add_number(agent_number, f"{BASE}/agent")
    engine.call("+447700900001", agent_number, Agent())
    caller = engine.call("+447911000001", NUMBER, Caller(talk_seconds=5), at=START + 15)
    engine.run()
    results = [s["DialCallStatus"] for s in hits(seen, "/agent-done")]
    assert results == ["no-answer", "completed"]
    assert engine.requests[1].at - START == pytest.approx(10)  # gave up at the Dial timeout
    assert caller.notices[-1].kind == "end"


def test_wait_url_verb_list_is_enforced():
    engine, _ = world({"/start": ENQUEUE.format(size=10), "/wait": "<Dial>+441206000002</Dial>"})
    engine.call(CALLER, NUMBER, Caller())
    with pytest.raises(TwimlViolation, match="not allowed in a 'wait' document"):
        engine.run()
    lenient, seen = world({"/start": ENQUEUE.format(size=10),
                           "/wait": "<Dial>+441206000002</Dial>"}, strict=False)
    leg = lenient.call(CALLER, NUMBER, Caller())
    lenient.run()
    assert hits(seen, "/left")[0]["QueueResult"] == "error" and leg.errors


# -- Dial a number -------------------------------------------------------------------------------
DIAL = ('<Dial action="/dialled" timeout="20"><Number url="/whisper">+441206999999</Number>'
        '</Dial>')


@pytest.mark.parametrize(("answer", "status", "after"), [
    (Answer("answered", ring=4, talk=30), "completed", 34),
    (Answer("busy"), "busy", 3),
    (Answer("no-answer"), "no-answer", 20),
    (Answer("answered", ring=25), "no-answer", 20),
    (Answer("failed"), "failed", 1),
])
def test_dial_number_outcomes_and_the_whisper(answer, status, after):
    engine, seen = world({"/start": DIAL, "/whisper": "<Say>Council call.</Say>"})
    engine.lines["+441206999999"] = answer
    engine.call(CALLER, NUMBER, Caller(talk_seconds=None))
    engine.run()
    (dialled,) = hits(seen, "/dialled")
    assert dialled["DialCallStatus"] == status
    assert engine.requests[[r.url for r in engine.requests].index(f"{BASE}/dialled")].at \
        - START == pytest.approx(after + (0.8 if status == "completed" else 0), abs=0.01)
    whispers = hits(seen, "/whisper")
    if status == "completed":
        (whisper,) = whispers
        assert whisper["ParentCallSid"] == dialled["CallSid"]
        assert whisper["CallSid"] == dialled["DialCallSid"] and whisper["To"] == "+441206999999"
        assert whisper["Direction"] == "outbound-dial" and dialled["DialCallDuration"] == "30"
    else:
        assert whispers == []


# -- failures ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("how", "code"), [
    ({"status": 500}, "11217"), ({"delay": 20.0}, "11205"),
    ({"body": b"<Response><Say>unclosed"}, "12100")])
def test_a_failed_document_goes_to_the_fallback_url(how, code):
    engine, seen = world({"/start": '<Gather action="/menu" numDigits="1"/>',
                          "/menu": "<Say>Menu.</Say>", "/fallback": "<Say>Sorry.</Say>"},
                         fallback="/fallback")
    engine.transport.add(r"^/menu", **how)
    leg = engine.call(CALLER, NUMBER, Caller(steps("1")))
    engine.run()
    (fallback,) = hits(seen, "/fallback")
    assert (fallback["ErrorCode"], fallback["ErrorUrl"]) == (code, f"{BASE}/menu")
    assert leg.said == ["Sorry."]


def test_without_a_fallback_the_caller_hears_an_application_error():
    engine, seen = world({"/start": "<Say>Hi.</Say>"})
    engine.transport.add(r"^/start", status=503)
    leg = engine.call(CALLER, NUMBER, Caller())
    engine.run()
    assert [n.text for n in leg.notices if n.kind == "error"] == [
        "An application error has occurred."]
    assert leg.status == "completed" and hits(seen, "/status")


def test_strict_mode_stops_on_off_schema_twiml():
    engine, _ = world({"/start": '<Say voise="alice">Hi</Say>'})
    engine.call(CALLER, NUMBER, Caller())
    with pytest.raises(TwimlViolation, match="unknown attribute 'voise'"):
        engine.run()


# -- REST --------------------------------------------------------------------------------------
def test_rest_calls_create_rings_out_and_members_update_redirects():
    routes = {"/out": "<Say>Hello from the council.</Say>", "/start": ENQUEUE.format(size=10),
              "/wait": wait_doc(999), "/elsewhere": "<Say>Moved.</Say>"}
    engine, seen = world(routes)
    rest = TwilioRestStandIn(engine=engine)
    client = Client(ACCOUNT, TOKEN, http_client=rest)
    queued = engine.call(CALLER, NUMBER, Caller())
    engine.run(START + 5)
    call = client.calls.create(to="+447911000009", from_=NUMBER, url=f"{BASE}/out",
                               status_callback=f"{BASE}/out-status",
                               status_callback_event=["initiated", "ringing", "answered",
                                                      "completed"])
    (queue,) = client.queues.list()
    assert (queue.friendly_name, queue.current_size) == ("support", 1)
    assert client.queues(queue.sid).members("Front").fetch().call_sid == queued.sid
    client.queues(queue.sid).members("Front").update(url=f"{BASE}/elsewhere", method="POST")
    engine.run()
    out = engine.legs[call.sid]
    assert out.said == ["Hello from the council."] and out.direction == "outbound-api"
    events = [(s["CallStatus"], s["SequenceNumber"]) for s in hits(seen, "/out-status")]
    assert events == [("initiated", "0"), ("ringing", "1"), ("in-progress", "2"),
                      ("completed", "3")]
    assert hits(seen, "/left")[0]["QueueResult"] == "redirected"
    assert queued.said[-1] == "Moved."
    assert json.loads(json.dumps(rest.calls[0]))["sid"] == call.sid


def test_caller_hangs_up_at_a_gather():
    engine, seen = world({"/start": '<Gather action="/got"><Say>Hi.</Say></Gather>'})
    leg = engine.call(CALLER, NUMBER, Caller([hang_up()]))
    engine.run()
    assert hits(seen, "/got") == [] and leg.status == "completed"
    assert hits(seen, "/status")[0]["CallStatus"] == "completed"


# -- the same engine over HTTP, in real time ---------------------------------------------------
@pytest.fixture
def served():
    """The fake app on a real socket (werkzeug, a thread), as ``ivr serve`` would expose it."""
    import threading

    from werkzeug.serving import make_server

    seen: list[dict] = []
    routes: dict[str, Route] = {}
    server = make_server("127.0.0.1", 0, fake_app(routes, seen), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", routes, seen
    server.shutdown()


def test_over_http_in_real_time_with_signatures_and_timeouts(served):
    import time

    from ivr.sim.clock import RealClock
    from ivr.sim.transport import HttpTransport

    base, routes, seen = served

    def slow(form: dict) -> str:
        time.sleep(1.0)
        return "<Say>Too late.</Say>"

    routes.update({"/start": '<Say>Hi there.</Say><Gather action="/slow" numDigits="1" '
                             'timeout="1"/>', "/slow": slow, "/fallback": "<Hangup/>"})
    engine = Engine(HttpTransport(timeout=0.5), auth_token=TOKEN, account_sid=ACCOUNT,
                    clock=RealClock(), fidelity=Fidelity(request_timeout=0.5, reaction=0.1))
    engine.add_number(NUMBER, f"{base}/start", fallback_url=f"{base}/fallback")
    started = time.time()
    leg = engine.call(CALLER, NUMBER, Caller(steps("1")))
    engine.run()
    assert time.time() - started >= 0.8 + 0.1  # "Hi there." really took its time
    assert leg.said == ["Hi there."] and leg.status == "completed"
    assert [s["path"] for s in seen][:2] == ["/start", "/slow"]
    fallback = hits(seen, "/fallback")[0]
    assert fallback["ErrorCode"] == "11205" and fallback["ErrorUrl"] == f"{base}/slow"
