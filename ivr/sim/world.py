"""Ready-made set-ups of the engine for this app: in-process (virtual time) or over HTTP.

``in_process(app)`` wires the engine to the Flask app through WSGI, configures the council's
numbers as they are in Twilio's console (Voice URL ``/voice/incoming``, fallback
``/voice/fallback``, status callback ``/voice/status``; the agent line ``/agent/incoming`` with
``/agent/status``), signs with the app's own auth token, runs the app's RQ jobs as the virtual
clock reaches them, and (given the REST stand-in) serves the app's REST calls from the engine.
``over_http(url, ...)`` drives a running server in real time with the same engine.

Typical use (a simulation)::

    world = in_process(app, start=datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    world.agent(Agent(pin="730519", calls=5), phone="+447700900001")  # their PIN asked
    for t in arrivals:
        world.call(Caller(steps("2 -"), patience=300), at=t)
    world.run(until=world.now + 3600)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ivr.sim.clock import RealClock, VirtualClock
from ivr.sim.engine import Engine, Fidelity
from ivr.sim.legs import Actor, Answer, Leg
from ivr.sim.transport import Faults, HttpTransport, WsgiTransport

TEST_ACCOUNT_SID = "AC" + "0" * 32
DEFAULT_CALLER = "+447911123456"


@dataclass
class World:
    engine: Engine
    config: Any  # ivr.config.Config
    base_url: str
    faults: Faults
    app: Any = None
    rest: Any = None  # ivr.sim.rest.TwilioRestStandIn, when attached
    jobs: Any = None  # ivr.sim.jobs.RqJobs, in-process only

    @property
    def now(self) -> float:
        return self.engine.now

    @property
    def main_number(self) -> str:
        return self.config.council.main_number

    @property
    def agent_line(self) -> str:
        return self.config.agents.line_numbers[0]

    def call(self, actor: Actor | None = None, *, from_: str = DEFAULT_CALLER,
             to: str | None = None, at: float | None = None) -> Leg:
        """A resident rings the council (or ``to``), now or at ``at`` (epoch seconds).

        The same person answers when the council calls ``from_`` back (the latest caller)."""
        if actor is not None:
            self.engine.lines[from_] = actor
        return self.engine.call(from_, to or self.main_number, actor, at=at)

    def agent(self, actor: Actor, *, phone: str, at: float | None = None) -> Leg:
        """An advisor rings the agent line from ``phone`` (and answers calls made to it)."""
        self.engine.lines[phone] = actor
        return self.engine.call(phone, self.agent_line, actor, at=at)

    def line(self, which: str, answer: Answer | Actor) -> None:
        """How a dialled number answers: ``"payment"``, ``"text_phone"`` or a number."""
        number = {"payment": self.config.lines.payment_line,
                  "text_phone": self.config.lines.text_phone}.get(which, which)
        self.engine.lines[number] = answer

    def run(self, until: float | None = None) -> None:
        self.engine.run(until)

    def run_for(self, seconds: float) -> None:
        self.engine.run_for(seconds)


def configure_numbers(engine: Engine, config: Any, base_url: str) -> None:
    base = base_url.rstrip("/")
    engine.add_number(config.council.main_number, f"{base}/voice/incoming",
                      fallback_url=f"{base}/voice/fallback", status_callback=f"{base}/voice/status")
    for number in config.agents.line_numbers:
        engine.add_number(number, f"{base}/agent/incoming", status_callback=f"{base}/agent/status")
    engine.lines.setdefault(config.lines.payment_line, Answer(ring=4.0, talk=120.0))
    engine.lines.setdefault(config.lines.text_phone, Answer(ring=6.0, talk=180.0))


def in_process(app: Any, *, start: datetime | float | None = None, strict: bool = True,
               fidelity: Fidelity | None = None, rest: Any = None, jobs: bool = True,
               travel: bool = True) -> World:
    """The app in this process, in virtual time starting at ``start`` (default: now)."""
    ivr = app.extensions["ivr"]
    base = ivr.public_base_url or "http://localhost"
    faults = Faults(WsgiTransport(app))
    fidelity = fidelity or Fidelity(strict=strict)
    engine = Engine(faults, auth_token=ivr.auth_token, account_sid=ivr.account_sid
                    or TEST_ACCOUNT_SID, clock=VirtualClock(start, travel=travel),
                    fidelity=fidelity)
    configure_numbers(engine, ivr.config, base)
    world = World(engine, ivr.config, base, faults, app=app)
    if rest is not None:
        attach_rest(world, rest)
    if jobs:
        from ivr.sim.jobs import RqJobs

        world.jobs = RqJobs(engine.clock, [ivr.callbacks, ivr.messages])
        engine.after_request.append(world.jobs.poke)
    return world


def attach_rest(world: World, rest: Any) -> None:
    """Serve the app's REST calls (calls.create, queue members) from this engine."""
    rest.engine = world.engine
    world.rest = rest
    world.engine.rest = rest


def over_http(base_url: str, config: Any, *, auth_token: str, account_sid: str = "",
              strict: bool = False, fidelity: Fidelity | None = None) -> World:
    """A running server at ``base_url``, in real time (its own worker runs the jobs)."""
    faults = Faults(HttpTransport())
    engine = Engine(faults, auth_token=auth_token, account_sid=account_sid or TEST_ACCOUNT_SID,
                    clock=RealClock(), fidelity=fidelity or Fidelity(strict=strict))
    configure_numbers(engine, config, base_url)
    return World(engine, config, base_url.rstrip("/"), faults)
