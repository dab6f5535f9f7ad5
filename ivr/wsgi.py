"""WSGI entry for gunicorn: ``gunicorn ivr.wsgi:app`` (what ``ivr serve`` runs).

The process's log lines are made safe first (``ivr.logsafe``): one line per record on
standard error, control characters escaped, long values cut."""

from ivr import logsafe
from ivr.app import create_app

logsafe.configure()
app = create_app()
