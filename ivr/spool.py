"""A local, durable spool for what could not be written to Redis, replayed when it is back.

A voicemail whose callback task could not be stored is never lost: it is written here
(atomically, fsync'd) and replayed, idempotently, once Redis answers again. An item whose
replay fails for any other reason is renamed ``*.json.failed`` and left for a person to check.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError

log = logging.getLogger(__name__)

Handler = Callable[[Any], None]
FAILED_SUFFIX = ".failed"  # an item whose replay raised: kept for a person, never retried


class Spool:
    def __init__(self, directory: str | Path, handlers: dict[str, Handler] | None = None) -> None:
        self.directory = Path(directory)
        self.handlers: dict[str, Handler] = dict(handlers or {})

    def write(self, kind: str, payload: Any) -> Path:
        """Store one item durably; returns its file."""
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{time.time():017.6f}-{kind}-{uuid.uuid4().hex[:12]}.json"
        data = json.dumps({"kind": kind, "payload": payload}, default=str).encode()
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        final = self.directory / name
        os.replace(tmp, final)
        return final

    def pending(self) -> list[Path]:
        """Spooled items, oldest first."""
        return sorted(self._items())

    def has_pending(self) -> bool:
        """Is anything spooled? Stops at the first item: asked on every incoming call."""
        return next(self._items(), None) is not None

    def _items(self) -> Iterator[Path]:
        try:
            with os.scandir(self.directory) as entries:
                for entry in entries:
                    if entry.name.endswith(".json") and not entry.name.startswith("."):
                        yield Path(entry.path)
        except FileNotFoundError:
            return

    def drain(self) -> int:
        """Replay spooled items in order; stop at the first Redis failure. Returns items done."""
        done = 0
        for path in self.pending():
            try:
                item = json.loads(path.read_text())
            except (OSError, ValueError):
                log.error("spool file %s is unreadable; left in place", path.name)
                continue
            handler = self.handlers.get(item.get("kind"))
            if handler is None:
                log.error(
                    "spool file %s has unknown kind %r; left in place", path.name, item.get("kind")
                )
                continue
            try:
                handler(item["payload"])
            except RedisError:
                return done
            except Exception:  # noqa: BLE001 - one bad item must not block the rest (or a call)
                log.exception(
                    "spool file %s could not be replayed; kept as %s%s",
                    path.name,
                    path.name,
                    FAILED_SUFFIX,
                )
                path.replace(path.with_name(path.name + FAILED_SUFFIX))
                continue
            path.unlink(missing_ok=True)
            done += 1
        if done:
            log.info("replayed %d spooled item(s) into Redis", done)
        return done
