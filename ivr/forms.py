"""Twilio's url-encoded forms, parsed as werkzeug parses them at less cost per field.

Every webhook's form (twenty-odd fields) is parsed before the signature check. werkzeug
hands the body to ``urllib.parse.parse_qsl``, which replaces ``+`` and unquotes every name
and value; most of Twilio's (``CallStatus=in-progress``, ``Direction=inbound``) hold neither
``+`` nor ``%``. ``parse_urlencoded`` gives parse_qsl's result (``keep_blank_values``, the
``&`` separator, werkzeug's error handler for bad UTF-8) and touches only the fields that
need it; ``Request`` is Flask's with this parser.

Every body is capped at ``MAX_BODY_BYTES`` (Flask's ``MAX_CONTENT_LENGTH``, set by the app): the
form is parsed to check the signature, so without a cap any request carrying a signature
header, forged or not, could make a webhook read and parse a body of any size.
"""

from __future__ import annotations

from typing import IO, Any
from urllib.parse import unquote

from flask import Request as FlaskRequest
from werkzeug.formparser import FormDataParser

ERRORS = "werkzeug.url_quote"  # werkzeug's own handler for undecodable bytes
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
