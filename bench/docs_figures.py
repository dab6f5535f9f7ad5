"""The figures quoted in the docs, printed by the runs that make them, never typed by hand.

Each block of figures in a doc sits between ``<!-- figures:NAME -->`` and
``<!-- /figures:NAME -->`` and is exactly what ``render(NAME, stored results)`` gives; the
results are stored in ``bench/results/NAME.json`` by ``--measure``, which reruns the command
the block quotes. ``tests/test_docs_figures.py`` checks every block against its stored
results, so a figure edited by hand, or results measured and not written into the doc, fail.

    .venv/bin/python bench/docs_figures.py                       # print the blocks
    .venv/bin/python bench/docs_figures.py --measure --redis-url redis://127.0.0.1:6379/9
    .venv/bin/python bench/docs_figures.py --write               # put them in the docs
    .venv/bin/python bench/docs_figures.py --check               # exit 1 if a doc differs

``--measure`` runs the simulation (about a minute of CPU) on a database of its own, which
``ivr simulate`` refuses to flush when it holds keys no simulation wrote.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import re
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


@dataclass(frozen=True)
class Block:
    """One block of figures: the doc it is in and the command whose output it quotes."""

    name: str
    doc: Path
    profile: str
    hours: str
    seed: int
    agents_for: float | None = None  # staffed by Erlang C for this share (else the shifts)


BLOCKS = {
    "shifts": Block("shifts", ROOT / "docs" / "simulation.md", "profiles/weekday-shifts.yaml",
                    "9-17", 1),
    "agents-for": Block("agents-for", ROOT / "docs" / "benchmarks.md", "profiles/weekday.yaml",
                        "9-17", 1, agents_for=0.8),
}


def command_line(block: Block) -> str:
    staffed = f" --agents-for {block.agents_for:g}" if block.agents_for is not None else ""
    return (f"ivr simulate --profile {block.profile}{staffed} --hours {block.hours} "
            f"--seed {block.seed}")


def measure(block: Block, redis_url: str) -> dict:
    """Run the block's command itself (``ivr simulate``, in this process) and keep what it
    printed, so the doc shows exactly what a reader running the same line sees."""
    from ivr.cli import main as ivr

    argv = [*command_line(block).split()[1:], "--redis-url", redis_url, "--quiet"]
    printed = io.StringIO()
    started, cpu = time.monotonic(), time.process_time()
    with contextlib.redirect_stdout(printed):
        status = ivr(argv)
    if status:
        raise SystemExit(f"error: {command_line(block)} exited {status}")
    lines = [line for line in printed.getvalue().splitlines() if line.strip()]
    return {"command": command_line(block), "lines": lines,
            "date": datetime.now(UTC).date().isoformat(),
            "wall_seconds": round(time.monotonic() - started, 1),
            "cpu_seconds": round(time.process_time() - cpu, 1),
            "machine": f"{os.cpu_count()} cores, {platform.machine()}, "
                       f"Python {platform.python_version()}"}


def render(name: str, stored: dict) -> str:
    """The block as it stands in the doc, markers included."""
    return "\n".join([
        f"<!-- figures:{name} (bench/docs_figures.py --write, from bench/results/{name}.json) -->",
        f"`{stored['command']}` on {stored['date']} ({stored['wall_seconds']:g} s of wall "
        f"time, {stored['cpu_seconds']:g} s of CPU; {stored['machine']}):",
        "",
        "```text",
        *stored["lines"],
        "```",
        f"<!-- /figures:{name} -->",
    ])


def pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"<!-- figures:{re.escape(name)}[ (].*?<!-- /figures:{re.escape(name)} -->",
                      re.S)


def in_doc(block: Block) -> str | None:
    found = pattern(block.name).search(block.doc.read_text(encoding="utf-8"))
    return found.group(0) if found else None


def load(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text(encoding="utf-8"))


def write(block: Block) -> bool:
    """Put the block in its doc (in place of the old one); True if the doc changed."""
    text = block.doc.read_text(encoding="utf-8")
    new = render(block.name, load(block.name))
    if not pattern(block.name).search(text):
        raise SystemExit(f"error: {block.doc}: no <!-- figures:{block.name} --> block to fill")
    changed = pattern(block.name).sub(lambda _: new, text)
    block.doc.write_text(changed, encoding="utf-8")
    return changed != text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--measure", action="store_true", help="rerun and store the results")
    parser.add_argument("--write", action="store_true", help="put the blocks into the docs")
    parser.add_argument("--check", action="store_true", help="exit 1 if a doc's block differs")
    parser.add_argument("--redis-url", default=os.environ.get("IVR_SIM_REDIS_URL"),
                        help="with --measure: a database of the simulation's own "
                             "(default IVR_SIM_REDIS_URL)")
    parser.add_argument("--only", choices=sorted(BLOCKS), help="one block")
    args = parser.parse_args(argv)
    blocks = [BLOCKS[args.only]] if args.only else list(BLOCKS.values())
    if args.measure:
        if not args.redis_url:
            parser.error("--measure needs --redis-url (or IVR_SIM_REDIS_URL)")
        RESULTS.mkdir(exist_ok=True)
        for block in blocks:
            stored = measure(block, args.redis_url)
            (RESULTS / f"{block.name}.json").write_text(json.dumps(stored, indent=2) + "\n",
                                                        encoding="utf-8")
    stale = 0
    for block in blocks:
        if args.write:
            print(f"{block.doc.relative_to(ROOT)}: {block.name} "
                  f"{'rewritten' if write(block) else 'unchanged'}")
        elif args.check:
            same = in_doc(block) == render(block.name, load(block.name))
            stale += not same
            print(f"{block.doc.relative_to(ROOT)}: {block.name} "
                  f"{'matches' if same else 'differs from'} bench/results/{block.name}.json")
        else:
            print(render(block.name, load(block.name)))
    return 1 if stale else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
