"""TwiML building blocks shared by every flow: one voice, keypad timeouts, XML responses."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from flask import Response, current_app, request
from twilio.twiml import TwiML
from twilio.twiml.voice_response import Gather, VoiceResponse

from ivr.config import Config
from ivr.phone import check_caller_id


def render(response: VoiceResponse) -> Response:
    """Serialise TwiML for Twilio (text/xml, UTF-8).

    Under test every document is also serialised by twilio's own ``str(response)`` and the
    two must be identical, so the fast writer can never drift from the library's output."""
    body = to_xml(response)
    if current_app.testing and body != str(response):
        raise AssertionError(f"to_xml differs from twilio's TwiML:\n{body}\n{response}")
    return Response(body, status=200, mimetype="text/xml")


def render_once(key: tuple, build: Callable[[], VoiceResponse]) -> Response:
    """A document that depends only on the app's config and ``key``: built by ``build`` and
    serialised (and, under test, cross-checked) once per app, then served as it is.

    The greeting in opening hours is the same for every caller with the same keypad timeout;
    building and writing its fourteen elements was a fifth of ``/voice/incoming``'s own time
    (bench/profiles/). The documents live with the app, derived from its frozen config."""
    cache = current_app.extensions.setdefault("ivr.documents", {})
    body = cache.get(key)
    if body is None:
        body = cache[key] = render(build()).get_data(as_text=True)
    return Response(body, status=200, mimetype="text/xml")


def to_xml(node: TwiML) -> str:
    """What ``TwiML.to_xml()`` returns, written directly instead of through ElementTree.

    twilio builds an ElementTree and serialises it, which costs about a third of a typical
    webhook's own time (bench/webhooks.py); this walks the same tree with the same rules
    (attributes sorted, booleans as true/false, ElementTree's escaping, ``<X />`` when
    empty, a plain string child becoming text or the previous child's tail)."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>']
    _write(node, out)
    return "".join(out)


def _write(node: TwiML, out: list[str]) -> None:
    out.append("<" + node.name)
    for key in sorted(node.attrs):
        value = node.attrs[key]
        text = str(value).lower() if isinstance(value, bool) else str(value)
        out.append(f' {key}="{_escape_attrib(text)}"')
    value = node.value
    text = (json.dumps(value) if isinstance(value, dict) else value) if value else None
    children: list[tuple[TwiML, str | None]] = []
    for child in node.verbs:
        if isinstance(child, str):
            if children:
                children[-1] = (children[-1][0], child)
            else:
                text = child
        else:
            children.append((child, None))
    if not text and not children:
        out.append(" />")
        return
    out.append(">")
    if text:
        out.append(_escape_cdata(text))
    for child, tail in children:
        _write(child, out)
        if tail:
            out.append(_escape_cdata(tail))
    out.append(f"</{node.name}>")


def _escape_cdata(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escape_attrib(text: str) -> str:
    return (_escape_cdata(text).replace('"', "&quot;").replace("\r", "&#13;")
            .replace("\n", "&#10;").replace("\t", "&#09;"))


def empty() -> Response:
    """An empty ``<Response/>``: the reply Twilio expects to status callbacks."""
    return render(VoiceResponse())


@dataclass(frozen=True)
class Call:
    """What every Twilio request says about the call, read defensively with ``.get``."""

    sid: str
    from_: str
    to: str
    relay: bool

    @classmethod
    def from_request(cls, config: Config) -> Call:
        form = request.values
        from_ = form.get("From", "") or ""
        relay = from_ in config.relay.caller_ids
        return cls(
            sid=form.get("CallSid", "") or "", from_=from_, to=form.get("To", ""), relay=relay
        )

    def callback_number(self, config: Config):
        return check_caller_id(self.from_, config.withheld_caller_ids)


class Speaker:
    """Says things in the council's voice; gathers with the caller's keypad timeout."""

    def __init__(self, config: Config, relay: bool = False) -> None:
        self.config = config
        self.relay = relay

    @property
    def keypad_timeout(self) -> int:
        s = self.config.speech
        return s.relay_keypad_timeout if self.relay else s.keypad_timeout

    def say(self, target: VoiceResponse | Gather, text: str) -> None:
        target.say(text, voice=self.config.speech.voice, language=self.config.speech.language)

    def ask(self, response: VoiceResponse, action: str, *texts: str, num_digits: int | None = 1,
            finish_on_key: str | None = None) -> None:
        """A question: a Gather saying ``texts``, then a Redirect to the same action, so that
        whatever Twilio does on silence the caller's answer (or no answer) reaches us."""
        question = self.gather(response, action, num_digits=num_digits,
                               finish_on_key=finish_on_key)
        for text in texts:
            self.say(question, text)
        response.redirect(action, method="POST")

    def gather(
        self,
        response: VoiceResponse,
        action: str,
        *,
        num_digits: int | None = 1,
        hints: list[str] | None = None,
        finish_on_key: str | None = None,
        timeout: int | None = None,
    ) -> Gather:
        """A Gather that always posts back, even on silence, so no caller falls off the end.
        ``timeout``: seconds of silence after the prompt (default: the keypad timeout)."""
        speech = bool(hints)
        return response.gather(
            action=action,
            method="POST",
            input="dtmf speech" if speech else "dtmf",
            num_digits=num_digits,
            timeout=timeout or self.keypad_timeout,
            finish_on_key=finish_on_key,
            action_on_empty_result=True,
            language=self.config.speech.language if speech else None,
            hints=", ".join(hints) if hints else None,
            speech_timeout="auto" if speech else None,
        )


def speaker_for(call: Call) -> Speaker:
    return Speaker(current_app.extensions["ivr"].config, call.relay)
