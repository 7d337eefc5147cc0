"""Run test set-up: the repository most of these tests build."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.engine_fakes import write_stack


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A repository holding the tiny stack (a test module may define its own root)."""
    write_stack(tmp_path / "repo")
    return tmp_path / "repo"
