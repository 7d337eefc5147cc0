"""A tiny two-node stack (FROM scratch + COPY of a small file) that the publishing tests build into the
session's throwaway registry, and what they read back."""

from __future__ import annotations

import time
from pathlib import Path

from engine.registry.client import RegistryClient
from engine.run import api
from engine.run.settings import BuildSettings

QUIET = BuildSettings(jobs=2, test=False)
STACK = """\
stack: pub
registry: localhost:5000/pub
platforms: [linux/amd64, linux/arm64]
nodes:
  root:  {kind: os, dockerfile: root/Dockerfile, tag: "1"}
  child: {kind: sdk, parent: root, dockerfile: child/Dockerfile, tag: "{child_tag}"}
"""


def write_stack(root: Path, root_text: str, child_text: str, child_tag: str = "1") -> None:
    """root (COPY root.txt) → child (COPY child.txt); the texts make the content."""
    base = root / "stacks" / "pub"
    for name, text in (("root", root_text), ("child", child_text)):
        (base / name).mkdir(parents=True, exist_ok=True)
        (base / name / f"{name}.txt").write_text(text, encoding="utf-8")
    (base / "root" / "Dockerfile").write_text("FROM scratch\nCOPY root.txt /root.txt\n", encoding="utf-8")
    (base / "child" / "Dockerfile").write_text("FROM parent\nCOPY child.txt /child.txt\n", encoding="utf-8")
    (base / "stack.yaml").write_text(STACK.replace("{child_tag}", child_tag), encoding="utf-8")


def options_for(root: Path, prefix: str) -> api.Options:
    return api.Options(root=root, registry=prefix, state_dir=root / "state")


def unique(text: str) -> str:
    """Text no other test (or earlier session) has built: content tags are shared registry-wide."""
    return f"{text} {time.time_ns()}\n"


def tags(options: api.Options) -> dict[str, str | None]:
    graph, client = api.load(options), RegistryClient()
    return {name: client.digest(node.ref) for name, node in graph.nodes.items()}
