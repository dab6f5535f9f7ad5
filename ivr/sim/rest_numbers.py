"""``IncomingPhoneNumbers`` as api.twilio.com serves it (twilio.md §6.0), for provisioning.

``GET IncomingPhoneNumbers.json`` lists the account's numbers (filtered by ``PhoneNumber``,
E.164, as Twilio matches it); ``GET``/``POST IncomingPhoneNumbers/{PN}.json`` reads or updates
one. An update changes only the fields it names (form-encoded, as twilio-python sends them);
an unknown SID is 404, a fallback URL on a number with no voice URL is 21405, a method other
than GET/POST or a URL that is not http(s) is 400. ``date_updated`` moves only when a value
changed, so a test can see that a second provisioning run changed nothing.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from twilio.http.response import Response

_NUMBER = re.compile(r"IncomingPhoneNumbers/(PN[0-9a-fA-F]{32})$")
# The voice fields an update may set: form name -> the resource's JSON name.
VOICE_FIELDS = {
    "VoiceUrl": "voice_url", "VoiceMethod": "voice_method",
    "VoiceFallbackUrl": "voice_fallback_url", "VoiceFallbackMethod": "voice_fallback_method",
    "StatusCallback": "status_callback", "StatusCallbackMethod": "status_callback_method",
    "VoiceApplicationSid": "voice_application_sid", "FriendlyName": "friendly_name",
}
_METHODS = {"VoiceMethod", "VoiceFallbackMethod", "StatusCallbackMethod"}
_URLS = {"VoiceUrl", "VoiceFallbackUrl", "StatusCallback"}


def _error(status: int, code: int, message: str) -> Response:
    return Response(status, json.dumps({"code": code, "message": message, "status": status,
                                        "more_info": f"https://www.twilio.com/docs/errors/{code}"}))


def _one(value: Any) -> str:
    return str((value[0] if isinstance(value, list) else value) or "")


def new_number(account: str, phone_number: str, **voice: str) -> dict[str, Any]:
    """A number as Twilio holds one just bought: no voice URL unless given, methods POST."""
    sid = "PN" + uuid.uuid4().hex
    now = format_datetime(datetime.now(UTC))
    resource: dict[str, Any] = {
        "sid": sid, "account_sid": account, "phone_number": phone_number,
        "friendly_name": phone_number, "voice_url": None, "voice_method": "POST",
        "voice_fallback_url": None, "voice_fallback_method": "POST", "status_callback": None,
        "status_callback_method": "POST", "voice_application_sid": None,
        "capabilities": {"voice": True, "sms": True, "mms": False, "fax": False},
        "date_created": now, "date_updated": now, "api_version": "2010-04-01",
        "uri": f"/2010-04-01/Accounts/{account}/IncomingPhoneNumbers/{sid}.json"}
    resource.update(voice)
    return resource


def handle(numbers: dict[str, dict[str, Any]], account: str, method: str, rest: str,
           form: dict[str, Any], query: dict[str, str]) -> Response | None:
    """Answer a request about the account's numbers, or None if it is not one."""
    if rest == "IncomingPhoneNumbers" and method == "GET":
        wanted = query.get("PhoneNumber", "")
        items = [n for n in numbers.values() if n["account_sid"] == account
                 and (not wanted or n["phone_number"] == wanted)]
        uri = f"/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json"
        return Response(200, json.dumps({
            "incoming_phone_numbers": items, "uri": uri, "first_page_uri": uri, "page": 0,
            "page_size": int(query.get("PageSize") or 50), "start": 0,
            "end": max(0, len(items) - 1), "next_page_uri": None, "previous_page_uri": None}))
    m = _NUMBER.fullmatch(rest)
    if m is None:
        return None
    number = numbers.get(m[1])
    if number is None or number["account_sid"] != account:
        return _error(404, 20404, f"The requested resource /IncomingPhoneNumbers/{m[1]}.json "
                                  "was not found")
    if method == "GET":
        return Response(200, json.dumps(number))
    if method != "POST":
        return _error(405, 20004, "Method not allowed")
    return _update(number, form)


def _update(number: dict[str, Any], form: dict[str, Any]) -> Response:
    given = {k: _one(v) for k, v in form.items() if k in VOICE_FIELDS}
    for name in _METHODS & given.keys():
        if given[name].upper() not in ("GET", "POST"):
            return _error(400, 21403, f"{name} must be GET or POST")
        given[name] = given[name].upper()
    for name in _URLS & given.keys():
        if given[name] and not given[name].startswith(("http://", "https://")):
            return _error(400, 21402, f"{name} is not a valid URL: {given[name]}")
    after = number | {VOICE_FIELDS[k]: (v or None) for k, v in given.items()}
    if after.get("voice_fallback_url") and not after.get("voice_url"):
        return _error(400, 21405, "A VoiceFallbackUrl needs a VoiceUrl")
    if after != number:
        after["date_updated"] = format_datetime(datetime.now(UTC))
        number.update(after)
    return Response(200, json.dumps(number))
