"""A caller who talks to the app as Twilio would: signed requests with Twilio's parameters.

Each method is one thing a resident (or Twilio on their behalf) does: ring, press keys, say
words, stay silent, wait in a queue, record a message, hang up. Every TwiML document received
is checked against Twilio's own definitions (``twiml_schema``) in the context it is used.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs, urljoin, urlsplit
from xml.etree import ElementTree as ET

from twilio.request_validator import RequestValidator
from twiml_schema import validate, verbs

from ivr.sealed import Sealer

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
COUNCIL_NUMBER = "+441206282222"
BASE = "http://localhost"


@dataclass
class Doc:
    """One TwiML document as received."""

    url: str
    xml: str
    root: ET.Element

    @property
    def verbs(self) -> list[str]:
        return verbs(self.root)

    @property
    def text(self) -> str:
        """Everything said, in order, one string (for asserting on wording)."""
        return " ".join((e.text or "").strip() for e in self.root.iter("Say"))

    def first(self, tag: str) -> ET.Element:
        found = self.root.find(f".//{tag}")
        assert found is not None, f"no <{tag}> in {self.xml}"
        return found

    def all(self, tag: str) -> list[ET.Element]:
        return list(self.root.iter(tag))

    def has(self, tag: str) -> bool:
        return self.root.find(f".//{tag}") is not None


def sign(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


PERSONAL_ARGS = {"number", "relay", "caller", "from", "to", "digits"}


def sealed_number(url: str, call_sid: str, token: str = AUTH_TOKEN) -> str:
    """The callback number one of our voicemail URLs carries, opened as the app opens it
    (sealed in ``cb`` for ``call_sid``; "" when it carries none); fails if anything personal
    is written in the URL as it is."""
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    assert not PERSONAL_ARGS & {k.lower() for k in query}, url
    [sealed] = query["cb"]
    opened = Sealer.from_secret(token).open(sealed, call_sid)
    assert opened is not None, f"{url} does not open for {call_sid}"
    return opened[1:]


class Caller:
    def __init__(
        self,
        client,
        from_: str = "+447911123456",
        to: str = COUNCIL_NUMBER,
        call_sid: str | None = None,
        token: str = AUTH_TOKEN,
        base: str = BASE,
    ) -> None:
        self.client = client
        self.base = base  # the URL Twilio requests, which it signs (PUBLIC_BASE_URL behind a proxy)
        self.from_ = from_
        self.to = to
        self.sid = call_sid or "CA" + uuid.uuid4().hex
        self.token = token
        self.doc: Doc | None = None
        self.history: list[Doc] = []

    # -- transport -------------------------------------------------------------------------
    def standard(self) -> dict[str, str]:
        """Parameters Twilio sends on every voice request."""
        return {
            "CallSid": self.sid,
            "AccountSid": ACCOUNT_SID,
            "From": self.from_,
            "To": self.to,
            "Caller": self.from_,
            "Called": self.to,
            "CallStatus": "in-progress",
            "ApiVersion": "2010-04-01",
            "Direction": "inbound",
            "FromCountry": "GB",
            "ToCountry": "GB",
            "FromCity": "",
            "ToCity": "COLCHESTER",
        }

    def post(self, url: str, context: str = "call", status: int = 200, **params: str) -> Doc:
        """POST a signed request to ``url`` (relative to the current document) and check it."""
        absolute = urljoin(self.doc.url if self.doc else self.base + "/", url)
        form = self.standard() | {k: str(v) for k, v in params.items() if v is not None}
        parts = urlsplit(absolute)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        response = self.client.post(
            path, data=form, headers={"X-Twilio-Signature": sign(absolute, form, self.token)}
        )
        assert response.status_code == status, response.get_data(as_text=True)
        assert response.mimetype == "text/xml", response.mimetype
        xml = response.get_data(as_text=True)
        doc = Doc(absolute, xml, validate(xml, context))
        if context == "call":
            self.doc = doc
        self.history.append(doc)
        return doc

    # -- what a caller does ----------------------------------------------------------------
    def ring(self) -> Doc:
        self.doc = None
        return self.post("/voice/incoming", CallStatus="ringing")

    def _gather(self) -> ET.Element:
        assert self.doc is not None
        return self.doc.first("Gather")

    def press(self, digits: str) -> Doc:
        gather = self._gather()
        return self.post(gather.get("action"), Digits=digits, FinishedOnKey="")

    def say(self, words: str, confidence: str = "0.91") -> Doc:
        gather = self._gather()
        assert "speech" in (gather.get("input") or ""), "this prompt does not listen for speech"
        return self.post(gather.get("action"), SpeechResult=words, Confidence=confidence)

    def silence(self) -> Doc:
        """No input: Twilio posts the action only with actionOnEmptyResult, else falls through."""
        gather = self._gather()
        if gather.get("actionOnEmptyResult") == "true":
            return self.post(gather.get("action"))
        return self.follow()

    def follow(self) -> Doc:
        """Run the document's top-level <Redirect>."""
        assert self.doc is not None
        redirect = self.doc.root.find("Redirect")
        assert redirect is not None, f"no <Redirect> in {self.doc.xml}"
        return self.post(redirect.text.strip())

    def enqueue(self) -> ET.Element:
        assert self.doc is not None
        return self.doc.first("Enqueue")

    def hold(self, queue_time: int, position: int = 1, size: int = 1) -> Doc:
        """Twilio fetching the waitUrl while the caller waits."""
        enqueue = self.enqueue()
        return self.post(
            enqueue.get("waitUrl"),
            context="wait",
            QueuePosition=position,
            QueueTime=queue_time,
            QueueSid="QU" + "1" * 32,
            AvgQueueTime=queue_time,
            CurrentQueueSize=size,
            MaxQueueSize=100,
        )

    def leave_queue(self, result: str, queue_time: int) -> Doc:
        """The <Enqueue action> request, when the caller leaves the queue."""
        enqueue = self.enqueue()
        return self.post(
            enqueue.get("action"),
            QueueResult=result,
            QueueTime=queue_time,
            QueueSid="QU" + "1" * 32,
        )

    def dial_result(self, status: str, duration: int = 0, **more) -> Doc:
        """The <Dial action> with Twilio's Dial parameters (and ``more``)."""
        return self.post(
            self.doc.first("Dial").get("action"),
            DialCallStatus=status,
            DialCallSid="CA" + uuid.uuid4().hex,
            DialCallDuration=duration,
            DialBridged="true" if status == "completed" else "false",
            **more,
        )

    def record(
        self,
        duration: int = 12,
        digits: str = "#",
        recording_sid: str | None = None,
        with_sid: bool = False,
    ) -> tuple[Doc, str, str]:
        """Leave a message: the <Record> action. Returns (doc, recording sid, status URL)."""
        record = self.doc.first("Record")
        rec_sid = recording_sid or "RE" + uuid.uuid4().hex
        url = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{rec_sid}"
        status_url = record.get("recordingStatusCallback")
        extra = {"RecordingSid": rec_sid} if with_sid else {}
        doc = self.post(
            record.get("action"),
            RecordingUrl=url,
            RecordingDuration=duration,
            Digits=digits,
            **extra,
        )
        return doc, rec_sid, status_url

    def recording_ready(
        self, status_url: str, recording_sid: str, duration: int = 12, status: str = "completed",
        expect: int = 200,
    ) -> Doc | None:
        """Twilio's recordingStatusCallback (may come more than once); None when the app
        answered ``expect``, an error status (Twilio may then deliver it again)."""
        url = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{recording_sid}"
        params = {
            "AccountSid": ACCOUNT_SID,
            "CallSid": self.sid,
            "RecordingSid": recording_sid,
            "RecordingUrl": url,
            "RecordingStatus": status,
            "RecordingDuration": str(duration),
            "RecordingChannels": "1",
            "RecordingSource": "RecordVerb",
        }
        return self._callback(status_url, params, expect)

    def hang_up(self, duration: int = 60, status: str = "completed") -> Doc:
        """The status callback at the end of the call."""
        params = self.standard() | {
            "CallStatus": status,
            "CallDuration": str(duration),
            "CallbackSource": "call-progress-events",
            "SequenceNumber": "0",
            "Timestamp": "Fri, 27 Nov 2026 10:00:00 +0000",
        }
        return self._callback(self.base + "/voice/status", params)

    def _callback(self, url: str, params: dict[str, str], expect: int = 200) -> Doc | None:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        response = self.client.post(
            path, data=params, headers={"X-Twilio-Signature": sign(url, params, self.token)}
        )
        assert response.status_code == expect, response.get_data(as_text=True)
        if expect != 200:
            return None
        xml = response.get_data(as_text=True)
        doc = Doc(url, xml, validate(xml, "status"))
        self.history.append(doc)
        return doc

    # -- the other legs of a bridge, and other status callbacks ----------------------------
    def queue_url(self, url: str, queue_time: int, dequeuing_sid: str,
                  queue_sid: str = "QU" + "1" * 32) -> Doc:
        """Twilio fetching a ``<Dial><Queue url>`` on this (waiting) caller's leg, just before
        the bridge: the caller's own parameters plus the queue's and the dequeuing call."""
        return self.post(url, context="queue_url", QueueSid=queue_sid, QueueTime=queue_time,
                         DequeingCallSid=dequeuing_sid)

    def number_url(self, url: str, to: str, caller_id: str, child_sid: str | None = None) -> Doc:
        """Twilio fetching a ``<Dial><Number url>`` on the called party's leg once they answer
        (this caller is the parent call that dialled ``to`` with ``caller_id``)."""
        return self.post(url, context="number_url", CallSid=child_sid or "CA" + uuid.uuid4().hex,
                         ParentCallSid=self.sid, From=caller_id, Caller=caller_id, To=to,
                         Called=to, Direction="outbound-dial")

    def dial_queue_result(self, status: str, duration: int = 0, queue_time: int = 0,
                          queue_sid: str = "QU" + "1" * 32) -> Doc:
        """The <Dial action> after a <Dial><Queue>: the Dial parameters plus the queue's."""
        return self.dial_result(status, duration, QueueSid=queue_sid, QueueTime=queue_time)

    def status_callback(self, path: str, status: str = "completed", duration: int = 60) -> Doc:
        """The number's status callback at ``path`` (e.g. the agent line's ``/agent/status``)."""
        params = self.standard() | {
            "CallStatus": status,
            "CallDuration": str(duration),
            "CallbackSource": "call-progress-events",
            "SequenceNumber": "0",
            "Timestamp": "Fri, 27 Nov 2026 10:00:00 +0000",
        }
        return self._callback(self.base + path, params)


def written_keys(redis_client) -> int:
    """Keys in the test database other than the fixture's on-duty advisor sets."""
    return sum(1 for k in redis_client.scan_iter() if not k.endswith(b":signed_in"))
