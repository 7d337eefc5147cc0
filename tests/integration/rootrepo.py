"""A committed repository holding one stack whose node `root` is the demo's Debian rootfs (amd64) under a
Dockerfile of the test's own: the secrets tests build it on the real engine."""

from __future__ import annotations

import os
from pathlib import Path

from tests.engine.engine_fakes import commit_all


def root_repo(repo: Path, repo_root: Path, stack: str, stack_text: str, dockerfile: str) -> Path:
    """repo/stacks/<stack>/ with stack_text and root/Dockerfile (beside rootfs/amd64.tar.gz), committed
    (the state folder ignored); the stack folder."""
    folder = repo / "stacks" / stack
    (folder / "root/rootfs").mkdir(parents=True)
    (folder / "stack.yaml").write_text(stack_text, encoding="utf-8")
    (folder / "root/Dockerfile").write_text(dockerfile, encoding="utf-8")
    os.link(repo_root / "stacks/demo/os/rootfs/amd64.tar.gz", folder / "root/rootfs/amd64.tar.gz")
    (repo / ".gitignore").write_text("state/\n", encoding="utf-8")
    commit_all(repo, stack)
    return folder
