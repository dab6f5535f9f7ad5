"""Personal data sealed for the app's own URLs: encrypted, authenticated, bound to one call.

A voicemail's callback number (and whether the caller came through Relay UK) must reach the
``<Record>`` action and the recording status callback even when Redis is down, so it cannot
live only in Redis; written into the query string as it is, it lands in every access log,
proxy log and Twilio's debugger. So it travels sealed: an opaque token that only a process
holding the service's key can open, and that opens only for the call it was made for.

Standard library only (``cryptography`` is not a dependency): HMAC-SHA256 as the pseudorandom
function, in counter mode for the keystream and over the whole token for the tag
(encrypt-then-MAC), with separate keys derived from one secret, a random 128-bit nonce per
token, and the text padded to 16 bytes so that every UK number, and no number at all, seals
to the same length. A token that was altered, made with another key or for another call opens
to None, never to some other number.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

VERSION = b"\x01"
NONCE = 16
TAG = 16
PAD = 16
MAX_TEXT = 255  # the padded text starts with its length, one byte
MAX_TOKEN = 512  # characters: anything longer is not one of ours, and is not worth decoding
_LABEL = b"ivr.sealed/v1/"


def _prf(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


@dataclass(frozen=True)
class Sealer:
    """Seals short texts into URL-safe tokens and opens them again, with keys derived from
    one secret: every process given the same secret opens every other's tokens."""

    enc: bytes = field(repr=False)
    mac: bytes = field(repr=False)

    @classmethod
    def from_secret(cls, secret: str | bytes) -> Sealer:
        raw = secret.encode() if isinstance(secret, str) else secret
        if not raw:
            raise ValueError("a sealing secret cannot be empty")
        return cls(enc=_prf(raw, _LABEL + b"enc"), mac=_prf(raw, _LABEL + b"mac"))

    def seal(self, text: str, bound_to: str) -> str:
        """``text`` as a token that opens only with ``bound_to`` (a call SID)."""
        data = text.encode()
        if len(data) > MAX_TEXT:
            raise ValueError(f"at most {MAX_TEXT} bytes can be sealed, not {len(data)}")
        body = bytes([len(data)]) + data
        body += bytes(-len(body) % PAD)
        nonce = secrets.token_bytes(NONCE)
        sealed = bytes(a ^ b for a, b in zip(body, self._stream(nonce, len(body)), strict=True))
        token = VERSION + nonce + sealed
        return base64.urlsafe_b64encode(token + self._tag(token, bound_to)).rstrip(b"=").decode()

    def open(self, token: str, bound_to: str) -> str | None:
        """The text sealed in ``token`` for ``bound_to``; None for anything else (not a token,
        altered, another key's or another call's)."""
        if not token or len(token) > MAX_TOKEN:
            return None
        try:
            raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_",
                                   validate=True)
        except (binascii.Error, ValueError):
            return None
        head = len(VERSION) + NONCE
        if raw[:1] != VERSION or len(raw) < head + PAD + TAG or (len(raw) - head - TAG) % PAD:
            return None
        token_bytes, tag = raw[:-TAG], raw[-TAG:]
        if not hmac.compare_digest(tag, self._tag(token_bytes, bound_to)):
            return None
        nonce, sealed = raw[len(VERSION):head], token_bytes[head:]
        body = bytes(a ^ b for a, b in zip(sealed, self._stream(nonce, len(sealed)), strict=True))
        if body[0] > len(body) - 1:
            return None
        try:
            return body[1 : 1 + body[0]].decode()
        except UnicodeDecodeError:
            return None

    def _stream(self, nonce: bytes, length: int) -> bytes:
        blocks = (_prf(self.enc, nonce + i.to_bytes(4, "big")) for i in range(-(-length // 32)))
        return b"".join(blocks)[:length]

    def _tag(self, token: bytes, bound_to: str) -> bytes:
        bound = hashlib.sha256(bound_to.encode("utf-8", "replace")).digest()
        return _prf(self.mac, bound + token)[:TAG]
