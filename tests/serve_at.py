"""``python -m serve_at serve ...``: ``ivr serve`` exactly as it runs, bar one thing: gunicorn
serves ``served_app:app``, the app on the clock ``IVR_TEST_AT`` sets (then running), so a
test's callers meet the opening hours it chose whatever the real date."""

from ivr import serve
from ivr.cli import main

serve.WSGI_APP = "served_app:app"

if __name__ == "__main__":
    raise SystemExit(main())
