"""The local token `ivr serve` makes when no TWILIO_AUTH_TOKEN is set, and `ivr call` reads."""

from __future__ import annotations

import multiprocessing
import stat
from pathlib import Path

import pytest

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


def test_a_file_others_can_read_is_never_trusted(tmp_path):
    path = tmp_path / "local-auth-token"
    path.write_text("0123456789abcdef0123456789abcdef\n")
    path.chmod(0o644)
    assert local_token.read(path) is None  # anyone who read it could sign requests
    token = local_token.ensure(path)
    assert token != "0123456789abcdef0123456789abcdef"  # replaced, not reused
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert local_token.read(path) == token


def test_made_owner_only_whatever_the_umask(tmp_path):
    import os

    old = os.umask(0)
    try:
        path = tmp_path / "var" / "local-auth-token"
        local_token.ensure(path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize(("bind", "local"), [
    ("127.0.0.1:5000", True), ("localhost:5000", True), ("[::1]:5000", True),
    ("127.0.0.2:80", True), ("0.0.0.0:5000", False), ("10.0.0.5:5000", False),
    ("[::]:5000", False), ("ivr.colchester.example:443", False),
])
def test_only_a_loopback_service_uses_the_local_token(bind, local):
    assert local_token.loopback(bind) is local


def _ensure_when_all_are_ready(path: str, ready, made) -> None:
    ready.wait()
    made.put(local_token.ensure(Path(path)))


def test_processes_starting_together_agree_on_one_token(tmp_path):
    """gunicorn's workers, when the app makes the token itself (signatures off, no token)."""
    path = tmp_path / "var" / "local-auth-token"
    fork = multiprocessing.get_context("fork")
    for _ in range(5):
        path.unlink(missing_ok=True)
        ready, made = fork.Barrier(8), fork.Queue()
        racers = [fork.Process(target=_ensure_when_all_are_ready, args=(str(path), ready, made))
                  for _ in range(8)]
        for racer in racers:
            racer.start()
        tokens = [made.get(timeout=30) for _ in racers]
        for racer in racers:
            racer.join(timeout=30)
        assert [r.exitcode for r in racers] == [0] * 8
        assert len(set(tokens)) == 1 and local_token.read(path) == tokens[0]
        assert [p.name for p in path.parent.iterdir()] == ["local-auth-token"]  # no candidates
