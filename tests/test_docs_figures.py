"""Figures quoted in the docs are what bench/docs_figures.py renders from its stored runs
(issue 17): a figure typed or edited by hand, or a run stored and not written into its doc,
fails here. The runs themselves are not repeated (``--measure`` takes minutes)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import docs_figures  # noqa: E402 - bench/ is not a package


@pytest.mark.parametrize("name", sorted(docs_figures.BLOCKS))
def test_each_docs_block_is_its_stored_run_rendered(name):
    block = docs_figures.BLOCKS[name]
    stored = docs_figures.load(name)
    assert stored["command"] == docs_figures.command_line(block)
    assert docs_figures.in_doc(block) == docs_figures.render(name, stored), (
        f"{block.doc.name}: run bench/docs_figures.py --write")


def test_a_block_is_rewritten_in_place_from_the_stored_run(tmp_path, monkeypatch):
    stored = {"command": "ivr simulate --profile p.yaml --hours 9-10 --seed 1",
              "lines": ["service level (answered within 120 s): 90.4% (1 of 1)"],
              "date": "2026-12-04", "wall_seconds": 3.0, "cpu_seconds": 2.5,
              "machine": "2 cores"}
    (tmp_path / "tiny.json").write_text(json.dumps(stored))
    doc = tmp_path / "doc.md"
    doc.write_text("before\n<!-- figures:tiny -->\nold 90.1%\n<!-- /figures:tiny -->\nafter\n")
    monkeypatch.setattr(docs_figures, "RESULTS", tmp_path)
    block = docs_figures.Block("tiny", doc, "p.yaml", "9-10", 1)
    assert docs_figures.write(block)
    text = doc.read_text()
    assert text.startswith("before\n<!-- figures:tiny (") and text.endswith("-->\nafter\n")
    assert "old 90.1%" not in text and "90.4% (1 of 1)" in text
    assert docs_figures.in_doc(block) == docs_figures.render("tiny", stored)
    assert not docs_figures.write(block)  # already current
