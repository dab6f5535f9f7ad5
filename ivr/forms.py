"""Twilio's url-encoded forms, parsed as werkzeug parses them at less cost per field.

Every webhook's form (twenty-odd fields) is parsed before the signature check. werkzeug
hands the body to ``urllib.parse.parse_qsl``, which replaces ``+`` and unquotes every name
and value; most of Twilio's (``CallStatus=in-progress``, ``Direction=inbound``) hold neither
``+`` nor ``%``. ``parse_urlencoded`` gives parse_qsl's result (``keep_blank_values``, the
``&`` separator, werkzeug's error handler for bad UTF-8) and touches only the fields that
need it; ``Request`` is Flask's with this parser, and reads a url-encoded body of known
length itself (``Request._load_form_data``).

Every body is capped at ``MAX_BODY_BYTES`` (Flask's ``MAX_CONTENT_LENGTH``, set by the app): the
form is parsed before the signature is checked, so without a cap anyone could make a webhook
read and parse a body of any size.
"""

from __future__ import annotations

from io import BytesIO
from typing import IO, Any
from urllib.parse import unquote

from flask import Request as FlaskRequest
from flask import current_app
from flask.debughelpers import attach_enctype_error_multidict
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.formparser import FormDataParser

ERRORS = "werkzeug.url_quote"  # werkzeug's own handler for undecodable bytes
URLENCODED = "application/x-www-form-urlencoded"
# Twilio's webhook forms are a few kB; the console's forms are smaller still. Larger is 413.
MAX_BODY_BYTES = 256 * 1024


def _decoded(part: str) -> str:
    if "+" in part:
        part = part.replace("+", " ")
    return unquote(part, errors=ERRORS) if "%" in part else part


def parse_urlencoded(text: str) -> list[tuple[str, str]]:
    """``parse_qsl(text, keep_blank_values=True, errors=ERRORS)``: name and value pairs in
    order, a field without ``=`` giving an empty value, empty fields skipped."""
    out = []
    for field in text.split("&"):
        if field:
            name, _, value = field.partition("=")
            out.append((_decoded(name), _decoded(value)))
    return out


class FormParser(FormDataParser):
    """werkzeug's form parser with ``parse_urlencoded`` for url-encoded bodies."""

    def _parse_urlencoded(self, stream: IO[bytes], mimetype: str, content_length: int | None,
                          options: dict[str, str]) -> Any:
        # As werkzeug's: the stream is already limited to max_content_length.
        return stream, self.cls(parse_urlencoded(stream.read().decode())), self.cls()


class Request(FlaskRequest):
    """The app's request class: Flask's, with ``FormParser``."""

    form_data_parser_class = FormParser

    def _load_form_data(self) -> None:
        """A url-encoded body with a Content-Length (every Twilio webhook) is read and parsed
        here, with werkzeug's limits and answers (413 over the cap, 400 if the client stops
        short, an empty form if the body is not UTF-8) and Flask's debug aid; werkzeug's
        route to the same parser builds a parser and a limited stream and looks up three
        limits through Flask's context, a third of a webhook's form cost. Anything else
        (multipart, no length, a body already read or begun) goes werkzeug's way. Reading
        exactly Content-Length bytes is what werkzeug's limited stream does; a server that
        bounds the body itself (gunicorn's ``wsgi.input_terminated``) gives no more."""
        if "form" in self.__dict__:
            return
        length = self.content_length
        if (self.mimetype != URLENCODED or length is None or "stream" in self.__dict__
                or getattr(self, "_cached_data", None) is not None):
            super()._load_form_data()
            return
        limit = self.max_content_length
        if limit is not None and length > limit:
            raise RequestEntityTooLarge()
        stream, chunks, left = self.environ["wsgi.input"], [], length
        while left > 0:
            chunk = stream.read(left)
            if not chunk:
                raise ClientDisconnected()
            chunks.append(chunk)
            left -= len(chunk)
        try:
            pairs = parse_urlencoded(b"".join(chunks).decode())
        except ValueError:  # not UTF-8: werkzeug's parser (silent) gives an empty form
            pairs = []
        d = self.__dict__
        d["stream"], d["files"] = BytesIO(), self.parameter_storage_class()
        d["form"] = self.parameter_storage_class(pairs)
        if current_app and current_app.debug:  # as Flask's: a helpful error for files[...]
            attach_enctype_error_multidict(self)
