"""WSGI entry for gunicorn: ``gunicorn ivr.wsgi:app``."""

from ivr.app import create_app

app = create_app()
