"""How long a dead advisor stays "available": their phone dies on the agent line and the
line's status callback is lost, while the live reconcile runs every ``--every`` seconds (as
``ivr serve`` runs ``ivr reconcile --every 30``). Prints the figure (goal: at most 1 minute).

In-process, in virtual time, through the real webhooks and the Twilio stand-in (``ivr.sim``):
an advisor signs in on the agent line and waits in its menu; the stand-in drops every
``/agent/status`` callback (lost); the advisor's leg hangs up (the phone died); the reconcile
pass (``ivr.live_reconcile.reconcile_agents``, the stand-in's REST API) runs at each phase
relative to that, and we read how long the advisor was still counted available.
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, datetime

import _common as c

OPEN = datetime(2026, 12, 1, 10, 0, tzinfo=UTC).timestamp()  # a Tuesday morning
PHONE = "+447700900123"
PIN = "246813"


def one(config, url: str, spool: str, every: float, phase: float) -> float:
    """Seconds the advisor stays available after their line died, for one phase."""
    from twilio.rest import Client

    from ivr import agents
    from ivr.agents import Role, State
    from ivr.live_reconcile import reconcile_agents
    from ivr.sim.scenario import Agent
    from ivr.sim.simulate_cli import sim_app
    from ivr.sim.world import in_process

    app = sim_app(config, url, spool)
    r = app.extensions["ivr"].redis
    alice = agents.add(r, name="Alice Smith", departments=["council_tax"], phone=PHONE,
                       role=Role.AGENT, now=OPEN - 60)
    agents.set_secret(r, alice.id, "pin_hash", PIN)
    world = in_process(app, start=OPEN, rest=app.extensions["ivr_sim_rest"])
    world.faults.add(r"^/agent/status", status=500)  # every status callback is lost
    line = world.agent(Agent(pin=PIN), phone=PHONE, at=OPEN)
    world.run(until=OPEN + 30)
    assert agents.get(r, alice.id).state is State.AVAILABLE, "not signed in"
    world.engine.hangup(line, reason="phone died")
    world.run_for(1)
    died = line.ended_at
    assert died is not None and agents.get(r, alice.id).state is State.AVAILABLE
    client = Client("AC" + "0" * 32, "x", http_client=app.extensions["ivr_sim_rest"])
    at = died + phase
    while agents.get(r, alice.id).state is State.AVAILABLE:
        world.run(until=at)
        reconcile_agents(r, client, app.extensions["ivr"].config, world.now)
        at += every
    return at - every - died


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    c.redis_arg(parser)
    parser.add_argument("--every", type=float, default=30.0,
                        help="seconds between reconcile passes (default %(default)s)")
    parser.add_argument("--step", type=float, default=2.5,
                        help="phases tried, this far apart (default %(default)s s)")
    args = parser.parse_args()
    c.exit_on_sigterm()

    from ivr.config import load_config
    from ivr.live_reconcile import GRACE_SECONDS
    from ivr.sim.simulate_cli import sim_credentials

    r = c.bench_redis(args.redis_url)
    try:
        print(c.machine(r))
        config = load_config(c.ROOT / "config.yaml")
        phases = [round(i * args.step, 3) for i in range(int(args.every / args.step))]
        stayed = {}
        with tempfile.TemporaryDirectory(prefix="ivr-bench-dead-") as spool, sim_credentials():
            from ivr import twilio_rest

            try:
                for phase in phases:
                    stayed[phase] = one(config, args.redis_url, spool, args.every, phase)
            finally:
                twilio_rest.use_http_client(None)
        worst, mean = max(stayed.values()), sum(stayed.values()) / len(stayed)
        print(f"reconcile every {args.every:.0f} s, grace {GRACE_SECONDS:.0f} s; phases "
              f"{phases[0]}..{phases[-1]} s after the line died")
        print("seconds counted available by phase: "
              + ", ".join(f"{p:g}:{s:.0f}" for p, s in stayed.items()))
        print(f"dead advisor available: worst {worst:.1f} s = {worst / 60:.2f} min, mean "
              f"{mean:.1f} s (goal <= 1 min; bound every + grace = "
              f"{(args.every + GRACE_SECONDS) / 60:.2f} min)")
    finally:
        r.flushdb()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
