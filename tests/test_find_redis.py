"""One way to find Redis for the service and every command (issue 17): ``REDIS_URL``, else
the embedded socket ``ivr serve`` made under the current directory, else one line saying how
to give one, never a guessed default."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from test_bad_input import ivr, redis_env

from ivr import connections
from ivr.connections import EMBEDDED_SOCKET, NO_REDIS, NoRedis, find_redis_url


@pytest.fixture
def embedded(tmp_path: Path):
    """A directory where the service made its socket (a listening unix socket stands in)."""
    path = tmp_path / EMBEDDED_SOCKET
    path.parent.mkdir(parents=True)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    yield tmp_path
    listener.close()


@pytest.mark.parametrize("env,socket_made,expected", [
    ({"REDIS_URL": "redis://db:6379/3"}, False, "redis://db:6379/3"),
    ({"REDIS_URL": "redis://db:6379/3"}, True, "redis://db:6379/3"),
    ({}, True, "embedded"),
    ({"REDIS_URL": ""}, True, "embedded"),
])
def test_redis_url_then_the_embedded_socket(tmp_path, embedded, env, socket_made, expected):
    cwd = embedded if socket_made else tmp_path / "elsewhere"
    found = find_redis_url(env, cwd)
    if expected == "embedded":
        assert found == f"unix://{(embedded / EMBEDDED_SOCKET).resolve()}?db=0"
        assert found == connections.embedded_url(embedded)
    else:
        assert found == expected


@pytest.mark.parametrize("env", [{}, {"REDIS_URL": ""}])
def test_neither_is_an_error_naming_both(tmp_path, env):
    (tmp_path / EMBEDDED_SOCKET).parent.mkdir(parents=True)
    (tmp_path / EMBEDDED_SOCKET).write_text("")  # a plain file is not the service's socket
    with pytest.raises(NoRedis) as caught:
        find_redis_url(env, tmp_path)
    assert "REDIS_URL" in str(caught.value) and "var/redis/redis.sock" in str(caught.value)


COMMANDS = [
    ["agents", "list"],
    ["report", "--from", "2026-12-01", "--to", "2026-12-01"],
    ["replay-spool", "--wait", "0"],
    ["reconcile"],
    ["audit"],
    ["call", "--keys", "9"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(a) for a in COMMANDS])
def test_without_redis_every_command_says_so_in_one_line(tmp_path, argv):
    done = ivr(*argv, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr == f"error: {NO_REDIS}\n"


def test_replay_spool_does_not_warn_about_webhooks(tmp_path):
    done = ivr("replay-spool", "--wait", "0", env={**redis_env(), "TWILIO_AUTH_TOKEN": "",
                                                    "IVR_SPOOL_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert "TWILIO_AUTH_TOKEN" not in done.stdout + done.stderr
