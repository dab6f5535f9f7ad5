"""A real 3-master Redis Cluster for tests: ``redis-server`` processes in a temp dir, joined
with ``redis-cli --cluster create``, as production's cluster would be (no replicas)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from conftest import real_clock_env

PORTS = (7101, 7102, 7103)
READY_SECONDS = 20.0


def missing_binaries() -> str:
    """Why no cluster can be started here ("" when it can)."""
    absent = [b for b in ("redis-server", "redis-cli") if shutil.which(b) is None]
    return f"{' and '.join(absent)} not on PATH (CI installs redis-server)" if absent else ""


def _in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait(check, what: str) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except redis.RedisError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"Redis Cluster test fixture: {what} within {READY_SECONDS:.0f} s")


@contextmanager
def running_cluster(base: Path) -> Iterator[str]:
    """Start the nodes, create the cluster, wait for ``cluster_state:ok``; yields a node's URL
    (a ``RedisCluster`` finds the others) and stops every node afterwards."""
    busy = [p for p in PORTS if _in_use(p)]
    if busy:
        raise RuntimeError(f"Redis Cluster test fixture: port(s) {busy} already in use")
    procs: list[subprocess.Popen] = []
    try:
        for port in PORTS:
            work = base / str(port)
            work.mkdir(parents=True)
            procs.append(subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                 "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                 "--cluster-node-timeout", "5000", "--dir", str(work), "--save", "",
                 "--appendonly", "no", "--logfile", str(work / "redis.log")],
                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=real_clock_env()))
        for port in PORTS:
            _wait(lambda port=port: redis.Redis(port=port).ping(), f"node {port} not up")
        subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in PORTS),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=60, env=real_clock_env())
        for port in PORTS:
            _wait(lambda port=port: b"cluster_state:ok"
                  in redis.Redis(port=port).execute_command("CLUSTER", "INFO"),
                  f"node {port} not cluster_state:ok")
        yield f"redis://127.0.0.1:{PORTS[0]}/0"
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
