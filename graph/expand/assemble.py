"""Finds stack files and loads them into one checked DAG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from graph.errors import StackError
from graph.expand.dag import StackGraph, build_graph
from graph.load.limits import DEFAULT_LIMITS, Limits
from graph.load.paths import PATH_KEYS, named_paths
from graph.load.stackfile import load_stack

STACK_FILE = "stack.yaml"


def find_stack_files(root: Path, targets: Sequence[Path]) -> list[Path]:
    """Stack files named by targets: a stack file, a stack folder, or a folder of stack folders."""
    if not targets:
        raise StackError("no stack named", hint="name a stack.yaml or a folder holding one")
    files: list[Path] = []
    for target in targets:
        try:
            files.extend(_stack_files(root, target))
        except (OSError, ValueError) as exc:  # a name too long, a NUL byte, ...
            raise StackError(f"cannot look for stacks at {target}: {getattr(exc, 'strerror', None) or exc}",
                             hint=f"name a {STACK_FILE} or a folder holding one") from None
    if not files:
        raise StackError(f"no {STACK_FILE} found in {', '.join(map(str, targets))}",
                         hint="create stacks/<name>/stack.yaml")
    return files


def _stack_files(root: Path, target: Path) -> list[Path]:
    """The stack files one target names (a FIFO or device is named too: reading it says what is wrong)."""
    path = target if target.is_absolute() else root / target
    if path.exists() and not path.is_dir():
        return [path]
    if (path / STACK_FILE).exists():
        return [path / STACK_FILE]
    if path.is_dir():
        return sorted(path.glob(f"*/{STACK_FILE}"))
    raise StackError(f"no stack at {target}", hint=f"name a {STACK_FILE} or a folder holding one")


def load_graph(root: Path, targets: Sequence[Path], limits: Limits = DEFAULT_LIMITS) -> StackGraph:
    """Load every stack named by targets and join them into one DAG."""
    return build_graph((load_stack(root, file, limits) for file in find_stack_files(root, targets)), limits)


def stack_paths(root: Path, targets: Sequence[Path], keys: tuple[str, ...] = PATH_KEYS) -> set[str]:
    """The paths (default: Dockerfiles and contexts) the stack files named by targets name under keys
    (relative to root)."""
    return {path for file in find_stack_files(root, targets) for path in named_paths(root, file, keys)}
