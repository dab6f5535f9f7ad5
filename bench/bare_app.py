"""The baseline for bench/webhooks.py: a bare Flask endpoint returning a fixed TwiML document.

No signature check, no Redis, no TwiML building: only what any Flask webhook pays (routing,
request and response objects) under the same gunicorn settings as the real app. The document
is the one ``POST /voice/incoming`` returns in opening hours, so both send the same bytes.

``POST /floor`` is the least any correct webhook of this service must do, written as plainly
as possible: twilio's ``RequestValidator.validate`` on the form, one Redis pipeline that
records the call (HSET + EXPIRE) and an event (XADD), and the same fixed document. The real
app's distance from it is the cost of the app's own code; its distance from ``/twiml`` is
the cost of the work itself.

Served with ``gunicorn bare_app:app`` (``--pythonpath bench``).
"""

from __future__ import annotations

import os
import time

import redis
from flask import Flask, Response, abort, request
from twilio.request_validator import RequestValidator

_VOICE = 'language="en-GB" voice="Polly.Amy-Neural"'
_HINTS = (
    "payment, payments, pay, pay a bill, bill, council tax, tax, benefits, benefit, "
    "housing benefit, bins, bin, recycling, waste, street care, rubbish, housing, homeless, "
    "homelessness, repairs, text phone, textphone, relay, anything else, other, "
    "something else, advisor, operator, general"
)
_MENU = [
    "Please choose from the following options.",
    "To pay a bill on our automated payment line, press 1, or say payments.",
    "For council tax, press 2.",
    "For benefits, press 3.",
    "For bins, recycling and street care, press 4.",
    "For housing, press 5.",
    "If you use a text phone or Relay UK, press 9. Our text phone number is "
    "1 8 0 0 1, 0 1 2 0 6, 2 8 2 3 0 0.",
    "For anything else, press 0.",
    "To hear these options again, press star.",
]

TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response>'
    f"<Say {_VOICE}>Thank you for calling Colchester Borough Council.</Say>"
    f"<Say {_VOICE}>Calls may be recorded for training and monitoring purposes.</Say>"
    '<Gather action="/voice/menu/choice?miss=0" actionOnEmptyResult="true" '
    f'hints="{_HINTS}" input="dtmf speech" language="en-GB" method="POST" numDigits="1" '
    'speechTimeout="auto" timeout="5">'
    + "".join(f"<Say {_VOICE}>{text}</Say>" for text in _MENU)
    + '</Gather><Redirect method="POST">/voice/menu/choice?miss=0</Redirect></Response>'
)

app = Flask(__name__)


@app.post("/twiml")
def twiml() -> Response:
    return Response(TWIML, status=200, mimetype="text/xml")


_validator = RequestValidator(os.environ.get("TWILIO_AUTH_TOKEN", ""))
_redis = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/8"))


@app.post("/floor")
def floor() -> Response:
    if not _validator.validate(request.url, request.form,
                               request.headers.get("X-Twilio-Signature", "")):
        abort(403)
    sid = request.form.get("CallSid", "")
    pipe = _redis.pipeline(transaction=False)
    pipe.hset(f"floor:call:{sid}", mapping={"from": request.form.get("From", ""),
                                            "at": f"{time.time():.3f}"})
    pipe.expire(f"floor:call:{sid}", 3600)
    pipe.xadd("floor:events", {"event": "INCOMING", "call": sid}, maxlen=10000,
              approximate=True)
    pipe.execute()
    return Response(TWIML, status=200, mimetype="text/xml")


@app.get("/healthz")
def healthz() -> dict:
    return {"ok": True}
