"""Sealed tokens (``ivr.sealed``): what our URLs carry instead of a caller's number. They open
only with the service's secret and for the call they were made for, show nothing of what
they hold, and anything else opens to None, never to another number."""

from __future__ import annotations

import base64
import re

import pytest

from ivr import local_token
from ivr.sealed import MAX_TOKEN, Sealer

SECRET = "test-auth-token-0123456789abcdef"  # caller.AUTH_TOKEN, the apps' token
SID = "CA" + "1" * 32
OTHER_SID = "CA" + "2" * 32
NUMBERS = ["-+447911123456", "R+441206500600", "-", "R", "-+12126647665"]


@pytest.fixture
def sealer() -> Sealer:
    return Sealer.from_secret(SECRET)


@pytest.mark.parametrize("text", NUMBERS + ["", "caf\u00e9 \u00a35", "x" * 255])
def test_what_is_sealed_opens_again(sealer, text):
    assert sealer.open(sealer.seal(text, SID), SID) == text


def test_every_process_with_the_secret_opens_it(sealer):
    """gunicorn's workers, on this host or another, each build their own from the secret."""
    token = sealer.seal("-+447911123456", SID)
    assert Sealer.from_secret(SECRET).open(token, SID) == "-+447911123456"
    assert Sealer.from_secret(SECRET.encode()).open(token, SID) == "-+447911123456"


def test_another_secret_or_another_call_opens_nothing(sealer):
    token = sealer.seal("-+447911123456", SID)
    assert Sealer.from_secret(SECRET + "x").open(token, SID) is None
    assert sealer.open(token, OTHER_SID) is None
    assert sealer.open(token, "") is None


def test_it_shows_nothing_of_the_number(sealer):
    tokens = [sealer.seal(text, SID) for text in NUMBERS[:4]]
    assert len({len(t) for t in tokens}) == 1  # UK numbers and no number look alike
    assert len(set(tokens)) == len(tokens)
    again = sealer.seal(NUMBERS[0], SID)
    assert again != tokens[0]  # a fresh nonce: the same number twice is not linkable
    for token in tokens + [again]:
        assert re.fullmatch(r"[A-Za-z0-9_-]+", token)  # URL-safe as it is: no %-encoding
        assert "7911123456" not in token and "447911" not in token
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        assert b"7911" not in raw and b"1206" not in raw


def test_any_altered_byte_opens_nothing(sealer):
    token = sealer.seal("-+447911123456", SID)
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    for i in range(len(raw)):
        for bit in (0x01, 0x80):
            altered = raw.copy()
            altered[i] ^= bit
            text = base64.urlsafe_b64encode(bytes(altered)).rstrip(b"=").decode()
            assert sealer.open(text, SID) is None, (i, bit)


@pytest.mark.parametrize(
    "token",
    ["", "!!!!", "not a token", "\u00e9\u00e9\u00e9\u00e9", "AAAA", "A" * 66, "A" * (MAX_TOKEN + 4),
     "%2B447911123456", "+447911123456"],
)
def test_what_is_not_a_token_opens_nothing(sealer, token):
    assert sealer.open(token, SID) is None


def test_cut_or_lengthened_tokens_open_nothing(sealer):
    token = sealer.seal("-+447911123456", SID)
    for cut in range(1, len(token)):
        assert sealer.open(token[:cut], SID) is None
    assert sealer.open(token + "AAAA", SID) is None
    assert sealer.open(token + token, SID) is None


def test_limits(sealer):
    with pytest.raises(ValueError, match="at most 255 bytes"):
        sealer.seal("x" * 256, SID)
    with pytest.raises(ValueError, match="cannot be empty"):
        Sealer.from_secret("")
    assert SECRET not in repr(sealer) and "enc=" not in repr(sealer)  # keys stay out of logs


# -- the key: every web process derives the same one ----------------------------------------------


def test_the_app_seals_with_a_key_from_its_auth_token(make_app):
    one, two = make_app(), make_app()
    token = one.extensions["ivr"].sealer.seal("-+447911123456", SID)
    assert two.extensions["ivr"].sealer.open(token, SID) == "-+447911123456"
    assert Sealer.from_secret(SECRET).open(token, SID) == "-+447911123456"
    other = make_app(TWILIO_AUTH_TOKEN="another-token")
    assert other.extensions["ivr"].sealer.open(token, SID) is None


def test_with_the_check_off_and_no_token_the_local_token_is_shared(make_app, tmp_path,
                                                                   monkeypatch):
    monkeypatch.chdir(tmp_path)
    one, two = (make_app(TWILIO_AUTH_TOKEN="", IVR_INSECURE_SKIP_SIGNATURE=True)
                for _ in range(2))
    token = one.extensions["ivr"].sealer.seal("R", SID)
    assert two.extensions["ivr"].sealer.open(token, SID) == "R"
    assert local_token.read(tmp_path / local_token.PATH) is not None
