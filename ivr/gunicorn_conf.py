"""gunicorn's settings for ``ivr serve`` (``gunicorn -c python:ivr.gunicorn_conf``): hooks
only; the command line (``ivr.serve.child_specs``) gives the rest.

Each worker dies with its master (``ivr.orphans``): a master killed -9 (itself killed when
``ivr serve`` dies) would otherwise leave its workers answering on the port until they next
look at their parent, up to half gunicorn's timeout later.
"""

from __future__ import annotations

import os

from ivr import orphans


def post_fork(server: object, worker: object) -> None:  # noqa: ARG001 - gunicorn's signature
    """In each new worker: die with the master that forked it."""
    orphans.die_with_parent(os.getppid())
