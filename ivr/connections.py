"""Which Redis holds what: the app's state (one server, or a Redis Cluster) and RQ's jobs.

On one Redis (the default) both live together and a webhook's job is written in the same
MULTI/EXEC as its state. On Redis Cluster (``IVR_REDIS_CLUSTER=1``, ``REDIS_URL`` naming any
node) the state's keys share one slot (``ivr.keys``) and RQ, which is not cluster-aware, uses a
plain Redis, ``RQ_REDIS_URL``; ``store.Batch`` then writes the state first and the job second.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import redis
from redis.cluster import ClusterPipeline, RedisCluster
from redis.exceptions import RedisClusterException

_TIMEOUTS = {"socket_connect_timeout": 0.5, "socket_timeout": 1.0}


class LazyCluster:
    """A ``RedisCluster`` built on first use: building one asks a node for the slot map, and
    the app must start (and answer callers safely) while the cluster is unreachable.

    A failure to reach any node is raised as ``redis.ConnectionError``, the error every
    webhook already handles (redis-py raises a bare ``RedisClusterException`` there).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._client: RedisCluster | None = None

    @property
    def client(self) -> RedisCluster:
        if self._client is None:
            try:
                self._client = RedisCluster.from_url(self.url, **_TIMEOUTS)
            except RedisClusterException as exc:
                raise redis.ConnectionError(f"Redis Cluster unreachable: {exc}") from exc
        return self._client

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


# The embedded Redis ``ivr serve`` starts when REDIS_URL is unset (``ivr.serve``), relative to
# the directory the service runs in.
EMBEDDED_SOCKET = Path("var/redis/redis.sock")
NO_REDIS = ("no Redis: set REDIS_URL, or start the service with scripts/run "
            f"(it makes {EMBEDDED_SOCKET})")


class NoRedis(RuntimeError):
    """Neither ``REDIS_URL`` nor the embedded Redis's socket: say how to give one."""


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def checked_url(name: str, url: str) -> str:
    """``url`` if it is a Redis URL; else ``NoRedis`` naming the variable (redis-py's own
    ValueError would reach the person as a traceback)."""
    if not url.startswith(REDIS_SCHEMES):
        raise NoRedis(f"{name}: {safe_url(url)!r} is not a Redis URL (it starts "
                      f"{', '.join(REDIS_SCHEMES)})")
    return url


def embedded_url(cwd: str | Path) -> str:
    """The embedded Redis's URL for a service run in ``cwd``."""
    return f"unix://{(Path(cwd) / EMBEDDED_SOCKET).resolve()}?db=0"


def find_redis_url(env: Mapping[str, str], cwd: str | Path) -> str:
    """The one rule for the service and every command: ``REDIS_URL``, else the embedded
    socket ``ivr serve`` made under ``cwd``, else ``NoRedis`` (never a guessed default, which
    would read or write some other program's database)."""
    url = env.get("REDIS_URL", "")
    if url:
        return checked_url("REDIS_URL", url)
    if (Path(cwd) / EMBEDDED_SOCKET).is_socket():
        return embedded_url(cwd)
    raise NoRedis(NO_REDIS)


def connect(url: str, *, cluster: bool = False) -> Any:
    """A client with short timeouts: a webhook must answer Twilio well within 15 s."""
    if cluster:
        return LazyCluster(url)
    return redis.Redis.from_url(url, health_check_interval=30, **_TIMEOUTS)


def cluster_mode(env: Mapping[str, str]) -> bool:
    return env.get("IVR_REDIS_CLUSTER", "") == "1"


def rq_url(env: Mapping[str, str], state_url: str) -> str:
    """RQ's Redis: ``RQ_REDIS_URL``, else the state's own (not allowed on a cluster)."""
    url = env.get("RQ_REDIS_URL", "")
    if not url and cluster_mode(env):
        raise ValueError("IVR_REDIS_CLUSTER=1 needs RQ_REDIS_URL: RQ cannot run on a cluster "
                         "(set it to a plain Redis, e.g. redis://rq-host:6379/0)")
    return checked_url("RQ_REDIS_URL", url) if url else state_url


_state: dict[str, Any] = {}


def state_for_job(job_connection: redis.Redis, env: Mapping[str, str] | None = None) -> Any:
    """The app's state inside an RQ job: the job's own connection, unless the state lives
    elsewhere (a cluster, or ``RQ_REDIS_URL`` apart from ``REDIS_URL``). Built once per
    worker process."""
    env = os.environ if env is None else env
    url = env.get("REDIS_URL", "")
    separate = cluster_mode(env) or env.get("RQ_REDIS_URL", url) != url
    if not url or not separate:
        return job_connection
    if url not in _state:
        _state[url] = connect(url, cluster=cluster_mode(env))
    return _state[url]


def durability_problem(appendonly: str | None, appendfsync: str | None) -> str:
    """Why a Redis with these persistence settings may lose an answered voicemail ("" when
    it will not): a voicemail is on disk before the reply only with ``appendfsync always``."""
    if appendonly is None:
        return "its persistence settings could not be read (CONFIG GET refused)"
    if appendonly != "yes":
        return "appendonly is off: a restart loses every voicemail since the last snapshot"
    if appendfsync != "always":
        return (f"appendfsync is {appendfsync}: a crash can lose the voicemails answered "
                "in the last second or more")
    return ""


def durability_check(client: Any) -> str:
    """``durability_problem`` of a running Redis (its CONFIG GET), or why it could not ask."""
    try:
        found = client.config_get("append*")
    except redis.ResponseError:
        return durability_problem(None, None)
    except redis.RedisError as exc:
        return f"Redis did not answer ({exc})"
    text = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes)
            else v) for k, v in found.items()}
    return durability_problem(text.get("appendonly"), text.get("appendfsync"))


def safe_url(url: str) -> str:
    """A Redis URL fit for a log line: any password replaced by ``***``."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    netloc = f"{user}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def is_pipeline(target: Any) -> bool:
    """A pipeline (plain or cluster) rather than a client: its commands answer at ``execute``.
    (A ``ClusterPipeline`` is a ``RedisCluster`` subclass, so a client check would not do.)"""
    return isinstance(target, (redis.client.Pipeline, ClusterPipeline))
