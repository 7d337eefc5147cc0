"""Regression cases recorded from the real engine: the files BuildKit sent for a .dockerignore and a tree.

dockerignore_engine_cases.json holds the cases issue 14 reported, hand-picked ones for RE2 classes,
escapes and the walk's pruning rule, and every generated case (seed 14 of
tests/integration/test_dockerignore_differential.py) on which the old matcher diverged from the
engine. Each "sent" list is what ``FROM scratch`` + ``COPY --from=<context> /`` exported with
``--output type=local`` on Docker 26.1.5 / buildx 0.13.1; this test needs no engine.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graph.context.dockerignore import read_ignore_patterns
from graph.context.files import list_context

RECORDED = json.loads((Path(__file__).parent / "dockerignore_engine_cases.json").read_text(encoding="utf-8"))
CASES = RECORDED["cases"]


def _context(root: Path, patterns: list[str], files: list[str]) -> Path:
    """A context at root holding files (each containing its path) and the .dockerignore lines."""
    for relative in files:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(relative + "\n", encoding="utf-8")
    (root / ".dockerignore").write_text("".join(line + "\n" for line in patterns), encoding="utf-8")
    return root


@pytest.mark.parametrize("case", CASES, ids=[f"{n}:{' '.join(c['patterns'])}" for n, c in enumerate(CASES)])
def test_counted_files_equal_what_the_engine_sent(tmp_path: Path, case: dict[str, list[str]]) -> None:
    context = _context(tmp_path, case["patterns"], case["files"])
    patterns = read_ignore_patterns(context, context / "Dockerfile")
    assert [item.path for item in list_context(context, patterns)] == case["sent"]


def test_the_recorded_cases_are_the_ones_described() -> None:
    origins = [case["origin"] for case in CASES]
    assert origins.count("issue 14") == 3
    assert all(set(case["sent"]) <= {*case["files"], ".dockerignore"} for case in CASES)
