"""A Twilio auth token for trying the service on one machine, so signatures stay checked.

`ivr serve` on a loopback address without ``TWILIO_AUTH_TOKEN`` would refuse every webhook
(403), and the only other way round that, ``IVR_INSECURE_SKIP_SIGNATURE=1``, turns the check
off. Instead the service makes a random token, keeps it in ``var/local-auth-token`` (readable
by its owner only), checks every request against it, and ``ivr call --url`` signs with it: a
newcomer can call the running service from a terminal with no Twilio account, while real
Twilio requests are still refused until the real token is set. A token file others can read
is never trusted: anyone who can read it could sign requests.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import stat
from pathlib import Path

PATH = Path("var/local-auth-token")


def read(path: Path = PATH) -> str | None:
    """The local token, if the service made one here and only its owner can read it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd) as f:
        if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
            return None
        token = f.read().strip()
    return token or None


def ensure(path: Path = PATH) -> str:
    """The local token, made (32 hex digits, mode 0600 in a 0700 directory) when there is
    none or the file could have been read by others.

    Processes starting together (gunicorn's workers, when the app needs it itself) agree on
    one token: each writes a candidate under a name of its own and links it into place only
    if no token is there yet, so the first one made is the one every process reads back."""
    token = read(path)
    if token:
        return token
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    candidate = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)  # whatever the umask
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(16) + "\n")
    try:
        try:
            os.link(candidate, path)
        except FileExistsError:
            if read(path) is None:
                os.replace(candidate, path)  # a loose or empty file is replaced, not reused
    finally:
        candidate.unlink(missing_ok=True)
    token = read(path)
    if token is None:  # pragma: no cover - the file was made owner-only just above
        raise OSError(f"{path}: the local token could not be made owner-only")
    return token


def loopback(bind: str) -> bool:
    """Does ``host:port`` (gunicorn's --bind) listen on this machine only?"""
    host = bind.rsplit(":", 1)[0].strip("[]") if ":" in bind else bind
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
