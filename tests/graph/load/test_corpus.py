"""Every hostile or broken stack file found so far (corpus/) is refused through the CLI with exit 2 and
one `file:line: what (how to fix)` line, quickly.

Add a file to corpus/ for each crash, hang or blow-up the fuzzing (`make fuzz`) finds.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from engine.cli.main import main

CORPUS = Path(__file__).parent / "corpus"
CPU_SECONDS = 2.0
MESSAGE_RE = re.compile(r"error: s/stack\.yaml:[0-9]+: [^\n]+ \([^\n]+\)\n")


def plan_offline(root: Path, *extra: str) -> int:
    return main(["plan", "--offline", "--root", str(root), "--log-format", "json", "s", *extra])


def install(root: Path, corpus_file: Path) -> None:
    """Put corpus_file in place as the stack s (nodes may use `dockerfile: stack.yaml`)."""
    (root / "s").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(corpus_file, root / "s" / "stack.yaml")


@pytest.mark.parametrize("corpus_file", sorted(CORPUS.iterdir()), ids=lambda path: path.name)
def test_corpus_file_is_refused_with_one_located_message(tmp_path: Path, corpus_file: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    install(tmp_path, corpus_file)
    started = time.process_time()
    assert plan_offline(tmp_path) == 2
    assert time.process_time() - started < CPU_SECONDS
    captured = capsys.readouterr()
    assert MESSAGE_RE.fullmatch(captured.err), captured.err
    assert captured.out == ""


def test_the_corpus_is_not_empty() -> None:
    assert len(list(CORPUS.iterdir())) >= 20
