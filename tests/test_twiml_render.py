"""ivr.twiml.to_xml writes exactly what twilio's own ``str(response)`` writes.

The app's ``render`` also cross-checks every document under test (app.testing), so the whole
suite compares the two; these cases cover what the flows may not: escaping in text and
attributes, booleans, empty elements, string children, JSON values, non-ASCII."""

from __future__ import annotations

import pytest
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from ivr.twiml import to_xml


def _docs() -> dict[str, VoiceResponse]:
    docs: dict[str, VoiceResponse] = {}
    docs["empty"] = VoiceResponse()

    r = VoiceResponse()
    r.say('Fish & chips <hot> "now" it\'s £5 – café', voice="Polly.Amy-Neural", language="en-GB")
    r.pause(length=2)
    r.play("https://x.test/a.mp3?x=1&y=<2>", loop=0)
    r.hangup()
    docs["escaping"] = r

    r = VoiceResponse()
    g = Gather(action="/a?b=1&c=2", num_digits=1, action_on_empty_result=True, timeout=5,
               input="dtmf speech", hints='a, "b"\n\tc\r')
    g.say("Press 1.")
    r.append(g)
    r.redirect("/a?b=1&c=2", method="POST")
    docs["gather"] = r

    r = VoiceResponse()
    d = Dial(record="record-from-answer-dual", hangup_on_star=True, caller_id="+441206282222",
             action="/after")
    d.queue("council_tax", url="/intro")
    r.append(d)
    dial = Dial(timeout=20)
    dial.number("+441206282725", send_digits="ww1234", url="/whisper")
    r.append(dial)
    r.enqueue("housing", wait_url="/wait", action="/left")
    r.leave()
    r.record(max_length=180, finish_on_key="#", play_beep=False,
             recording_status_callback="/rec")
    docs["dial-queue-record"] = r

    r = VoiceResponse()
    r.append("leading text")
    r.say("one")
    r.append("tail one")
    r.append("tail two replaces one")
    r.say("")
    r.add_child("Custom", value={"k": "v & w"}, some_attr=False)
    docs["strings-json-generic"] = r
    return docs


@pytest.mark.parametrize("name", list(_docs()))
def test_same_bytes_as_twilio(name: str) -> None:
    doc = _docs()[name]
    assert to_xml(doc) == str(doc)


def test_attributes_escaped_as_elementtree_does() -> None:
    doc = _docs()["gather"]
    assert to_xml(doc).startswith('<?xml version="1.0" encoding="UTF-8"?><Response><Gather ')
    assert 'actionOnEmptyResult="true"' in to_xml(doc)
    assert "&#10;&#09;c&#13;" in to_xml(doc)
