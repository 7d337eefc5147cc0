"""Helpers for the graph tests: write tiny stack files (and their Dockerfiles) into tmp_path."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from graph.errors import StackError
from graph.expand.definitions import expand
from graph.load.stackfile import load_stack
from graph.model.spec import Node, Stack

WriteStack = Callable[..., Path]


def _needed_dockerfiles(text: str) -> list[str]:
    """Best effort: the Dockerfiles a stack text refers to (defaults included; none for `from:`)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return []
    if not isinstance(data, dict):
        return []
    found = []
    nodes = data.get("nodes")
    if isinstance(nodes, dict):
        for name, node in nodes.items():
            if isinstance(node, dict) and "from" not in node:
                found.append(node.get("dockerfile", f"{name}/Dockerfile"))
    dev = data.get("dev")
    if isinstance(dev, dict) and "dockerfile" in dev:
        found.append(dev["dockerfile"])
    return [str(item) for item in found if isinstance(item, str | int | float)]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The repository root; tmp_path itself stays free for paths 'outside the repository'."""
    path = tmp_path / "repo"
    path.mkdir()
    return path


@pytest.fixture
def write_stack(root: Path) -> WriteStack:
    """write_stack(text, folder="s", dockerfiles=None) -> path of root/folder/stack.yaml.

    text is dedented. With dockerfiles=None every Dockerfile the text names (or implies) is
    created next to the stack file, as long as it stays inside root; pass a list to choose.
    """

    def write(text: str, folder: str = "s", dockerfiles: Iterable[str] | None = None) -> Path:
        text = textwrap.dedent(text).lstrip("\n")
        stack_dir = root / folder
        stack_dir.mkdir(parents=True, exist_ok=True)
        stack_file = stack_dir / "stack.yaml"
        stack_file.write_text(text, encoding="utf-8")
        wanted = _needed_dockerfiles(text) if dockerfiles is None else list(dockerfiles)
        for relative in wanted:
            path = (stack_dir / relative).resolve()
            if root.resolve() not in path.parents:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("FROM scratch\n", encoding="utf-8")
        return stack_file

    return write


@dataclass(frozen=True)
class Loaded:
    """One loaded stack file and the nodes its definitions expand to (-dev siblings last)."""

    stack: Stack
    nodes: list[Node]

    def by_name(self) -> dict[str, Node]:
        """The expanded nodes by name."""
        return {node.name: node for node in self.nodes}


@pytest.fixture
def load(root: Path, write_stack: WriteStack) -> Callable[..., Loaded]:
    """load(text, **write_stack_options) -> Loaded: the Stack and expand([stack])."""

    def run(text: str, **options: object) -> Loaded:
        stack = load_stack(root, write_stack(text, **options))
        return Loaded(stack, expand([stack]))

    return run


@pytest.fixture
def error(root: Path, write_stack: WriteStack) -> Callable[..., str]:
    """error(text, **write_stack_options) -> str of the StackError that loading or expanding raises."""

    def run(text: str, **options: object) -> str:
        with pytest.raises(StackError) as caught:
            expand([load_stack(root, write_stack(text, **options))])
        return str(caught.value)

    return run
