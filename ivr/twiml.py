"""TwiML building blocks shared by every flow: one voice, keypad timeouts, XML responses."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Response, current_app, request
from twilio.twiml.voice_response import Gather, VoiceResponse

from ivr.config import Config
from ivr.phone import check_caller_id


def render(response: VoiceResponse) -> Response:
    """Serialise TwiML for Twilio (text/xml, UTF-8)."""
    return Response(str(response), status=200, mimetype="text/xml")


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
    ) -> Gather:
        """A Gather that always posts back, even on silence, so no caller falls off the end."""
        speech = bool(hints)
        return response.gather(
            action=action,
            method="POST",
            input="dtmf speech" if speech else "dtmf",
            num_digits=num_digits,
            timeout=self.keypad_timeout,
            finish_on_key=finish_on_key,
            action_on_empty_result=True,
            language=self.config.speech.language if speech else None,
            hints=", ".join(hints) if hints else None,
            speech_timeout="auto" if speech else None,
        )


def speaker_for(call: Call) -> Speaker:
    return Speaker(current_app.extensions["ivr"].config, call.relay)
