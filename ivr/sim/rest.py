"""A faithful local stand-in for the Twilio REST resources the app uses.

Plugged in through twilio's ``Client(http_client=...)`` seam (see ``ivr.twilio_rest``): it
answers like api.twilio.com (JSON bodies, 201 on create, Twilio-style errors) and keeps what
was sent, so tests and simulations can see the SMS and calls the app asked for.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs

from twilio.http import HttpClient
from twilio.http.response import Response

from ivr.sim import rest_numbers

_PATH = re.compile(r"/2010-04-01/Accounts/(?P<account>AC[0-9a-zA-Z]+)/(?P<rest>.+)\.json$")
_MEDIA = re.compile(r"/2010-04-01/Accounts/(?P<account>AC[0-9a-zA-Z]+)/Recordings/"
                    r"(?P<sid>RE[0-9a-fA-F]{32})\.(?P<ext>mp3|wav)$")
_RECORDING = re.compile(r"^Recordings/(?P<sid>RE[0-9a-fA-F]{32})$")
_CALL = re.compile(r"^Calls/(?P<sid>CA[0-9a-fA-F]{32})$")
_MEDIA_TYPES = {"mp3": "audio/mpeg", "wav": "audio/x-wav"}


def _iso(value: str | None) -> float | None:
    """Epoch seconds of an ISO 8601 UTC time as twilio-python sends filters (or None)."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


def _error(status: int, code: int, message: str) -> Response:
    body = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}
    return Response(status, json.dumps(body))


@dataclass
class TwilioRestStandIn(HttpClient):
    """Serves Messages and Calls creation, recording media and recording deletion, and the
    account's numbers (``ivr.sim.rest_numbers``: add one with ``add_number``);
    ``fail_next`` makes the next request fail with ``fail_status`` (retries). Put audio in
    ``recordings`` (sid -> bytes) to have it served; a deletion removes it there and notes the
    SID in ``deleted``. With ``auth_token`` set, only that token authenticates (else 401, as
    Twilio answers wrong credentials); unset, any non-empty one does."""

    messages: list[dict] = field(default_factory=list)
    recordings: dict[str, bytes] = field(default_factory=dict)
    calls: list[dict] = field(default_factory=list)
    requests: list[tuple[str, str, dict]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    fail_next: int = 0
    auth_token: str = ""
    # PhoneNumberSid -> the IncomingPhoneNumber resource (``rest_numbers.new_number``)
    numbers: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail_status: int = 503
    engine: Any = None  # an ivr.sim.engine.Engine: then Calls and Queues are live (rest_calls)
    # RecordingSid -> its resource's facts (call_sid, date_created epoch s, duration, source,
    # status), as Twilio lists them; the engine keeps its own (``Engine.recording_info``).
    recording_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    # CallSid -> its resource (from, to, direction, status) for ``GET Calls/{CA}`` without an
    # engine (which serves its own live calls)
    call_info: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(logger=logging.getLogger(__name__), is_async=False)

    def request(self, method, url, params=None, data=None, headers=None, auth=None,
                timeout=None, allow_redirects=False):
        form = {k: v if isinstance(v, list) else [v] for k, v in (data or {}).items()}
        if isinstance(data, str):
            form = parse_qs(data)
        flat = {k: v[0] if len(v) == 1 else v for k, v in form.items()}
        self.requests.append((method, url, flat))
        if not auth or not auth[0] or not auth[1] or (
                self.auth_token and auth[1] != self.auth_token):
            return _error(401, 20003, "Authenticate")
        if self.fail_next > 0:
            self.fail_next -= 1
            return _error(self.fail_status, 20500, "Stand-in failure injection")
        media = _MEDIA.search(url)
        if method == "GET" and media and media["account"] == auth[0]:
            return self._media(media["sid"], media["ext"])
        match = _PATH.search(url)
        if not match or match["account"] != auth[0]:
            return _error(404, 20404, f"The requested resource {url} was not found")
        answer = rest_numbers.handle(self.numbers, auth[0], method, match["rest"], flat,
                                     {k: str(v) for k, v in (params or {}).items()})
        if answer is not None:
            return answer
        recording = _RECORDING.match(match["rest"])
        if method == "DELETE" and recording:
            return self._delete_recording(recording["sid"])
        call = _CALL.match(match["rest"])
        if method == "GET" and call and self.engine is None:
            if call["sid"] not in self.call_info:
                return _error(404, 20404, f"The requested resource Calls/{call['sid']} was "
                                          "not found")
            return Response(200, json.dumps({"sid": call["sid"], "account_sid": auth[0]}
                                            | self.call_info[call["sid"]]))
        if method == "GET" and match["rest"] == "Recordings":
            return self._list_recordings(auth[0], {k: str(v) for k, v in (params or {}).items()})
        if self.engine is not None:
            from ivr.sim.rest_calls import handle

            answer = handle(self.engine, method, match["rest"], flat)
            if answer is not None:
                if method == "POST" and match["rest"] == "Calls" and answer.status_code == 201:
                    self.calls.append(json.loads(answer.text) | {"params": flat})
                return answer
        now = format_datetime(datetime.now(UTC))
        if method == "POST" and match["rest"] == "Messages":
            if not flat.get("To") or not (flat.get("From") or flat.get("MessagingServiceSid")):
                return _error(400, 21604, "A 'To' and a 'From' phone number are required.")
            if not flat.get("Body"):
                return _error(400, 21602, "Message body is required.")
            msg = {"sid": _sid("SM"), "account_sid": auth[0], "to": flat["To"],
                   "from": flat.get("From"), "body": flat["Body"], "status": "queued",
                   "date_created": now, "direction": "outbound-api", "num_segments": "1",
                   "status_callback": flat.get("StatusCallback")}
            self.messages.append(msg)
            return Response(201, json.dumps(msg))
        if method == "POST" and match["rest"] == "Calls":
            if not flat.get("To") or not flat.get("From"):
                return _error(400, 21201, "No 'To' or 'From' number is specified")
            if not (flat.get("Url") or flat.get("Twiml") or flat.get("ApplicationSid")):
                return _error(400, 21205, "Url parameter is required.")
            call = {"sid": _sid("CA"), "account_sid": auth[0], "to": flat["To"],
                    "from": flat["From"], "status": "queued", "direction": "outbound-api",
                    "date_created": now, "url": flat.get("Url"), "twiml": flat.get("Twiml")}
            self.calls.append(call | {"params": flat})
            return Response(201, json.dumps(call))
        return _error(404, 20404, f"The stand-in does not serve {method} {match['rest']}")

    def add_number(self, account: str, phone_number: str, **voice: str) -> str:
        """A number the account owns (as bought: no voice URL unless given); its SID."""
        resource = rest_numbers.new_number(account, phone_number, **voice)
        self.numbers[resource["sid"]] = resource
        return resource["sid"]

    def _list_recordings(self, account: str, query: dict[str, str]) -> Response:
        """``GET Recordings.json`` as Twilio pages it, newest first, filtered by
        ``DateCreated>`` / ``DateCreated<`` (ISO 8601, UTC) and ``CallSid``; deleted ones are
        not listed."""
        known = dict(self.engine.recording_info) if self.engine is not None else {}
        known |= self.recording_info
        after, before = (_iso(query.get(k)) for k in ("DateCreated>", "DateCreated<"))
        items = []
        for sid, info in known.items():
            created = float(info["date_created"])
            if sid in self.deleted or (after is not None and created < after) or (
                    before is not None and created >= before) or (
                    query.get("CallSid") and query["CallSid"] != info.get("call_sid")):
                continue
            items.append({
                "sid": sid, "account_sid": account, "call_sid": info.get("call_sid"),
                "date_created": format_datetime(datetime.fromtimestamp(created, UTC)),
                "duration": str(int(info.get("duration", 0))),
                "source": info.get("source", "RecordVerb"),
                "status": info.get("status", "completed"), "channels": 1,
                "uri": f"/2010-04-01/Accounts/{account}/Recordings/{sid}.json"})
        items.sort(key=lambda x: known[x["sid"]]["date_created"], reverse=True)
        uri = f"/2010-04-01/Accounts/{account}/Recordings.json"
        return Response(200, json.dumps({
            "recordings": items, "uri": uri, "first_page_uri": uri, "page": 0,
            "page_size": max(50, len(items)), "start": 0, "end": max(0, len(items) - 1),
            "next_page_uri": None, "previous_page_uri": None}))

    def _delete_recording(self, sid: str) -> Response:
        """Like Twilio: 204 and no body when it held the recording, else 404 (already gone)."""
        held = self.engine.recordings if self.engine is not None else {}  # silent ones too
        if sid not in self.recordings and sid not in held:
            return _error(404, 20404, f"The requested resource /Recordings/{sid}.json "
                                      "was not found")
        self.recordings.pop(sid, None)
        held.pop(sid, None)
        self.deleted.append(sid)
        return Response(204, "")

    def _media(self, sid: str, ext: str) -> Response:
        """Like Twilio's media URL: the audio bytes, or 404 for a recording it does not hold.

        twilio's ``Response`` carries text; media is bytes, which ``twilio_rest.fetch_recording``
        reads as such (real media bypasses the text-decoding client altogether)."""
        if sid not in self.recordings:
            return _error(404, 20404, f"The requested resource {sid}.{ext} was not found")
        audio = self.recordings[sid]
        return Response(200, audio, {"Content-Type": _MEDIA_TYPES[ext]})  # type: ignore[arg-type]
