"""The baseline for bench/webhooks.py: a bare Flask endpoint returning a fixed TwiML document.

No signature check, no Redis, no TwiML building: only what any Flask webhook pays (routing,
request and response objects) under the same gunicorn settings as the real app. The document
is the one ``POST /voice/incoming`` returns in opening hours, so both send the same bytes.

Served with ``gunicorn bare_app:app`` (``--pythonpath bench``).
"""

from __future__ import annotations

from flask import Flask, Response

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


@app.get("/healthz")
def healthz() -> dict:
    return {"ok": True}
