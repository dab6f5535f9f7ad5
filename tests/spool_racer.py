"""One process replaying a shared spool, for tests/test_spool.py, which starts several at once.

    python tests/spool_racer.py MODE SPOOL_DIR GO_FILE

Each builds the app on the test Redis (``IVR_TEST_REDIS_URL``), says it is ready
(``GO_FILE.<pid>.ready``), waits for ``GO_FILE`` so that all start together, replays, and
prints what its drains did as one JSON line. MODE:

- ``webhook``: rings the IVR once; the incoming webhook drains the spool (never waiting).
- ``drain``: ``Spool.drain()``, as the webhook calls it.
- ``no-lock``: a drain with the lock bypassed: only the items' claims keep processes apart.
- ``no-claim``: neither lock nor claims: every process replays every item it sees, and only
  the items' ids keep the events once.
- ``crash``: a drain killed (SIGKILL) right after its first item reached Redis, before the
  item's file is removed. ``GO_FILE`` is not waited for.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from contextlib import nullcontext
from pathlib import Path

from caller import ACCOUNT_SID, AUTH_TOKEN, Caller
from conftest import ROOT, TEST_REDIS_URL

from ivr.app import create_app
from ivr.config import load_config
from ivr.spool import Spool


def build(spool_dir: str):
    return create_app({
        "config": load_config(ROOT / "config.yaml"), "REDIS_URL": TEST_REDIS_URL,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "PUBLIC_BASE_URL": "", "IVR_SPOOL_DIR": spool_dir, "IVR_INSECURE_SKIP_SIGNATURE": False,
    })


def main(mode: str, spool_dir: str, go: str) -> None:
    app = build(spool_dir)
    spool = app.extensions["ivr"].spool
    runs = []
    real_replay = spool.replay

    def replay(wait: float = 0.0):
        runs.append(real_replay(wait))
        return runs[-1]

    spool.replay = replay
    if mode == "no-lock" or mode == "no-claim":
        Spool._locked = lambda self, wait: nullcontext(None)
    if mode == "no-claim":
        Spool._claim = lambda self, path: path
    if mode == "crash":
        write = spool.handlers["events"]

        def write_then_die(payload, item_id):
            write(payload, item_id)
            os.kill(os.getpid(), signal.SIGKILL)

        spool.handlers["events"] = write_then_die
    else:
        Path(f"{go}.{os.getpid()}.ready").touch()
        deadline = time.monotonic() + 120  # the test gone: give up rather than wait forever
        while not os.path.exists(go):
            if time.monotonic() > deadline:
                sys.exit("spool_racer: no go file within 120 s")
            time.sleep(0.002)
    if mode == "webhook":
        Caller(app.test_client()).ring()
    else:
        spool.drain()
    print(json.dumps({"pid": os.getpid(), "done": sum(r.done for r in runs),
                      "busy": any(r.busy for r in runs),
                      "errors": [str(r.error) for r in runs if r.error]}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
