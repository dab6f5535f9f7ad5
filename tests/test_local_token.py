"""The local token `ivr serve` makes when no TWILIO_AUTH_TOKEN is set, and `ivr call` reads."""

from __future__ import annotations

import stat

from ivr import local_token


def test_made_once_owner_only_and_read_back(tmp_path):
    path = tmp_path / "var" / "local-auth-token"
    assert local_token.read(path) is None
    token = local_token.ensure(path)
    assert len(token) == 32 and int(token, 16) >= 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert local_token.ensure(path) == token  # kept across restarts: calls keep working
    assert local_token.read(path) == token


def test_an_empty_file_is_no_token(tmp_path):
    path = tmp_path / "local-auth-token"
    path.write_text("\n")
    assert local_token.read(path) is None
    assert local_token.ensure(path) != ""
