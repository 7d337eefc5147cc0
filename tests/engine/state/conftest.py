"""State test set-up: a small git repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.engine_fakes import commit_all


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with one commit: tracked files, a .gitignore, a nested folder."""
    repo = tmp_path / "repo"
    (repo / "stacks" / "t" / "a").mkdir(parents=True)
    (repo / "stacks" / "t" / "a" / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    (repo / "stacks" / "t" / "stack.yaml").write_text("stack: t\n", encoding="utf-8")
    (repo / "README.md").write_text("v1\n", encoding="utf-8")
    (repo / "old.txt").write_text("old\n", encoding="utf-8")
    (repo / ".gitignore").write_text("*.log\nstate/\n", encoding="utf-8")
    commit_all(repo, "one")
    return repo
