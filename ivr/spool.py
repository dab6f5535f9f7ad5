"""A local, durable spool for what could not be written to Redis, replayed when it is back.

A voicemail whose callback task could not be stored is never lost: it is written here
(atomically, fsync'd with its directory) and replayed, idempotently, once Redis answers again.
An item whose replay fails for any other reason is renamed ``*.json.failed`` and left for a
person to check.

Replayed exactly once, however many processes replay (every gunicorn worker on its next call,
and ``ivr replay-spool``), in three layers:

- **a lock**: one process drains at a time (``flock`` on ``.lock`` in the directory). A webhook
  never waits for it; the command may wait a little.
- **a claim per item**: an item is renamed to ``<name>.claimed-<pid>-<time>`` before it is
  read, so of processes that race for it (were the lock ever bypassed) one wins. A claim whose
  owner is gone, or older than ``stale_claim`` seconds, goes back to pending on the next drain.
- **an id per item**, given when it is written (an item from before ids: its file name),
  passed to its handler; the events' handler writes a marker for it with the events in one
  script (``events.add_once``), so an item replayed again after a crash between its write and
  its removal adds nothing. Voicemails are idempotent by recording SID.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError

from ivr.flock import flock_within

log = logging.getLogger(__name__)

Handler = Callable[[Any, str], None]  # (payload, item id); raises RedisError if Redis failed
FAILED_SUFFIX = ".failed"  # an item whose replay raised: kept for a person, never retried
CLAIM = ".claimed-"  # <item>.claimed-<pid>-<epoch s>: taken by that process's replay
LOCK = ".lock"  # flock'd by the process draining; holds its pid (for the command's message)
STALE_CLAIM = 300.0  # s: a live owner's claim older than this is given up (replays take ms)


@dataclass(frozen=True)
class Replay:
    """What one drain did."""

    done: int = 0  # items written to Redis (or found already written) and removed
    busy: bool = False  # another process held the lock: nothing was tried
    error: RedisError | None = None  # Redis failed here; that item and the rest wait
    set_aside: int = 0  # items whose replay raised something else: kept as ``*.failed``
    holder: str = ""  # with ``busy``: the pid the lock file names, when it says


class Spool:
    def __init__(self, directory: str | Path, handlers: dict[str, Handler] | None = None, *,
                 stale_claim: float = STALE_CLAIM) -> None:
        self.directory = Path(directory)
        self.handlers: dict[str, Handler] = dict(handlers or {})
        self.stale_claim = stale_claim

    def write(self, kind: str, payload: Any) -> Path:
        """Store one item durably, with a new id; returns its file."""
        self.directory.mkdir(parents=True, exist_ok=True)
        item_id = uuid.uuid4().hex
        name = f"{time.time():017.6f}-{kind}-{item_id[:12]}.json"
        data = json.dumps({"kind": kind, "id": item_id, "payload": payload}, default=str).encode()
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            final = self.directory / name
            os.replace(tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._sync_directory(final)
        return final

    def _sync_directory(self, written: Path) -> None:
        """fsync the directory, so the item's name survives a power cut as its bytes do. The
        item is in place by now: a failure here is logged, not raised as a lost item."""
        try:
            fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            log.warning("spool directory not synced after writing %s: %s", written.name, exc)

    def pending(self) -> list[Path]:
        """Items waiting to be claimed, oldest first."""
        return sorted(self._items())

    def size(self) -> int:
        """Items on disk waiting for Redis: pending, or claimed by a replay under way."""
        return sum(1 for _ in self._entries())

    def has_pending(self) -> bool:
        """Anything spooled or claimed? Stops at the first: asked on every incoming call.
        A claim counts, so one left by a dead process is recovered by the next drain."""
        return next(self._entries(), None) is not None

    def _entries(self) -> Iterator[os.DirEntry]:
        try:
            with os.scandir(self.directory) as entries:
                for entry in entries:
                    if not entry.name.startswith(".") and (
                            entry.name.endswith(".json") or _claimed_name(entry.name)):
                        yield entry
        except FileNotFoundError:
            return

    def _items(self) -> Iterator[Path]:
        for entry in self._entries():
            if entry.name.endswith(".json"):
                yield Path(entry.path)

    def drain(self) -> int:
        """Replay spooled items in order, unless another process is at it (never waits: a
        webhook calls this); stop at the first Redis failure. Returns items done."""
        return self.replay().done

    def replay(self, wait: float = 0.0) -> Replay:
        """Replay spooled items in order, each once; wait up to ``wait`` seconds for another
        process's drain to finish (``busy`` if it has not)."""
        with self._locked(wait) as holder:
            if holder is not None:
                return Replay(busy=True, holder=holder)
            self._recover_claims()
            return self._replay_pending()

    @contextmanager
    def _locked(self, wait: float) -> Iterator[str | None]:
        """Hold the spool's lock (yields None), or yield the holder's pid ("" if unknown)
        when it is still taken after ``wait`` seconds."""
        try:
            fd = os.open(self.directory / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # no directory: nothing was ever spooled here
            yield None
            return
        except PermissionError:  # made by another user (the command run as root): flock
            fd = os.open(self.directory / LOCK, os.O_RDONLY)  # works as well read-only
        try:
            if not flock_within(fd, wait):
                yield os.pread(fd, 32, 0).decode(errors="replace").strip()
                return
            with suppress(OSError):  # read-only: the holder's pid is only for messages
                os.ftruncate(fd, 0)
                os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield None
        finally:
            os.close(fd)  # closing releases the lock (a dead process's too)

    def _recover_claims(self) -> None:
        """Claims whose owner is gone (or that are older than ``stale_claim``) back to
        pending: the owner died between claiming and finishing, perhaps after writing."""
        now = time.time()
        for entry in list(self._entries()):
            owner = _claimed_name(entry.name)
            if owner is None:
                continue
            item, pid, since = owner
            gone = not pid or not _alive(pid)
            if not gone and now - since < self.stale_claim:
                continue
            try:
                os.rename(entry.path, self.directory / item)
            except FileNotFoundError:  # finished, or recovered by another process
                continue
            log.warning("spool item %s was claimed by process %s (%s); back to pending", item,
                        pid, "gone" if gone else f"over {self.stale_claim:.0f} s ago")

    def _claim(self, path: Path) -> Path | None:
        """Take the item for this process (None: another process took it first)."""
        claimed = path.with_name(f"{path.name}{CLAIM}{os.getpid()}-{int(time.time())}")
        try:
            os.rename(path, claimed)
        except FileNotFoundError:
            return None
        return claimed

    def _replay_pending(self) -> Replay:
        done = set_aside = 0
        for path in self.pending():
            claimed = self._claim(path)
            if claimed is None:
                continue
            try:
                item = json.loads(claimed.read_text())
                if not isinstance(item, dict):
                    raise ValueError("not an object")
            except (OSError, ValueError):
                log.error("spool file %s is unreadable; left in place", path.name)
                _unclaim(claimed, path)
                continue
            handler = self.handlers.get(item.get("kind"))
            if handler is None:
                log.error(
                    "spool file %s has unknown kind %r; left in place", path.name, item.get("kind")
                )
                _unclaim(claimed, path)
                continue
            try:
                handler(item["payload"], item.get("id") or legacy_id(path))
            except RedisError as exc:
                _unclaim(claimed, path)
                self._logged(done)
                return Replay(done=done, error=exc, set_aside=set_aside)
            except Exception:  # noqa: BLE001 - one bad item must not block the rest (or a call)
                log.exception(
                    "spool file %s could not be replayed; kept as %s%s",
                    path.name,
                    path.name,
                    FAILED_SUFFIX,
                )
                _unclaim(claimed, path.with_name(path.name + FAILED_SUFFIX))
                set_aside += 1
                continue
            except BaseException:  # interrupted (a worker's timeout): the next drain takes it
                _unclaim(claimed, path)
                raise
            claimed.unlink(missing_ok=True)
            done += 1
        self._logged(done)
        return Replay(done=done, set_aside=set_aside)

    @staticmethod
    def _logged(done: int) -> None:
        if done:
            log.info("replayed %d spooled item(s) into Redis", done)


def legacy_id(path: Path) -> str:
    """The id of an item written before items had ids: its file name, which never changes."""
    return "file-" + path.name.removesuffix(".json")


def _claimed_name(name: str) -> tuple[str, int, float] | None:
    """(item name, owner pid, claimed at) of a claim's file name; None for any other name.
    An unparsable owner gives pid 0, which counts as gone."""
    item, sep, owner = name.rpartition(CLAIM)
    if not sep or not item.endswith(".json") or item.startswith("."):
        return None
    pid, _, since = owner.partition("-")
    try:
        return item, int(pid), float(since)
    except ValueError:
        return item, 0, 0.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _unclaim(claimed: Path, to: Path) -> None:
    with suppress(FileNotFoundError):  # recovered as stale by another process meanwhile
        os.rename(claimed, to)
