"""The commands that read the build contexts, for tests that a context sending what no build may is
refused by each of them alike."""

from __future__ import annotations

from pathlib import Path

COMMANDS = ["plan", "explain", "build", "graph", "export meta", "export bake"]


def commands(root: Path, out: Path) -> dict[str, list[str]]:
    """Each command's arguments over root, writing below out."""
    common = ["--root", str(root), "--state-dir", str(out / "state"), "--log-format", "json"]
    return {
        "plan": ["plan", *common],
        "explain": ["explain", "--node", "leaf", *common],
        "build": ["build", "--no-test", *common],
        "graph": ["graph", "--format", "mermaid", "--out", str(out / "graph.mmd"), *common],
        "export meta": ["export", "meta", "--out", str(out / "meta"), *common],
        "export bake": ["export", "bake", "--out", str(out / "bake.json"), *common],
    }
