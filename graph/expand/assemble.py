"""Finds stack files and loads them into one checked DAG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from graph.errors import StackError
from graph.expand.dag import StackGraph, build_graph
from graph.load.stackfile import load_stack

STACK_FILE = "stack.yaml"


def find_stack_files(root: Path, targets: Sequence[Path]) -> list[Path]:
    """Stack files named by targets: a stack file, a stack folder, or a folder of stack folders."""
    if not targets:
        raise StackError("no stack named", hint="name a stack.yaml or a folder holding one")
    files: list[Path] = []
    for target in targets:
        path = target if target.is_absolute() else root / target
        if path.is_file():
            files.append(path)
        elif (path / STACK_FILE).is_file():
            files.append(path / STACK_FILE)
        elif path.is_dir():
            files.extend(sorted(path.glob(f"*/{STACK_FILE}")))
        else:
            raise StackError(f"no stack at {target}", hint=f"name a {STACK_FILE} or a folder holding one")
    if not files:
        raise StackError(f"no {STACK_FILE} found in {', '.join(map(str, targets))}",
                         hint="create stacks/<name>/stack.yaml")
    return files


def load_graph(root: Path, targets: Sequence[Path]) -> StackGraph:
    """Load every stack named by targets and join them into one DAG."""
    return build_graph(load_stack(root, file) for file in find_stack_files(root, targets))
