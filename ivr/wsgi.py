"""WSGI entry for gunicorn: ``gunicorn ivr.wsgi:app`` (what ``ivr serve`` runs).

The process's log lines are made safe first (``ivr.logsafe``): one line per record on
standard error, control characters escaped, long values cut. A production start without the
credentials a feature needs (``ivr.preflight``) is one line and exit status 3, gunicorn's
"worker failed to boot", which stops gunicorn rather than restarting the worker for ever."""

import sys

from ivr import logsafe, preflight
from ivr.app import create_app

logsafe.configure()
try:
    app = create_app()
except preflight.Refused as exc:
    print(f"error: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(3) from None
