"""``ivr.wsgi:app``, the app ``ivr serve`` gives gunicorn, on a clock that starts at the instant
in ``IVR_TEST_AT`` and then runs: tests serve the real app over HTTP at a time they choose
(opening hours), as in-process tests travel with time-machine."""

import os

import time_machine

time_machine.travel(os.environ["IVR_TEST_AT"], tick=True).start()

from ivr.wsgi import app  # noqa: E402 - the clock must be set before the app reads it

__all__ = ["app"]
