"""The app's request class (``ivr.forms.Request``): werkzeug's form from its own parser, and a
cap on every body's size."""

from __future__ import annotations

from io import BytesIO

import pytest
from flask import Flask, Request, request
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.test import EnvironBuilder

from ivr import forms
from ivr.forms import MAX_BODY_BYTES

URLENCODED = "application/x-www-form-urlencoded"

BODIES = [b"", b"a", b"a=", b"=b", b"a=b&&c", b"From=%2B447911123456&Digits=1%23",
          b"SpeechResult=my+council+tax&Confidence=0.9", b"a=%zz&b=%C3%A9&c=%FF",
          b"x=1=2&y&x=3", "caf\u00e9=cr\u00e8me".encode(), b"a=\xff&b=1"]


def _app(request_class: type[Request]) -> Flask:
    app = Flask(__name__)
    app.request_class = request_class
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    return app


def _form(request_class: type[Request], body: bytes, **environ):
    app = _app(request_class)
    with app.test_request_context("/", method="POST", input_stream=BytesIO(body),
                                  content_type=URLENCODED, content_length=len(body),
                                  environ_base=environ):
        return [(k, request.form.getlist(k)) for k in request.form], request.files.to_dict(), \
            request.get_data()


@pytest.mark.parametrize("terminated", [{}, {"wsgi.input_terminated": True}],
                         ids=["plain", "gunicorn"])  # gunicorn marks every body terminated
@pytest.mark.parametrize("body", BODIES)
def test_a_url_encoded_body_gives_werkzeugs_form(body, terminated):
    assert _form(forms.Request, body, **terminated) == _form(Request, body, **terminated)


def test_a_body_over_the_cap_is_413_before_it_is_read():
    app = _app(forms.Request)
    stream = BytesIO(b"a=" + b"x" * MAX_BODY_BYTES)
    with app.test_request_context("/", method="POST", input_stream=stream,
                                  content_type=URLENCODED,
                                  content_length=MAX_BODY_BYTES + 2):
        with pytest.raises(RequestEntityTooLarge):
            request.form  # noqa: B018
        assert stream.tell() == 0  # not a byte read


@pytest.mark.parametrize("request_class", [Request, forms.Request])
def test_a_body_shorter_than_its_length_is_400_as_werkzeug_says(request_class):
    app = _app(request_class)
    environ = EnvironBuilder("/", method="POST", input_stream=BytesIO(b"a=1"),
                             content_type=URLENCODED).get_environ()
    environ["CONTENT_LENGTH"] = "50"  # (the builder would put the stream's own length)
    with app.request_context(environ):
        with pytest.raises(ClientDisconnected) as caught:
            request.form  # noqa: B018
        assert caught.value.code == 400


def test_a_body_read_first_is_still_the_form():
    app = _app(forms.Request)
    with app.test_request_context("/", method="POST", data="From=%2B447911123456&Digits=2",
                                  content_type=URLENCODED):
        assert request.get_data() == b"From=%2B447911123456&Digits=2"
        assert request.form.to_dict() == {"From": "+447911123456", "Digits": "2"}


def test_a_multipart_body_still_parses():
    app = _app(forms.Request)
    with app.test_request_context("/", method="POST",
                                  data={"Digits": "3", "file": (BytesIO(b"hi"), "a.txt")}):
        assert request.form.to_dict() == {"Digits": "3"}
        assert request.files["file"].read() == b"hi"


def test_a_webhook_refuses_an_oversized_body_with_413(app):
    """A request with no signature is refused unread (403); one with any signature has its
    form read to check it, so the cap holds there, before anything is parsed."""
    client = app.test_client()
    body = b"From=1&" + b"x" * MAX_BODY_BYTES
    assert client.post("/voice/incoming", data=body, content_type=URLENCODED).status_code == 403
    reply = client.post("/voice/incoming", data=body, content_type=URLENCODED,
                        headers={"X-Twilio-Signature": "forged"})
    assert reply.status_code == 413
