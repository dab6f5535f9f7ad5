"""``ivr call``: ring the IVR from a terminal, through the project's Twilio stand-in.

Prompts are printed as they are spoken (and spoken aloud with ``--speak`` when espeak-ng is
installed); the person types keys, words, ``wait N`` or ``hangup``. Without ``--url`` the app
runs in this process in virtual time (a two-minute queue passes at once), with signatures
checked for real against the token it was created with, and the callback task a voicemail
creates is read back from Redis. ``--keys/--wait/--say-message`` script the call for demos.
This module imports only argparse at import time: ``ivr --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from typing import Any

from ivr import local_token

NAMES = {"payment_line": "the payment line", "text_phone": "the text phone line"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="from_", default="+447911123456", metavar="NUMBER",
                   help="your caller ID")
    p.add_argument("--to", default=None, metavar="NUMBER",
                   help="the number called (default: the council's)")
    p.add_argument("--at", default=None, help='when, e.g. "2026-12-01 10:00" (local time)')
    p.add_argument("--url", default=None, help="a running server (real time); else in-process")
    p.add_argument("--token", default=None,
                   help="the server's TWILIO_AUTH_TOKEN (with --url; default: that variable, "
                        "else the local token `ivr serve` made in var/)")
    p.add_argument("--twilio", default=None, metavar="URL",
                   help="the local Twilio to call through (default with --url: the one "
                        "`ivr serve` runs here, var/local-twilio), shared with other terminals")
    p.add_argument("--advisor", action="store_true",
                   help="ring the agent line (the first of agents.line_numbers), as an advisor")
    p.add_argument("--speak", action="store_true", help="speak prompts aloud with espeak-ng")
    # Scripted calls run on a stand-in of the call's own (in-process, or --url without the
    # local Twilio); through the local Twilio, type or pipe the answers instead.
    p.add_argument("--keys", default=None, help='scripted: keys per prompt, e.g. "2 - 1" '
                   "(not through the local Twilio: type or pipe them)")
    p.add_argument("--wait", type=float, default=None,
                   help="scripted: seconds you will hold (not through the local Twilio)")
    p.add_argument("--say-message", default=None,
                   help="scripted: your voicemail message (not through the local Twilio)")
    p.add_argument("--talk", type=float, default=60.0,
                   help="scripted: seconds with an advisor (not through the local Twilio)")
    p.add_argument("--payment-line", default="answered",
                   choices=["answered", "busy", "no-answer", "failed"])
    p.add_argument("--staffed", action="store_true",
                   help="in-process: count an advisor as signed in (to hear the queue)")
    p.add_argument("--strict", action="store_true", help="stop at the first invalid TwiML")


class Screen:
    """Prints what happens on the caller's leg, timed from the start of the call."""

    def __init__(self, start: float, speak: bool, names: dict[str, str]) -> None:
        self.start = start
        self.names = names
        self.espeak = shutil.which("espeak-ng") if speak else None
        if speak and not self.espeak:
            print("(espeak-ng is not installed: prompts are printed only)")

    def line(self, at: float, text: str) -> None:
        secs = max(0, int(at - self.start))
        print(f"[{secs // 60:02d}:{secs % 60:02d}] {text}", flush=True)

    def show(self, leg: Any, n: Any) -> None:
        text = self.describe(n)
        if text:
            self.line(n.at, text)
        if n.kind == "say" and self.espeak:
            subprocess.run([self.espeak, "-v", "en-gb", n.text], check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def party(self, leg: Any) -> str:
        """Who ``leg`` is talking to: the line it was transferred to (the payment line, the
        text phone), else an advisor (the one who took it from the queue)."""
        bridge = getattr(leg, "bridge", None)
        if bridge is not None and bridge.a is leg and bridge.b.direction == "outbound-dial":
            number = bridge.b.to
            return self.names.get(number, number)
        return "an advisor"

    def describe(self, n: Any) -> str:
        d = n.data
        return {
            "say": f"Council: {n.text}",
            "play": f"(hold audio, {d.get('seconds', 0):g} s)",
            "press": f"You press {n.text}",
            "speak": f'You say: "{n.text}"',
            "silence": f"(you say nothing: {n.text})",
            "enqueue": f"-- you join the queue '{n.text}'",
            "queue": f"-- queue: {n.text}, waited {d.get('QueueTime', '0')} s",
            "dequeued": f"-- you leave the queue ({n.text})",
            "dial": f"-- transferring to {self.names.get(n.text, n.text)}, ringing...",
            "dial-result": f"-- transfer result: {n.text}",
            "bridge": f"-- connected to {self.names.get(n.text, n.text)}",
            "beep": "*BEEP* (recording)",
            "recorded": f"-- message recorded ({d.get('seconds', 0)} s)",
            "fault": f"[Twilio] {n.text} at {d.get('url', '')}: trying the fallback URL",
            "error": f"Twilio: {n.text}",
            "end": f"-- call ended: {n.text}, {d.get('duration', 0)} s",
        }.get(n.kind, "")


def _terminal_actor(screen: Screen) -> Any:
    from ivr.sim.legs import SILENCE, Actor, Message, Reply
    from ivr.sim.scenario import hang_up, press, say

    def ask(label: str) -> str | None:
        try:
            return input(f"{label}> ").strip()
        except EOFError:
            return None

    def hung_up(got: str | None) -> bool:
        """The answer ends the call: a hang-up word, or the end of the input."""
        return got is None or got.lower() in ("hangup", "h", "q")

    class Terminal(Actor):
        def notice(self, leg: Any, n: Any) -> None:
            screen.show(leg, n)

        def gather(self, leg: Any, prompt: Any) -> Reply:
            speech = " or words" if "speech" in prompt.input else ""
            got = ask(f"keys{speech} (Enter: silence, hangup)")
            if hung_up(got):
                return hang_up()
            if not got or got.lower().startswith("wait"):
                return SILENCE
            return press(got) if all(c in "0123456789*#" for c in got) else say(got)

        def record(self, leg: Any, prompt: Any) -> Message:
            got = ask("your message (Enter: silence; end with 'hangup' to hang up)")
            if got is None:
                return Message(hangup=True)
            hangup = got.lower().endswith("hangup")
            words = got[: -len("hangup")].strip() if hangup else got
            return Message(words, seconds=None if words else 0.0, hangup=hangup,
                           finish_key=None if hangup else "#")

        def hold(self, leg: Any, waited: float) -> float | None:
            got = ask("on hold (Enter: hold on, 'wait N': ask again after N s, hangup)")
            if hung_up(got):
                return 0
            parts = got.split()
            if len(parts) == 2 and parts[0] == "wait" and parts[1].replace(".", "").isdigit():
                return float(parts[1])
            return None

        def talk(self, leg: Any) -> float | None:
            got = ask(f"talking to {screen.party(leg)}: seconds before you hang up "
                      "(Enter: 60, hangup: now)")
            if hung_up(got):
                return 0.0
            return float(got) if got.replace(".", "").isdigit() else 60.0

    return Terminal()


def _scripted_actor(args: argparse.Namespace, screen: Screen) -> Any:
    from ivr.sim.legs import Message
    from ivr.sim.scenario import Caller, steps

    class Scripted(Caller):
        def notice(self, leg: Any, n: Any) -> None:
            screen.show(leg, n)

    message = Message(args.say_message) if args.say_message else Message(
        "Hello, this is a test call from the terminal. Please call me back.")
    return Scripted(script=steps(args.keys or ""), patience=args.wait, talk_seconds=args.talk,
                    message=message)


class Refused(Exception):
    """A command line ``ivr call`` cannot do: the message names the argument."""


def _when(args: argparse.Namespace, tz: Any) -> float | None:
    """``--at`` as epoch seconds (local time unless it says otherwise), or None for now."""
    if not args.at:
        return None
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(args.at)
    except ValueError as exc:
        raise Refused(f'--at takes a date and time, e.g. "2026-12-01 10:00" (got {args.at!r}: '
                      f"{exc})") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=tz)).timestamp()


def check_arguments(args: argparse.Namespace, config: Any) -> None:
    """Refuse what the call cannot do before anything is started (raises ``Refused``)."""
    if args.url:
        given = [flag for flag, value in (("--at", args.at), ("--staffed", args.staffed)) if value]
        if given:
            raise Refused(f"{' and '.join(given)} cannot be used with --url: a running server "
                          "keeps real time and its own advisors (leave out --url to call "
                          "in-process)")
    else:
        _when(args, config.hours.opening_hours().tz)
    ours = [config.council.main_number, *config.agents.line_numbers]
    if args.to is not None and args.to not in ours:
        raise Refused(f"--to {args.to} is not a council number this IVR answers; choose "
                      f"from {', '.join(ours)}")


def run(args: argparse.Namespace) -> int:
    from ivr.config import load_for_command

    config = load_for_command()
    if config is None:
        return 2
    try:
        check_arguments(args, config)
    except Refused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.url:
        return _over_http(args, config)
    return _in_process(args, config)


def _answers(url: str) -> str | None:
    """Why nothing answers at ``url`` (one short reason), or None when something does."""
    import requests

    try:
        requests.get(f"{url.rstrip('/')}/healthz", timeout=(3.0, 10.0))
    except requests.ConnectionError:
        return "connection refused or host unreachable"
    except requests.RequestException as exc:
        return type(exc).__name__
    return None


def _names(config: Any) -> dict[str, str]:
    return {config.lines.payment_line: NAMES["payment_line"],
            config.lines.text_phone: NAMES["text_phone"]}


def _over_http(args: argparse.Namespace, config: Any) -> int:
    from ivr.sim.world import over_http

    reason = _answers(args.url)
    if reason:
        print(f"error: --url: nothing answers at {args.url} ({reason}); start the service "
              "with scripts/run, or leave out --url to call in-process", file=sys.stderr)
        return 1
    token = (args.token or os.environ.get("TWILIO_AUTH_TOKEN", "")
             or local_token.read() or "")  # `ivr serve` on this machine without a real token
    world = over_http(args.url, config, auth_token=token,
                      account_sid=os.environ.get("TWILIO_ACCOUNT_SID", ""), strict=args.strict)
    screen = Screen(world.now, args.speak, _names(config))
    scripted = any(x is not None for x in (args.keys, args.wait, args.say_message))
    actor = _scripted_actor(args, screen) if scripted else _terminal_actor(screen)
    print(f"Calling {args.to or world.main_number} from {args.from_} at {args.url} (real time)")
    leg = world.call(actor, from_=args.from_, to=args.to)
    world.run()
    return _report(world, leg, None)


def _in_process(args: argparse.Namespace, config: Any) -> int:
    import secrets

    import redis

    from ivr import agents, connections, twilio_rest
    from ivr.app import create_app
    from ivr.sim.legs import Answer
    from ivr.sim.rest import TwilioRestStandIn
    from ivr.sim.world import TEST_ACCOUNT_SID, in_process

    url = connections.find_redis_url(os.environ, os.getcwd())
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        print(f"error: the in-process call needs Redis at {url} ({exc}); set REDIS_URL, or "
              f"run the service and call it with --url", file=sys.stderr)
        return 2
    try:
        import time_machine  # noqa: F401  (virtual time for the app needs it)

        travel = True
    except ImportError:
        if args.at:
            print("error: --at needs the time-machine package (pip install time-machine)",
                  file=sys.stderr)
            return 2
        print("(time-machine is not installed: the app sees real time, queues included)")
        travel = False
    token, sid = secrets.token_hex(16), TEST_ACCOUNT_SID
    os.environ.update(TWILIO_AUTH_TOKEN=token, TWILIO_ACCOUNT_SID=sid)  # for in-process jobs
    app = create_app({"config": config, "REDIS_URL": url, "TWILIO_AUTH_TOKEN": token,
                      "TWILIO_ACCOUNT_SID": sid, "PUBLIC_BASE_URL": "",
                      "IVR_INSECURE_SKIP_SIGNATURE": False})
    ivr = app.extensions["ivr"]
    rest = TwilioRestStandIn()
    twilio_rest.use_http_client(lambda: rest)
    world = in_process(app, start=_when(args, ivr.hours.tz), strict=args.strict, rest=rest,
                       travel=travel)
    world.line("payment", Answer(args.payment_line, ring=4.0, talk=120.0))
    duty = [agents.ON_DUTY.format(dept=d) for d in config.departments] if args.staffed else []
    for key in duty:
        ivr.redis.sadd(key, "ivr-call")
    screen = Screen(world.now, args.speak, _names(config))
    scripted = any(x is not None for x in (args.keys, args.wait, args.say_message))
    actor = _scripted_actor(args, screen) if scripted else _terminal_actor(screen)
    from datetime import datetime

    local = datetime.fromtimestamp(world.now, ivr.hours.tz)
    print(f"Calling {args.to or world.main_number} from {args.from_} on "
          f"{local:%a %d %b %Y %H:%M} (in-process, virtual time)")
    try:
        leg = world.call(actor, from_=args.from_, to=args.to)
        world.run()
        world.run(world.now + 5)  # let late callbacks and jobs (the SMS) happen
    finally:
        for key in duty:
            ivr.redis.srem(key, "ivr-call")
        twilio_rest.use_http_client(None)
    return _report(world, leg, ivr)


def _report(world: Any, leg: Any, ivr: Any) -> int:
    for message in getattr(world.rest, "messages", []) or []:
        print(f"-- text message to {message['to']}: {message['body']}")
    if ivr is not None:
        for task in _tasks(world, leg, ivr):
            print(f"-- callback task {task['id']} ({task.get('department')}): call "
                  f"{task.get('number') or 'the number in the message'} back by "
                  f"{_local(task.get('due_at'), ivr)}; released to advisors "
                  f"{_local(task.get('release_at'), ivr)} ({task.get('status')})")
    for error in leg.errors:
        print(f"[warning] {error}")
    return 0 if leg.status in ("completed", "busy", "no-answer") else 1


def _local(ts: Any, ivr: Any) -> str:
    from datetime import datetime

    if not ts:
        return "?"
    return f"{datetime.fromtimestamp(float(ts), ivr.hours.tz):%a %d %b %H:%M}"


def _tasks(world: Any, leg: Any, ivr: Any) -> list[dict[str, str]]:
    """The callback tasks this call's voicemail created or joined (read from Redis)."""
    from voicemail.tasks import RECORDING_TASK, load_task

    ids = list(world.engine.recordings) + [f"{leg.sid}-no-recording", f"{leg.sid}-abandoned"]
    found: list[dict[str, str]] = []
    for rec in ids:
        task_id = ivr.redis.get(RECORDING_TASK.format(id=rec))
        if task_id and task_id.decode() not in [t["id"] for t in found]:
            found.append(load_task(ivr.redis, task_id.decode()))
    return found
