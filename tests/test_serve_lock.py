"""ivr.serve_lock: one ``ivr serve`` per directory; a lock left by a dead service never
blocks, one still held by its dying children is waited for."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from conftest import real_clock_env

from ivr import serve_lock
from ivr.serve_lock import AlreadyRunning


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_second_start_names_the_running_one(tmp_path):
    path = tmp_path / "var" / "serve.lock"
    fd = serve_lock.acquire("127.0.0.1:5000", path)
    try:
        assert json.loads(path.read_text()) == {"pid": os.getpid(), "bind": "127.0.0.1:5000",
                                                "dir": str(tmp_path)}
        with pytest.raises(AlreadyRunning) as caught:
            serve_lock.acquire("127.0.0.1:5001", path)
        assert str(caught.value) == (f"ivr serve is already running in {tmp_path} "
                                     f"(pid {os.getpid()}, webhooks on 127.0.0.1:5000)")
    finally:
        serve_lock.release(fd)
    serve_lock.release(serve_lock.acquire("127.0.0.1:5001", path))  # free once released


def test_a_stale_pid_left_by_kill_9_does_not_block(tmp_path):
    path = tmp_path / "serve.lock"
    path.write_text(json.dumps({"pid": dead_pid(), "bind": "127.0.0.1:5000", "dir": "x"}))
    fd = serve_lock.acquire("127.0.0.1:5002", path, wait=0)
    assert json.loads(path.read_text())["pid"] == os.getpid()
    serve_lock.release(fd)


def held_by_an_orphan(path, seconds: str) -> subprocess.Popen:
    """The lock as a killed service leaves it: held by a child (``sleep``, which inherited
    it) while the file names a service that is gone."""
    fd = serve_lock.acquire("127.0.0.1:5000", path)
    child = subprocess.Popen(["sleep", seconds], pass_fds=(fd,), env=real_clock_env())
    os.pwrite(fd, json.dumps({"pid": dead_pid(), "bind": "127.0.0.1:5000",
                              "dir": str(path.parent)}).ljust(200).encode(), 0)
    serve_lock.release(fd)
    return child


def test_a_dead_services_children_still_holding_it_are_named(tmp_path):
    path = tmp_path / "serve.lock"
    child = held_by_an_orphan(path, "30")
    try:
        with pytest.raises(AlreadyRunning, match="has exited but processes it started still "
                                                 "hold .*serve.lock"):
            serve_lock.acquire("127.0.0.1:5001", path, wait=0.3)
    finally:
        child.kill()
        child.wait()


def test_a_start_waits_for_a_dead_services_children_to_go(tmp_path):
    path = tmp_path / "serve.lock"
    child = held_by_an_orphan(path, "0.5")
    fd = serve_lock.acquire("127.0.0.1:5001", path, wait=30)
    assert child.wait(timeout=5) == 0  # it was the holder; the lock came with its exit
    assert json.loads(path.read_text())["bind"] == "127.0.0.1:5001"
    serve_lock.release(fd)
