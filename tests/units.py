"""deploy/'s systemd units, read as systemd reads them, so a test runs the very commands the
units run: ``ExecStart`` with systemd's ``${VAR}``/``$VAR`` and ``%`` specifiers expanded, and
the install paths of docs/deploy.md (``/opt/ivr``, its ``.venv``) mapped to this checkout and
this interpreter's environment. Nothing here is a second copy of a command line."""

from __future__ import annotations

import re
import shlex
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
INSTALL = "/opt/ivr"  # where docs/deploy.md puts the checkout; its venv is INSTALL/.venv
ENV_TEMPLATE = DEPLOY / "ivr.env.example"

_SPECIFIERS = {"%H": socket.gethostname, "%t": lambda: "/run", "%%": lambda: "%"}
_BRACED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_BARE = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")


def read_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """Sections of a unit file, each key with every value it was given (``Wants=`` may come
    more than once); comments and blank lines skipped, as systemd does."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def read_env_file(path: Path = ENV_TEMPLATE) -> dict[str, str]:
    """``KEY=VALUE`` lines of an EnvironmentFile (comments skipped)."""
    env: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def template_names(path: Path = ENV_TEMPLATE) -> set[str]:
    """Every variable the template names, set or left commented out (``#NAME=...``)."""
    return set(re.findall(r"^#?([A-Z][A-Z0-9_]+)=", path.read_text(), re.M))


def specifiers(word: str, run: str = "/run") -> str:
    """systemd's ``%H`` (host name), ``%t`` (the runtime directory's root: ``run`` here,
    /run for a system unit) and ``%%``."""
    for spec, value in _SPECIFIERS.items():
        word = word.replace(spec, run if spec == "%t" else value())
    return word


def expand(word: str, env: dict[str, str]) -> list[str]:
    """One ExecStart word as systemd expands it: ``$VAR`` alone splits on whitespace,
    ``${VAR}`` is substituted in place; specifiers (``%H``) first. An unset variable is an
    error here (systemd would pass an empty string, a unit bug worth a failure)."""
    word = specifiers(word)
    bare = _BARE.match(word)
    if bare:
        return env[bare.group(1)].split()
    return [_BRACED.sub(lambda m: env[m.group(1)], word)]


def local_path(word: str, venv_bin: Path | None = None) -> str:
    """A path of the installed layout as it is here: ``/opt/ivr/.venv/bin/X`` is this
    interpreter's ``X``, anything else under ``/opt/ivr`` is in this checkout."""
    venv_bin = venv_bin or Path(sys.executable).parent
    if word.startswith(f"{INSTALL}/.venv/bin/"):
        return str(venv_bin / word.removeprefix(f"{INSTALL}/.venv/bin/"))
    if word == INSTALL or word.startswith(f"{INSTALL}/"):
        return str(ROOT) + word.removeprefix(INSTALL)
    return word


def exec_start(unit: str, env: dict[str, str]) -> list[str]:
    """The argv ``unit``'s ExecStart runs, with ``env`` (the EnvironmentFile's values and
    systemd's RUNTIME_DIRECTORY/STATE_DIRECTORY) expanded and paths made local."""
    [line] = read_unit(UNITS / unit)["Service"]["ExecStart"]
    argv = [part for word in shlex.split(line) for part in expand(word, env)]
    return [local_path(word) for word in argv]


def environment(unit: str, run: str = "/run") -> dict[str, str]:
    """The unit's own ``Environment=`` settings (specifiers expanded, ``%t`` as ``run``)."""
    pairs = read_unit(UNITS / unit)["Service"].get("Environment", [])
    return dict(specifiers(pair, run).partition("=")[::2] for pair in pairs)


def working_directory(unit: str) -> Path:
    [where] = read_unit(UNITS / unit)["Service"].get("WorkingDirectory", [str(ROOT)])
    return Path(local_path(where))


def local_copy(unit_text: str) -> str:
    """A unit file's text with the install paths made local (for ``systemd-analyze verify``,
    which checks that each command exists)."""
    venv_bin = str(Path(sys.executable).parent)
    return unit_text.replace(f"{INSTALL}/.venv/bin/", venv_bin + "/").replace(
        f"{INSTALL}/", f"{ROOT}/")
