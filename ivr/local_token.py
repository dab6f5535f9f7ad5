"""A Twilio auth token for trying the service on one machine, so signatures stay checked.

`ivr serve` without ``TWILIO_AUTH_TOKEN`` would refuse every webhook (403), and the only other
way round that, ``IVR_INSECURE_SKIP_SIGNATURE=1``, turns the check off. Instead the service
makes a random token, keeps it in ``var/local-auth-token`` (owner-only), checks every request
against it, and ``ivr call --url`` signs with it: a newcomer can call the running service
from a terminal with no Twilio account, while real Twilio requests are still refused until
the real token is set.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

PATH = Path("var/local-auth-token")


def read(path: Path = PATH) -> str | None:
    """The local token, if the service made one here."""
    try:
        token = path.read_text().strip()
    except OSError:
        return None
    return token or None


def ensure(path: Path = PATH) -> str:
    """The local token, made (32 hex digits, mode 0600) on first use."""
    token = read(path)
    if token:
        return token
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    return token
