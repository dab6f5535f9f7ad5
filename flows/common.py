"""What every flow needs for one request: the app's state, the call, a speaker, the time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app, request, url_for

from ivr import clock, params
from ivr.calendar import callback_window, is_open, spoken_day
from ivr.services import Ivr
from ivr.store import Batch
from ivr.twiml import Call, Speaker


@dataclass
class Turn:
    """One webhook request in a call."""

    ivr: Ivr
    call: Call
    speaker: Speaker
    now: datetime

    @classmethod
    def begin(cls) -> Turn:
        ivr: Ivr = current_app.extensions["ivr"]
        call = Call.from_request(ivr.config)
        return cls(ivr=ivr, call=call, speaker=Speaker(ivr.config, call.relay), now=clock.now())

    @property
    def config(self):
        return self.ivr.config

    @property
    def messages(self):
        return self.ivr.config.messages

    def is_open(self) -> bool:
        return is_open(self.now, self.ivr.hours)

    def callback_day_spoken(self) -> str:
        """When a voicemail left now will be returned, as the caller should hear it."""
        window = callback_window(self.now, self.ivr.hours)
        today = self.now.astimezone(self.ivr.hours.tz).date()
        return spoken_day(window.callback_day, today)

    def batch(self) -> Batch:
        return self.ivr.batch(self.call.sid, self.call.from_, self.now.timestamp())

    def say(self, target, text: str) -> None:
        self.speaker.say(target, text)


def form_int(name: str, default: int) -> int:
    """A numeric Twilio parameter (``ivr.params.RANGES``), or ``default`` if missing, odd or
    out of range (never an error)."""
    return params.parameter(name, request.values.get(name), default)


def arg_int(name: str, default: int = 0) -> int:
    """A count in one of the app's own URLs (``miss``, ``tries``...), bounded like ``form_int``."""
    return params.parameter(name, request.args.get(name), default)


def external(endpoint: str, **values) -> str:
    """An absolute URL for Twilio's asynchronous callbacks (recording status and the like)."""
    ivr: Ivr = current_app.extensions["ivr"]
    path = url_for(endpoint, **values)
    base = ivr.public_base_url or request.host_url.rstrip("/")
    return base.rstrip("/") + path
