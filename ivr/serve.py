"""``ivr serve`` and ``ivr scheduler``: the service's processes, kept running by
``ivr.supervise``.

The children, in start order (``child_specs``): the embedded ``redis-server`` when
``REDIS_URL`` is unset, the webhooks (gunicorn), the RQ worker, RQ's scheduler and the
reconciler (``ivr reconcile --every 30``). Each one that exits is started again after a
backoff, so a Redis outage that ends a process costs a restart, not the service.

RQ's scheduler runs as a process of its own (``ivr scheduler``), not as the worker's child
(``rq worker --with-scheduler``): in RQ 3.0 the scheduler process ends at the first Redis
error (``RQScheduler.work`` catches nothing), and the worker starts it again only in its
maintenance, every 10 minutes and only between waits for jobs (up to 405 s each), so due jobs
stalled for 10 to 17 minutes after a blip. Supervised on its own, it is started again within
the backoff (at most 30 s) of Redis's return, under a name that is stable for this
``ivr serve`` and its directory (``scheduler_name``), so the new process takes over its own
queue locks at once instead of waiting for the dead one's to expire.

One ``ivr serve`` runs per directory (``ivr.serve_lock``: a second start names the first and
exits 1), and none of its processes outlives it, even killed -9 (``ivr.orphans``). A Redis
that does not answer at the start stops nothing: the webhooks answer callers with the
fail-safe and spool their voicemails, and the other children are started again, with the
backoff, until it answers (docs/reliability.md).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shlex
import shutil
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import redis

from ivr import connections, local_token, preflight, serve_lock
from ivr.config import Config, load_for_command
from ivr.supervise import ChildSpec, Supervisor

EMBEDDED_DIR = connections.EMBEDDED_SOCKET.parent
# An idle worker beats once per wait for jobs (RQ waits worker_ttl - 15 s): 60 keeps its
# ``last_heartbeat`` under a minute old (``ivr_worker_heartbeat_age_seconds``), and a dead
# worker leaves RQ's registry within 2 minutes (RQ's default, 420, takes 8).
WORKER_TTL = 60
WSGI_APP = "ivr.wsgi:app"


def ivr_command(*args: str) -> list[str]:
    """An ``ivr`` subcommand run by this interpreter (the checkout on ``PYTHONPATH`` wins)."""
    return [sys.executable, "-m", "ivr.cli", *args]


def scheduler_name() -> str:
    """The scheduler's RQ name for the ``ivr serve`` of this host and directory: the same
    for every restart, of the scheduler or of ``ivr serve`` (killed -9 too), so a new
    scheduler process refreshes the queue locks its predecessor held (RQ's lock holds a name
    for 61 s after its holder's last beat); different for another ``ivr serve``, which runs
    in another directory (``ivr.serve_lock``) or on another host."""
    where = hashlib.sha256(str(Path.cwd().resolve()).encode()).hexdigest()[:12]
    return f"ivr-{socket.gethostname()}-{where}"


def embedded_redis() -> tuple[ChildSpec, str]:
    """A private redis-server on a unix socket, append-only with ``appendfsync always``: a
    voicemail the caller was told we have is on disk before the webhook answers, so it
    survives ``kill -9`` of Redis and a power cut (docs/durability.md; ~0.3 ms a voicemail)."""
    EMBEDDED_DIR.mkdir(parents=True, exist_ok=True)
    sock = connections.EMBEDDED_SOCKET.resolve()
    url = connections.embedded_url(Path.cwd())

    def answers() -> bool:
        try:
            return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    spec = ChildSpec(
        "redis",
        ["redis-server", "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
         "--dir", str(EMBEDDED_DIR.resolve()), "--appendonly", "yes",
         "--appendfsync", "always", "--save", "",
         "--logfile", str((EMBEDDED_DIR / "redis.log").resolve())],
        ready=answers, stop_last=True, see=str(EMBEDDED_DIR / "redis.log"))
    return spec, url


def job_children(rq_url: str, queues: Sequence[str], env: Mapping[str, str],
                 name: str) -> list[ChildSpec]:
    """RQ's worker and RQ's scheduler (named ``name``), each a process of its own."""
    bin_dir = Path(sys.executable).parent
    return [
        ChildSpec("worker", [str(bin_dir / "rq"), "worker", "--url", rq_url,
                             "--worker-class", "ivr.rq_worker.Worker",  # horses die with it
                             "--worker-ttl", str(WORKER_TTL), *queues], env),
        ChildSpec("scheduler", ivr_command("scheduler", "--url", rq_url, "--name", name,
                                           *queues), env),
    ]


def local_twilio(bind: str, env: dict[str, str]) -> ChildSpec:
    """With no Twilio credentials: the project's stand-in as a local Twilio (``ivr
    local-twilio``, ``ivr.sim.server``) on a free loopback port, carrying the calls of every
    ``ivr call`` terminal, with the app's REST client pointed at it (``env`` gains
    ``TWILIO_ACCOUNT_SID`` and ``TWILIO_API_BASE``)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    from ivr.sim.world import TEST_ACCOUNT_SID

    base = f"http://127.0.0.1:{port}"
    env.update(TWILIO_ACCOUNT_SID=TEST_ACCOUNT_SID, TWILIO_API_BASE=base)
    print(f"Local Twilio: {base} (no Twilio credentials: calls and REST stay on this machine; "
          f"`ivr call --url http://{bind}` in two terminals, a resident and --advisor, meet "
          "there)", flush=True)

    def answers() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    return ChildSpec("twilio", ivr_command("local-twilio", "--bind", f"127.0.0.1:{port}",
                                           "--app", f"http://{bind}", "--url-file",
                                           "var/local-twilio"), dict(env), ready=answers,
                     ready_timeout=15.0)


def child_specs(bind: str, workers: int, rq_url: str, queues: Sequence[str],
                env: Mapping[str, str]) -> list[ChildSpec]:
    """Every process ``ivr serve`` keeps running, in start order (stopped together, bar the
    embedded Redis, which ``serve`` puts first and stops last). A further process is one more
    entry in this list."""
    bin_dir = Path(sys.executable).parent
    web = ChildSpec("web", [str(bin_dir / "gunicorn"), "--workers", str(workers), "--bind",
                            bind, "--access-logfile", "-", "--graceful-timeout", "10",
                            # gunicorn 27's control socket is one path per user: two services
                            # on a host would share (and take over) each other's
                            "--no-control-socket",
                            # hooks: each worker dies with the master (ivr.orphans)
                            "--config", "python:ivr.gunicorn_conf", WSGI_APP], env)
    # ivr.reconcile: what crashes and outages left behind, mended every 30 s
    reconciler = ChildSpec("reconciler", ivr_command("reconcile", "--every", "30"), env)
    return [web, *job_children(rq_url, queues, env, scheduler_name()), reconciler]


def serve(args: argparse.Namespace) -> int:
    """Webhooks (gunicorn), the RQ worker, RQ's scheduler and the reconciler, kept running
    until Ctrl-C."""
    config = load_for_command()
    if config is None:
        return 2
    try:  # ivr.preflight: a credential a feature needs, missing, refused in production
        preflight.check(config, os.environ)  # (on loopback, _serve says so among its lines)
    except preflight.Refused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        lock = serve_lock.acquire(args.bind)
    except serve_lock.AlreadyRunning as exc:
        print(f"error: {exc}: stop it first, or start this one in another directory",
              file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:  # Ctrl-C while waiting for a dead service's children to go
        return 130
    try:
        return _serve(args, config, lock)
    finally:
        serve_lock.release(lock)


def redis_at_start(url: str) -> None:
    """Say what a Redis that does not answer yet means, or whether one that does may lose an
    answered voicemail. Never stops the start."""
    try:
        client = connections.connect(url, cluster=connections.cluster_mode(os.environ))
        client.ping()
    except Exception as exc:  # noqa: BLE001 - an outage at the start is served through
        print(f"warning: Redis does not answer yet ({exc}): the webhooks answer callers with "
              "the fail-safe and spool their voicemails; the worker, the scheduler and the "
              "reconciler are started again until it answers, and the spool is then replayed",
              flush=True)
        return
    try:
        problem = connections.durability_check(client)
    except Exception as exc:  # noqa: BLE001 - a start-up check must not stop the service
        problem = f"it could not be checked ({exc})"
    if problem:
        print(f"warning: Redis durability: {problem}; set appendonly yes and appendfsync "
              "always (docs/reliability.md)", flush=True)


def _serve(args: argparse.Namespace, config: Config, lock: int) -> int:
    """``serve`` once this directory is ours (``lock`` held, and passed to every child)."""
    infrastructure: list[ChildSpec] = []
    url = os.environ.get("REDIS_URL")
    if url:
        print(f"Redis: REDIS_URL={connections.safe_url(url)}", flush=True)
        redis_at_start(url)
    elif shutil.which("redis-server") is None:
        print("error: REDIS_URL is not set and redis-server is not installed for the embedded "
              "Redis: install it (scripts/run does) or set REDIS_URL", file=sys.stderr,
              flush=True)
        return 1
    else:
        spec, url = embedded_redis()
        infrastructure.append(spec)
        print(f"Redis: no REDIS_URL set, using the embedded default {url} "
              f"(redis-server, data in {EMBEDDED_DIR}/, append-only, fsync always)", flush=True)
    env = dict(os.environ, REDIS_URL=url)
    if (not env.get("TWILIO_AUTH_TOKEN") and env.get("IVR_INSECURE_SKIP_SIGNATURE") != "1"
            and not local_token.loopback(args.bind)):
        print("warning: TWILIO_AUTH_TOKEN is not set, so every webhook answers 403.",
              flush=True)
    elif not env.get("TWILIO_AUTH_TOKEN") and env.get("IVR_INSECURE_SKIP_SIGNATURE") != "1":
        env["TWILIO_AUTH_TOKEN"] = local_token.ensure()  # this machine only: see local_token
        print(f"warning: TWILIO_AUTH_TOKEN is not set: webhooks check signatures against a "
              f"local token ({local_token.PATH}), so `ivr call --url http://{args.bind}` works "
              "here and real Twilio requests get 403 until TWILIO_AUTH_TOKEN is set.",
              flush=True)
    warning = preflight.check(config, os.environ)  # never refuses here: serve checked
    if warning:
        print(f"WARNING: {warning}", flush=True)
    token = env.get("TWILIO_AUTH_TOKEN")
    if token and token == local_token.read() and not env.get("TWILIO_ACCOUNT_SID"):
        infrastructure.append(local_twilio(args.bind, env))  # sets TWILIO_API_BASE in env
    queues = [config.callbacks.rq_queue, config.callbacks.sms_rq_queue]
    try:
        jobs_url = connections.rq_url(env, url)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    specs = infrastructure + child_specs(args.bind, args.workers, jobs_url, queues, env)
    print(f"Webhooks: http://{args.bind}/voice/incoming (gunicorn, {args.workers} workers)",
          flush=True)
    print(f"Worker: rq worker {' '.join(queues)}; scheduler: ivr scheduler; reconciler: "
          "ivr reconcile --every 30 (each started again if it exits)", flush=True)
    if infrastructure:  # the embedded Redis: commands run here find it; elsewhere, paste this
        print(f"Commands (ivr agents, ivr report, ...) run in {Path.cwd()} find this Redis; "
              f"elsewhere: export REDIS_URL={shlex.quote(url)}", flush=True)
    supervisor = Supervisor(specs, keep_fds=(lock,))
    signal.signal(signal.SIGINT, supervisor.request_stop)
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    supervisor.run()
    restarted = {k: v for k, v in supervisor.restarts.items() if v}
    print(f"Stopped.{f' Restarts: {restarted}' if restarted else ''}", flush=True)
    return 0


def scheduler_command(args: argparse.Namespace) -> int:
    """RQ's scheduler in the foreground: moves due ``enqueue_at`` jobs (and retries) to their
    queues. It ends at a Redis error; ``ivr serve`` starts it again."""
    from rq.scheduler import RQScheduler

    # Timeouts: a Redis that stops answering (paused, a dead peer) ends the process too, so
    # it is started again, instead of leaving it waiting on a socket for good.
    connection = redis.Redis.from_url(args.url, socket_connect_timeout=5, socket_timeout=10)
    scheduler = RQScheduler(args.queues, connection=connection, name=args.name or None)
    print(f"Scheduler {scheduler.name} for {', '.join(args.queues)} (pid {os.getpid()})",
          flush=True)
    try:
        scheduler.work()  # until SIGTERM or SIGINT, which release its locks
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        print(f"scheduler: Redis unreachable ({exc}); exiting", file=sys.stderr, flush=True)
        return 1
    return 0
