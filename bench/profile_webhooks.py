"""Where a webhook's own time goes: cProfile over N signed requests, called through WSGI.

The app as served (``app.testing`` off, so no document is cross-checked against twilio's
``str()``), on the bench Redis database, open all day. Each request is built and signed
before profiling starts, with a new CallSid and caller number per request (the first
webhook of every call), so the profile holds only the app's own work and Flask's. Prints
CPU ms per request and the top functions by cumulative and by own time; ``--out FILE``
keeps the text (bench/profiles/).

    .venv/bin/python bench/profile_webhooks.py --target incoming -n 3000
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time
from pathlib import Path
from urllib.parse import urlencode

import _common as c
from werkzeug.test import EnvironBuilder

DEPT = "council_tax"


def environs(target: str, n: int) -> list[dict]:
    """WSGI environments for ``n`` signed requests (bodies kept as bytes)."""
    out = []
    for i in range(n):
        params = c.standard(c.new_sid(), c.mobile(i))
        if target == "incoming":
            path = "/voice/incoming"
        else:
            path = f"/voice/queue/{DEPT}/wait"
            params |= {"QueueSid": "QU" + "0" * 32, "QueueTime": str(i % 90),
                       "AvgQueueTime": "30", "CurrentQueueSize": "3", "QueuePosition": "2"}
        builder = EnvironBuilder(path=path, method="POST", base_url=c.BASE,
                                 data=urlencode(params),
                                 content_type="application/x-www-form-urlencoded",
                                 headers={"X-Twilio-Signature": c.sign(c.BASE + path, params)})
        env = builder.get_environ()
        env["body"] = env["wsgi.input"].read()
        out.append(env)
    return out


def run(app, envs: list[dict]) -> None:
    def start_response(status, headers, exc_info=None):
        assert status.startswith("200"), status

    for env in envs:
        b"".join(app.wsgi_app(dict(env, **{"wsgi.input": io.BytesIO(env["body"])}),
                              start_response))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--target", choices=["incoming", "wait"], default="incoming")
    p.add_argument("-n", type=int, default=3000, help="requests profiled")
    p.add_argument("--out", default="", help="also write the profile text to this file")
    c.redis_arg(p)
    a = p.parse_args()
    c.bench_redis(a.redis_url)
    app = c.make_app(a.redis_url)
    app.testing = False  # as served
    run(app, environs(a.target, 200))  # warm: caches, connections, imports
    envs = environs(a.target, a.n)
    started = time.process_time()
    profile = cProfile.Profile()
    profile.enable()
    run(app, envs)
    profile.disable()
    cpu_ms = (time.process_time() - started) * 1000 / a.n
    text = io.StringIO()
    text.write(f"{a.target}: {a.n} requests, {cpu_ms:.3f} ms CPU each under cProfile\n")
    pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(40)
    pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(25)
    if a.out:
        Path(a.out).write_text(text.getvalue())
    print(text.getvalue())


if __name__ == "__main__":
    main()
