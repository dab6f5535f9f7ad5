"""Where a command's document goes: ``--output FILE`` or standard output (report, plan).

One place for the two checks every such command needs: the folder exists before any work
starts, and a write that fails is one line naming ``--output``, exit 1.
"""

from __future__ import annotations

import sys
from pathlib import Path


def output_problem(path: str | None) -> str | None:
    """Why ``--output path`` cannot be written (no such folder), or None: checked before the
    work, so a long run does not end in an unwritable file."""
    if not path:
        return None
    target = Path(path).resolve()
    if not target.parent.is_dir():
        return f"--output: no folder {target.parent} to write {target.name} in"
    return None


def deliver(text: str, path: str | None, what: str) -> int:
    """Write ``text`` to ``path`` (saying so on stderr, with ``what`` it is), else to stdout;
    the exit code: 0, or 1 with one line when the file cannot be written."""
    if not path:
        sys.stdout.write(text)
        return 0
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"error: --output: cannot write {path} ({exc.strerror})", file=sys.stderr)
        return 1
    print(f"wrote {path} ({what})", file=sys.stderr)
    return 0
