"""gunicorn's settings for ``ivr serve`` (``gunicorn -c python:ivr.gunicorn_conf``): hooks
only; the command line (``ivr.serve.child_specs``) gives the rest.

Access lines name no kiosk token (``AccessLog``): the wallboard's address is a credential.

Each worker dies with its master (``ivr.orphans``): a master killed -9 (itself killed when
``ivr serve`` dies) would otherwise leave its workers answering on the port until they next
look at their parent, up to half gunicorn's timeout later.
"""

from __future__ import annotations

import os
from typing import Any

from gunicorn.glogging import Logger

from ivr import kiosk, orphans

# the access-log atoms that carry a URL: the request line, the path, the Referer (a kiosk's
# own polls send its address there)
URL_ATOMS = ("r", "U", "f", "{referer}i")


class AccessLog(Logger):
    """gunicorn's logger, its access lines with any kiosk token replaced by ``***``."""

    def atoms(self, resp: Any, req: Any, environ: dict, request_time: Any) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        for name in URL_ATOMS:
            if isinstance(atoms.get(name), str):
                atoms[name] = kiosk.redact(atoms[name])
        return atoms


logger_class = AccessLog


def post_fork(server: object, worker: object) -> None:  # noqa: ARG001 - gunicorn's signature
    """In each new worker: die with the master that forked it."""
    orphans.die_with_parent(os.getppid())
