"""``ivr call`` through the local Twilio: a terminal as a phone in the world ``ivr serve`` runs.

When ``ivr serve`` runs without Twilio credentials it also runs the local Twilio
(``ivr.sim.server``) and writes its URL to ``var/local-twilio``; ``ivr call --url`` then
places the call there rather than in a stand-in of its own, so a resident in one terminal
and an advisor in another (``--advisor``: the agent line) are in one world and meet. The
terminal prints what its person hears as it is said, sends each line typed (keys, words,
``hangup``; ``*`` ends an advisor's conversation and keeps the line), and stays on as a phone
after the call, so the console's *Call back* can ring it, until ``quit``, Ctrl-C (or ``kill``,
or the terminal closing: the call is hung up first) or the end of its input once no call is on.
"""

from __future__ import annotations

import argparse
import queue
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

from ivr.sim import cli_call

URL_FILE = Path("var/local-twilio")
QUIT_WORDS = frozenset({"quit", "exit"})


def local_twilio(args: argparse.Namespace) -> str | None:
    """The local Twilio to call through: ``--twilio``, else the one ``ivr serve`` runs here
    (only with ``--url``, and only when it answers), else None."""
    if args.twilio:
        return args.twilio.rstrip("/")
    if not args.url:
        return None
    try:
        url = URL_FILE.read_text().strip()
    except OSError:
        return None
    return url if url and cli_call._answers(url) is None else None


def run(args: argparse.Namespace) -> int:
    """``ivr call``: through the local Twilio when there is one, else as ``cli_call`` does."""
    from ivr.config import load_for_command

    config = load_for_command()
    if config is None:
        return 2
    if args.advisor:
        if args.to is not None:
            print("error: --advisor rings the agent line; leave out --to", file=sys.stderr)
            return 2
        args.to = config.agents.line_numbers[0]
    twilio = local_twilio(args)
    if twilio is None:
        return cli_call.run(args)
    scripted = [flag for flag, value in (("--keys", args.keys), ("--wait", args.wait),
                                         ("--say-message", args.say_message), ("--at", args.at),
                                         ("--staffed", args.staffed)) if value]
    if scripted:
        print(f"error: {' and '.join(scripted)} cannot be used through the local Twilio "
              f"({twilio}): type or pipe your answers instead", file=sys.stderr)
        return 2
    reason = cli_call._answers(twilio)
    if reason:
        print(f"error: --twilio: nothing answers at {twilio} ({reason}); start the service "
              "with scripts/run", file=sys.stderr)
        return 1
    try:
        cli_call.check_arguments(args, config)
    except cli_call.Refused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return Terminal(twilio, args.from_, cli_call._names(config)).call(
        args.to or config.council.main_number)


@contextmanager
def hang_up_on_termination() -> Iterator[None]:
    """SIGTERM (``kill``, ``timeout``) and SIGHUP (the terminal closed) end the call as Ctrl-C
    does, with a hang-up: otherwise the call stays on in the local Twilio, and the next call
    from this number sees its events."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    before = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


class Terminal:
    """One person's phone in the local Twilio: prints what they hear, sends what they type."""

    def __init__(self, twilio: str, number: str, names: dict[str, str]) -> None:
        import requests

        self.base = f"{twilio}/phone/{quote(number, safe='')}"
        self.number = number
        self.session = requests.Session()
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.screen = cli_call.Screen(time.time(), False, names)
        self.live: set[str] = set()
        self.after = 0

    def call(self, to: str) -> int:
        import requests

        try:
            got = self.session.post(f"{self.base}/dial", data={"to": to}, timeout=10)
        except requests.RequestException as exc:
            print(f"error: --twilio: {exc}", file=sys.stderr)
            return 1
        if got.status_code != 201:
            print(f"error: --to: {got.json().get('error', got.text)}", file=sys.stderr)
            return 2
        self.live.add(got.json()["call"])
        self.after = got.json()["events"]  # what this number heard before is not shown
        print(f"Calling {to} from {self.number} through the local Twilio (real time; type "
              "keys or words and Enter, 'hangup' to hang up, 'quit' to leave)", flush=True)
        threading.Thread(target=self._read, daemon=True).start()
        try:
            with hang_up_on_termination():
                return self._loop()
        except KeyboardInterrupt:
            self._send(self.session, "hangup")
            print("\n-- you hung up and left", flush=True)
            return 0

    def _read(self) -> None:
        """Each line typed goes to the local Twilio at once (while the events are awaited)."""
        import requests

        typing = requests.Session()  # the main thread's session is busy with its long poll
        for line in sys.stdin:
            text = line.rstrip("\n")
            if text.strip().lower() in QUIT_WORDS:
                self.lines.put(text)
                return
            self._send(typing, text)
        self.lines.put(None)

    def _send(self, session: Any, text: str) -> None:
        import requests

        try:
            said = session.post(f"{self.base}/input", data={"text": text},
                                timeout=10).json().get("said", "")
        except (requests.RequestException, ValueError):
            said = "the local Twilio did not answer"
        if said:
            print(f"   ({said})", flush=True)

    def _loop(self) -> int:
        import requests

        ended, failures = False, 0
        while True:
            while not self.lines.empty():
                line = self.lines.get()
                if line is None:
                    ended = True
                    continue
                if self.live:
                    self._send(self.session, "hangup")
                print("-- you left", flush=True)
                return 0
            if ended and not self.live:
                return 0
            try:
                got = self.session.get(f"{self.base}/events",
                                       params={"after": self.after, "wait": 2}, timeout=30)
                events = got.json()["events"]
                failures = 0
            except (requests.RequestException, ValueError, KeyError):
                failures += 1
                if failures >= 5:
                    print("error: the local Twilio stopped answering", file=sys.stderr)
                    return 1
                time.sleep(1.0)
                continue
            for event in events:
                self._show(event)

    def _show(self, event: dict[str, Any]) -> None:
        self.after = event["seq"] + 1
        call, kind, text = event["call"], event["kind"], event["text"]
        if kind == "end":
            self.live.discard(call)
        elif call:
            self.live.add(call)
        if kind == "ask":
            self.screen.line(event["at"], f"  > {text}")
            return
        if kind == "ring":
            self.screen.line(event["at"], f"-- {text}")
            return
        notice = SimpleNamespace(at=event["at"], kind=kind, text=text, data=event["data"])
        described = self.screen.describe(notice)
        if kind == "bridge":
            described = f"-- connected to {text}"
        if described:
            self.screen.line(event["at"], described)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("local-twilio", help="the Twilio stand-in as a local server, shared by "
                                            "every `ivr call` terminal (ivr serve runs it)")
    p.add_argument("--bind", default="127.0.0.1:0", help="host:port (default: a free port)")
    p.add_argument("--app", required=True, help="the service's URL, e.g. http://127.0.0.1:5000")
    p.add_argument("--speech-rate", type=float, default=2.5,
                   help="words a second of text-to-speech (default 2.5, Twilio's pace)")
    p.add_argument("--url-file", default="", help="write this server's URL to this file")
    p.set_defaults(func=serve_command, parser=p)


def serve_command(args: argparse.Namespace) -> int:
    """``ivr local-twilio`` (imported here, when run: the engine is not light)."""
    from ivr.sim.server import main

    return main(args)
