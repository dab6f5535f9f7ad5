"""Every bad command line or config value ends in one line on stderr naming what to fix,
and a non-zero exit: never a traceback (issue 17)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config.yaml"


def ivr(*argv: str, env: dict[str, str] | None = None, cwd: Path = ROOT,
        timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``ivr`` as a person would, in a fresh process."""
    base = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "IVR_CONFIG")}
    base["PYTHONPATH"] = str(ROOT)
    base["IVR_CONFIG"] = str(CONFIG)
    base.update(env or {})
    return subprocess.run([sys.executable, "-m", "ivr.cli", *argv], capture_output=True,
                          text=True, cwd=cwd, env=base, timeout=timeout, stdin=subprocess.DEVNULL)


def redis_env() -> dict[str, str]:
    return {"REDIS_URL": os.environ.get("IVR_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")}


PROFILE = str(ROOT / "profiles" / "weekday.yaml")
SIM = ["simulate", "--profile", PROFILE, "--redis-url", "redis://127.0.0.1:9/11"]

BAD_COMMAND_LINES = [
    (["call", "--at", "tomorrow", "--keys", "9"], "--at"),
    (["call", "--at", "2026-13-01", "--keys", "9"], "--at"),
    (["call", "--to", "+441234567890", "--keys", "9"], "--to"),
    (["report", "--from", "2026-12-01", "--to", "2026-12-01", "--demo",
      "--output", "/nonexistent/x"], "--output"),
    (["report", "--from", "2026-13-01", "--to", "2026-12-01", "--demo"], "--from"),
    ([*SIM, "--agents-for", "1.5"], "--agents-for"),
    ([*SIM, "--agents", "-3"], "--agents"),
    ([*SIM, "--agents", "100000"], "--agents"),
    ([*SIM, "--agents", "3", "--agents-for", "0.8"], "--agents-for"),
    (["plan", "--target", "2"], "--target"),
    (["plan", "--weeks", "0"], "--weeks"),
    (["plan", "--profile", PROFILE, "--simulate"], "--simulate"),
    (["plan", "--until", "0001-01-01"], "--until"),
    (["plan", "--profile", PROFILE, "--simulate", "--redis-url", "redis://127.0.0.1:9/0"],
     "--redis-url"),
    (["plan", "--weeks", "52", "--until", "0001-01-08"], "--until"),
    (["call", "--url", "http://127.0.0.1:9", "--at", "2026-12-01 10:00", "--keys", "9"],
     "--at"),
    (["call", "--url", "http://127.0.0.1:9", "--staffed", "--keys", "9"], "--staffed"),
    (["call", "--url", "http://127.0.0.1:9", "--keys", "9"], "127.0.0.1:9"),
    (["agents", "add", "--name", ""], "--name"),
    ([*SIM, "--agents", "3", "--html", "/proc/no-such-folder/day.html"], "--html"),
    ([*SIM, "--agents", "3", "--html", "/tmp/"], "--html"),
    (["call", "--advisor", "--to", "+441206282222"], "--advisor"),
    (["call", "--twilio", "http://127.0.0.1:9"], "--twilio"),
    (["call", "--twilio", "http://127.0.0.1:9", "--keys", "2"], "--keys"),
    (["local-twilio", "--app", "http://127.0.0.1:9", "--speech-rate", "0"], "--speech-rate"),
    (["local-twilio", "--app", "notaurl"], "--app"),
    (["wallboard-link", "create", "--label", "Floor 2", "--base-url", "notaurl"],
     "--base-url"),
    (["wallboard-link", "revoke"], "id"),
    (["wallboard-link", "create"], "--label"),
]


@pytest.mark.parametrize("argv,names", BAD_COMMAND_LINES,
                         ids=[" ".join(a) for a, _ in BAD_COMMAND_LINES])
def test_a_bad_command_line_is_one_line_naming_the_argument(argv, names):
    done = ivr(*argv, env=redis_env())
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert names in lines[0]


LOCAL_TWILIO = ["local-twilio", "--app", "http://127.0.0.1:9"]
SIGNED = [  # past the auth-token check, so the argument itself is what is refused
    ([*LOCAL_TWILIO, "--bind", "127.0.0.1:99999"], "--bind"),
    ([*LOCAL_TWILIO, "--bind", "nonsense"], "--bind"),
    ([*LOCAL_TWILIO, "--bind", "127.0.0.1:0", "--url-file", "/proc/no-such-folder/url"],
     "--url-file"),
]


@pytest.mark.parametrize("argv,names", SIGNED, ids=[" ".join(a) for a, _ in SIGNED])
def test_a_bad_local_twilio_argument_is_one_line(argv, names):
    done = ivr(*argv, env={**redis_env(), "TWILIO_AUTH_TOKEN": "test-token"}, timeout=20)
    assert done.returncode == 2, done.stdout
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert names in lines[0]


@pytest.mark.parametrize("argv", [["wallboard-link", "list"], ["controls", "list"],
                                  ["plan"], ["doctor"]])
def test_a_missing_config_file_is_one_line_naming_it(argv, tmp_path):
    missing = str(tmp_path / "no-such-config.yaml")
    done = ivr(*argv, env={**redis_env(), "IVR_CONFIG": missing})
    assert done.returncode == 2, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert missing in lines[0] and "IVR_CONFIG" in lines[0]


@pytest.mark.parametrize("argv,variable", [
    (["controls", "list"], "REDIS_URL"), (["plan"], "REDIS_URL"), (["doctor"], "REDIS_URL"),
    (["wallboard-link", "list"], "REDIS_URL"), (["agents", "list"], "REDIS_URL"),
    (["doctor"], "RQ_REDIS_URL"),
])
def test_a_malformed_redis_url_is_one_line_naming_the_variable(argv, variable):
    env = {**redis_env(), variable: "http://user:secret@example.invalid/0"}
    done = ivr(*argv, env=env)
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: {variable}:") and "secret" not in lines[0]


def _edited(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _closure(d):
    d["hours"]["closures"] = ["2026-12-32"]


def _same_key(d):
    d["menu"]["options"][1]["key"] = d["menu"]["options"][0]["key"]


def _empty_welcome(d):
    d["messages"]["welcome"] = ""


def _missing_hold_audio(d):
    d["queue"]["hold_audio"]["url"] = "/static/no-such-hold.wav"


def _mapping_for_a_string(d):
    d["messages"]["welcome"] = {"text": "hello"}


def _mapping_for_a_number(d):
    d["queue"]["voicemail_after"] = {"seconds": 120}


BAD_CONFIGS = [
    (_closure, "hours.closures"),
    (_same_key, "menu.options"),
    (_empty_welcome, "messages.welcome"),
    (_missing_hold_audio, "queue.hold_audio.url"),
    (_mapping_for_a_string, "messages.welcome"),
    (_mapping_for_a_number, "queue.voicemail_after"),
]


@pytest.mark.parametrize("edit,names", BAD_CONFIGS, ids=[e.__name__ for e, _ in BAD_CONFIGS])
def test_a_bad_config_value_is_one_line_naming_the_key(tmp_path, edit, names):
    done = ivr("check-config", str(_edited(tmp_path, edit)))
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert names in lines[0]
    assert "(got a mapping)" not in lines[0]


def test_simulate_refuses_to_flush_a_database_it_did_not_write(tmp_path):
    """The shared-Redis case: a database holding the service's keys is never flushed; an
    empty one is used, marked, and flushed again by the next simulation."""
    import redis

    from ivr.sim import simulate_cli

    url = os.environ.get("IVR_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.set("{ivr}:agent:1001", "the service's")
    try:
        problem = simulate_cli.not_ours(client)
        assert problem and "1 key(s) no simulation wrote" in problem
        client.flushdb()
        assert simulate_cli.not_ours(client) is None
        client.set(simulate_cli.MARK, "ivr simulate")
        client.set("{ivr}:agent:1001", "a simulated advisor")
        assert simulate_cli.not_ours(client) is None
    finally:
        client.flushdb()


def test_simulate_html_makes_a_missing_folder(tmp_path):
    from ivr.sim.simulate_cli import html_problem

    target = tmp_path / "reports" / "december" / "day.html"
    assert html_problem(str(target)) is None
    assert target.parent.is_dir()
