"""The app's Redis client in an in-process simulation: one thread, one connection, RQ writes seen.

A simulation runs the app, the stand-in and the RQ jobs in one thread, one command or pipeline
at a time, so the client's pool needs neither its lock nor its check, before every command,
that the connection has no unread data (a ``poll`` system call per command): ``attach`` swaps
those two pool methods for plain ones (the same connection objects, the same commands, the
same replies). It also notes every command that names one of RQ's keys (``rq:...``), so the
stand-in's job pump (``ivr.sim.jobs``) need not ask Redis what is due after a webhook that
wrote no job: the answer is the one it had last time. Its connections pack commands with
``ivr.sim.packer`` (the same bytes, less Python per argument). It counts what it sends
(``sends``: one per command or pipeline, so one per round trip), a figure that, unlike CPU
time, does not move with a shared machine's pace.
"""

from __future__ import annotations

from typing import Any

from ivr.sim import packer

RQ_PREFIX = b"rq:"


class Link:
    """One client's pool, made single-threaded; ``rq_touched`` is set by any command naming
    an RQ key (a read counts too: it is only ever a reason to look again)."""

    def __init__(self, client: Any) -> None:
        self.rq_touched = True
        self.sends = 0  # commands or pipelines sent: round trips
        pool = client.connection_pool
        self.pool = pool
        available, in_use = pool._available_connections, pool._in_use_connections

        def get_connection(*_args: Any, **_kwargs: Any) -> Any:
            try:
                connection = available.pop()
            except IndexError:
                connection = pool.make_connection()
                self._watch(connection)
            in_use.add(connection)
            connection.connect()  # (no-op once connected)
            return connection

        def release(connection: Any) -> None:
            if connection in in_use:
                in_use.remove(connection)
                available.append(connection)

        for connection in available:
            self._watch(connection)
        pool.get_connection = get_connection
        pool.release = release

    def _watch(self, connection: Any) -> None:
        packer.install(connection)
        send = connection.send_packed_command

        def send_packed_command(command: Any, check_health: bool = True) -> None:
            self.sends += 1
            if not self.rq_touched:
                chunks = (command,) if isinstance(command, (bytes, str)) else command
                for chunk in chunks:
                    data = chunk.encode() if isinstance(chunk, str) else bytes(chunk)
                    if RQ_PREFIX in data:
                        self.rq_touched = True
                        break
            send(command, check_health)

        connection.send_packed_command = send_packed_command


def attach(client: Any) -> Link:
    """The ``Link`` of ``client``'s pool (made on first use; a pool has one)."""
    pool = client.connection_pool
    link = getattr(pool, "_ivr_sim_link", None)
    if link is None:
        link = Link(client)
        pool._ivr_sim_link = link
    return link
