"""What every flow needs for one request: the app's state, the call, a speaker, the time."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime

from flask import current_app, request, url_for
from redis.exceptions import RedisError

from ivr import clock, controls_store, params
from ivr.calendar import OpeningHours, callback_window, is_open, spoken_day
from ivr.controls import Controls, closed_message, effective_hours
from ivr.services import Ivr
from ivr.store import Batch
from ivr.twiml import Call, Speaker

log = logging.getLogger(__name__)


@dataclass
class Turn:
    """One webhook request in a call."""

    ivr: Ivr
    call: Call
    speaker: Speaker
    now: datetime
    _controls: Controls | None = field(default=None, repr=False)

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

    @property
    def controls(self) -> Controls:
        """The live controls (``ivr.controls``), read once per request when first needed; with
        Redis unreachable, none (the baseline hours and messages hold)."""
        if self._controls is None:
            try:
                self._controls = controls_store.load(self.ivr.redis)
            except RedisError as exc:
                log.warning("live controls unreadable (%s); the baseline config holds", exc)
                self._controls = Controls()
        return self._controls

    def controls_on(self, pipe) -> bool:
        """Queue the live controls' read on ``pipe`` (so it costs no round trip of its own)
        unless read already; True if queued: hand its reply to ``controls_read``."""
        if self._controls is not None:
            return False
        pipe.hgetall(controls_store.KEY)
        return True

    def controls_read(self, raw: dict) -> None:
        self._controls = controls_store.parse(raw)

    @property
    def hours(self) -> OpeningHours:
        """The configured hours with the live closures: what every decision here follows."""
        return effective_hours(self.ivr.hours, self.controls)

    def closed_message(self) -> str:
        """What a live closure in force now says instead of the usual closed message ("")."""
        return closed_message(self.controls, self.now)

    def is_open(self) -> bool:
        return is_open(self.now, self.hours)

    @property
    def today(self) -> date:
        return self.now.astimezone(self.ivr.hours.tz).date()

    def callback_day_spoken(self) -> str:
        """When a voicemail left now will be returned, as the caller should hear it."""
        window = callback_window(self.now, self.hours)
        today = self.now.astimezone(self.hours.tz).date()
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
