"""deploy/'s files agree with systemd, Caddy, the code and each other, and the lock files
with pyproject.toml (tests/test_deploy_proxy.py runs the units' commands behind the proxy).

- ``systemd-analyze verify`` passes every unit without a word (systemd cannot run here, so
  this is its own check of each directive, dependency and command);
- ``caddy validate`` accepts the production Caddyfile as written;
- every variable in the env-file template is one the code reads, and every variable the
  server's processes read is in the template (or named below as not for production);
- the units' queues are config.yaml's, gunicorn's socket is the one Caddy proxies to, and
  REDIS_URL is the socket the Redis unit makes;
- requirements.lock pins every runtime dependency and no dev tool; the dev lock pins the
  same versions plus the dev extras.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from conftest import ROOT, real_clock_env
from units import (
    DEPLOY,
    UNITS,
    environment,
    exec_start,
    local_copy,
    read_env_file,
    read_unit,
    template_names,
)

from ivr.config import load_config

# Read by the code, deliberately absent from the production env file.
NOT_FOR_PRODUCTION = {
    "IVR_INSECURE_SKIP_SIGNATURE": "switches the signature check off (development only)",
    "IVR_BIND": "ivr serve's address (systemd runs gunicorn itself)",
    "IVR_WORKERS": "ivr serve's worker count (ivr-web.service says --workers)",
    "TWILIO_API_BASE": "points REST calls at the Twilio stand-in (tests)",
    "IVR_SIM_REDIS_URL": "ivr simulate's scratch database (a planning tool)",
    "PROMETHEUS_MULTIPROC_DIR": "set by ivr-web.service itself (Environment=)",
}
SERVICES = sorted(p.name for p in UNITS.glob("*.service"))


def _code_reads() -> set[str]:
    """Environment variables the app, flows and voicemail read (``os.environ.get("X"``,
    ``os.environ["X"]``, ``env.get("X"`` of a mapping passed the environment)."""
    found: set[str] = set()
    for package in ("ivr", "flows", "voicemail"):
        for path in (ROOT / package).rglob("*.py"):
            found |= set(re.findall(
                r"(?:\bos\.environ|\benv)(?:\.get\(|\[)\s*\"([A-Z][A-Z0-9_]+)\"",
                path.read_text()))
    return found


def test_systemd_analyze_verify_passes_every_unit(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze is not installed (scripts/test installs Debian's systemd)")
    names = [*SERVICES, "ivr.target"]
    for name in names:  # the install paths made local: verify checks each command exists
        (tmp_path / name).write_text(local_copy((UNITS / name).read_text()))
    done = subprocess.run([analyze, "verify", "--man=no", *(str(tmp_path / n) for n in names)],
                          capture_output=True, text=True, env=real_clock_env(), timeout=120)
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), (
        done.stdout + done.stderr)


def test_every_service_is_part_of_the_target_and_restarts():
    target = read_unit(UNITS / "ivr.target")
    wanted = set(" ".join(target["Unit"]["Wants"]).split())
    assert wanted == set(SERVICES)
    for name in SERVICES:
        unit = read_unit(UNITS / name)
        assert unit["Unit"]["PartOf"] == ["ivr.target"], name
        assert unit["Install"]["WantedBy"] == ["ivr.target"], name
        assert unit["Service"]["Restart"] == ["always"], name
        assert unit["Service"]["User"] == ["ivr"], name


def test_the_production_caddyfile_is_valid(tmp_path):
    if not shutil.which("caddy"):
        pytest.skip("caddy is not installed (scripts/test installs Debian's caddy)")
    done = subprocess.run(
        ["caddy", "validate", "--config", str(DEPLOY / "caddy" / "Caddyfile"), "--adapter",
         "caddyfile"], capture_output=True, text=True, timeout=60,
        env=real_clock_env() | {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path),
                                "XDG_CONFIG_HOME": str(tmp_path)})
    assert done.returncode == 0 and "Valid configuration" in done.stdout, done.stderr


def test_the_env_template_names_what_the_code_reads():
    reads = _code_reads()
    named = template_names()
    assert named - reads == set(), "the template names variables nothing reads"
    assert reads - named - set(NOT_FOR_PRODUCTION) == set(), (
        "the code reads variables the production env file does not mention")
    assert {"PUBLIC_BASE_URL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "IVR_SECRET_KEY",
            "IVR_METRICS_TOKEN", "REDIS_URL"} <= set(read_env_file())
    assert read_env_file()["PUBLIC_BASE_URL"].startswith("https://")


def test_the_units_agree_with_config_caddy_and_the_env_file():
    env = read_env_file()
    config = load_config(ROOT / "config.yaml")
    queues = [config.callbacks.rq_queue, config.callbacks.sms_rq_queue]
    assert exec_start("ivr-worker.service", env)[-2:] == queues
    assert exec_start("ivr-scheduler.service", env)[-2:] == queues
    assert env["RQ_REDIS_URL"] == env["REDIS_URL"]  # one Redis: jobs commit with the state
    web = exec_start("ivr-web.service", {"RUNTIME_DIRECTORY": "/run/ivr-web"})
    bind = web[web.index("--bind") + 1]
    upstream = re.search(r"\{\$IVR_UPSTREAM:([^}]+)\}",
                         (DEPLOY / "caddy" / "ivr-proxy.caddy").read_text()).group(1)
    assert bind == "unix:/run/ivr-web/gunicorn.sock" and upstream == "unix/" + bind[5:]
    [runtime] = read_unit(UNITS / "ivr-web.service")["Service"]["RuntimeDirectory"]
    assert environment("ivr-web.service")["PROMETHEUS_MULTIPROC_DIR"] == f"/run/{runtime}"
    redis = exec_start("ivr-redis.service", {"RUNTIME_DIRECTORY": "/run/ivr-redis",
                                             "STATE_DIRECTORY": "/var/lib/ivr-redis"})
    socket = redis[redis.index("--unixsocket") + 1]
    assert env["REDIS_URL"] == f"unix://{socket}?db=0"
    assert env["IVR_SPOOL_DIR"].startswith("/var/lib/ivr/")  # the units' StateDirectory=ivr


def _pins(lock: Path) -> dict[str, str]:
    return {m[0].lower().replace("_", "-"): m[1]
            for m in re.findall(r"^([A-Za-z0-9_.-]+)==([^ ;\\]+)", lock.read_text(), re.M)}


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_the_lock_files_pin_pyproject_runtime_without_dev_tools():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime, dev = _pins(ROOT / "requirements.lock"), _pins(ROOT / "requirements-dev.lock")
    runtime_deps = {_name(r) for r in project["dependencies"]}
    dev_deps = {_name(r) for r in project["optional-dependencies"]["dev"]}
    assert runtime_deps <= set(runtime), "a dependency is not locked: run scripts/lock"
    assert dev_deps <= set(dev), "a dev dependency is not locked: run scripts/lock"
    assert not {"pytest", "playwright", "ruff", "import-linter", "time-machine"} & set(runtime)
    assert {k: dev[k] for k in runtime} == runtime  # the same versions in both
    for lock in ("requirements.lock", "requirements-dev.lock"):
        text = (ROOT / lock).read_text()
        blocks = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", text.split("\n", 2)[2])
        assert all("--hash=sha256:" in b for b in blocks), f"{lock}: a pin without a hash"


BOOLEAN_FLAGS = {"--no-control-socket"}
# Where the units differ from ivr serve on purpose: the address (a unix socket, not a port),
# the worker count (in the unit, not IVR_WORKERS) and the Redis URL (the env file's).
PER_DEPLOYMENT = {"--bind", "--workers", "--url"}


def _options(argv: list[str]) -> dict[str, str]:
    """``--flag value`` pairs (and bare boolean flags) of a command line."""
    found: dict[str, str] = {}
    for i, word in enumerate(argv):
        if word.startswith("--"):
            found[word] = "" if word in BOOLEAN_FLAGS else argv[i + 1]
    return found


def test_the_units_run_what_ivr_serve_runs():
    """Every option ``ivr serve`` gives gunicorn and the RQ worker (``serve.child_specs``),
    bar the per-deployment ones, is in the unit's command too: a change to one is a change
    to both, or this fails."""
    from ivr import serve

    env = read_env_file()
    specs = {s.name: s.argv for s in serve.child_specs("127.0.0.1:5000", 2, env["REDIS_URL"],
                                                        ["callbacks", "messages"], env)}
    pairs = [("web", "ivr-web.service"), ("worker", "ivr-worker.service")]
    for name, unit in pairs:
        ours = _options(exec_start(unit, env | {"RUNTIME_DIRECTORY": "/run/x"}))
        theirs = _options(specs[name])
        for flag, value in theirs.items():
            if flag not in PER_DEPLOYMENT:
                assert ours.get(flag) == value, f"{unit} lacks {flag} {value} (ivr serve has it)"
        assert Path(specs[name][0]).name == Path(exec_start(unit, env | {
            "RUNTIME_DIRECTORY": "/run/x"})[0]).name
    assert specs["web"][-1] == exec_start("ivr-web.service", {"RUNTIME_DIRECTORY": "/x"})[-1]
