"""The app's Redis commands in an in-process simulation, packed for the wire at less cost.

redis-py's hiredis packer looks at every argument of every command twice in Python (a scan
for memoryviews, then its encoder's four type checks) before the C packer runs: a fifth of
the app's Redis time in a simulated day, where nearly every argument is a ``str``, ``bytes``
or a number. ``FastPacker`` encodes those three kinds itself, exactly as redis-py's encoder
does (``str`` in the connection's encoding, numbers as ``repr``), and hands any command with
another kind of argument (a ``bool``, refused; a ``memoryview``; a ``bytearray``) to redis-py's
own packer, so the bytes on the wire and the errors raised are redis-py's.
"""

from __future__ import annotations

from typing import Any

try:
    from hiredis import pack_command
except ImportError:  # pragma: no cover  (hiredis is a dependency: redis[hiredis])
    pack_command = None


class FastPacker:
    """A connection's ``_command_packer`` (``pack(*args) -> list of chunks``) for the common
    case, ``inner`` (redis-py's) for the rest."""

    def __init__(self, inner: Any, encoding: str, errors: str) -> None:
        self.inner = inner
        self.encoding = encoding
        self.errors = errors

    def pack(self, *args: Any) -> list[bytes]:
        first = args[0]
        # A command name with a space ("CLIENT SETNAME") is split into words, as redis-py does.
        if type(first) is str:
            args = tuple(first.encode().split()) + args[1:]
        elif type(first) is bytes and b" " in first:
            args = tuple(first.split()) + args[1:]
        out = []
        encoding, errors = self.encoding, self.errors
        for arg in args:
            kind = type(arg)
            if kind is bytes:
                out.append(arg)
            elif kind is str:
                out.append(arg.encode(encoding, errors))
            elif kind is int or kind is float:
                out.append(repr(arg).encode())
            else:  # bool, memoryview, bytearray, or a mistake: redis-py's own rules
                return self.inner.pack(*args)
        return [pack_command(tuple(out))]


def install(connection: Any) -> None:
    """Give ``connection`` a ``FastPacker`` when it packs with hiredis (else leave it be)."""
    from redis.connection import HiredisRespSerializer

    packer = getattr(connection, "_command_packer", None)
    if pack_command is None or type(packer) is not HiredisRespSerializer:
        return
    encoder = connection.encoder
    connection._command_packer = FastPacker(packer, encoder.encoding, encoder.encoding_errors)
