"""What every request of the process needs, built once by ``ivr.app.create_app``.

Flows, the console and voicemail find it in ``app.extensions['ivr']``; keeping it here, below
them, lets them name it without importing the factory that imports them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import redis
from rq import Queue

from ivr import store
from ivr.calendar import OpeningHours
from ivr.config import Config
from ivr.sealed import Sealer
from ivr.spool import Spool


@dataclass
class Ivr:
    """Everything a request needs, kept in ``app.extensions['ivr']`` (no module globals)."""

    config: Config
    hours: OpeningHours
    redis: redis.Redis  # or a LazyCluster on Redis Cluster: the same commands
    callbacks: Queue
    messages: Queue
    spool: Spool
    auth_token: str
    account_sid: str
    public_base_url: str
    skip_signature: bool
    sealer: Sealer  # personal data in the app's own URLs (``ivr.sealed``)
    on_redis_error: Callable[[str], None] | None = None  # counts failed commits (``/metrics``)

    def batch(self, call_sid: str, caller: str, now: float) -> store.Batch:
        return store.Batch(
            self.redis,
            self.spool,
            call_sid=call_sid,
            caller=caller,
            now=now,
            retention_days=self.config.events.retention_days,
            keep_calls=self.config.callbacks.keep_finished_calls,
            on_error=self.on_redis_error,
        )
