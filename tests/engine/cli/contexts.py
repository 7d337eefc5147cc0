"""The commands that read the build contexts, for tests that a context sending what no build may is
refused by each of them alike."""

from __future__ import annotations

from pathlib import Path

COMMANDS = ["plan", "plan --offline", "explain", "build", "graph", "graph --offline", "export meta",
            "export bake"]


def commands(root: Path, out: Path) -> dict[str, list[str]]:
    """Each command's arguments over root, writing below out."""
    common = ["--root", str(root), "--state-dir", str(out / "state"), "--log-format", "json"]
    return {
        "plan": ["plan", *common],
        "plan --offline": ["plan", "--offline", *common],
        "explain": ["explain", "--node", "leaf", *common],
        "build": ["build", "--no-test", *common],
        "graph": ["graph", "--format", "mermaid", "--out", str(out / "graph.mmd"), *common],
        "graph --offline": ["graph", "--offline", "--format", "mermaid", "--out", str(out / "graph.mmd"),
                            *common],
        "export meta": ["export", "meta", "--out", str(out / "meta"), *common],
        "export bake": ["export", "bake", "--out", str(out / "bake.json"), *common],
    }
