"""PR mode's question to git: which nodes the files changed since a branch forked from a ref touch,
the old stacks read from a tree exported at that fork point."""

from __future__ import annotations

import tempfile
from pathlib import Path

from engine.state import gitexport, gitinfo
from graph.change.affected import directly_changed
from graph.errors import GraphError
from graph.expand.assemble import STACK_FILE, load_graph, stack_paths
from graph.expand.dag import StackGraph
from graph.load.paths import CONTENT_KEYS


def pr_changes(stack_graph: StackGraph, root: Path, ref: str, targets: tuple[Path, ...]) -> dict[str, str]:
    """Nodes touched by the files changed since the working tree's branch forked from ref (their merge
    base: what ref gained since is not this change), the old stacks read at that fork point."""
    base = gitinfo.merge_base(root, ref)
    changed = gitinfo.changed_files(root, base)
    with tempfile.TemporaryDirectory(prefix="stackbuild-ref-") as old_root:
        try:
            old_targets = tuple(_in_repository(root, target) for target in targets) or (Path("stacks"),)
            _export_stacks(root, base, Path(old_root), old_targets)
            read = stack_paths(Path(old_root), old_targets, CONTENT_KEYS)  # logos, wherever they are
            gitexport.export_followed(root, base, Path(old_root), read)
            # stand-ins for the Dockerfiles and contexts the old stacks name outside what was exported
            gitexport.export_outline(root, base, Path(old_root), stack_paths(Path(old_root), old_targets))
            old_graph: StackGraph | None = load_graph(Path(old_root), old_targets)
        except (GraphError, gitinfo.GitError):
            old_graph = None  # the stacks did not exist or load at the fork: every node counts as new
    if old_graph is None:
        return dict.fromkeys(stack_graph.order, "new_node")
    return directly_changed(stack_graph, root, changed, old_graph)


def _export_stacks(root: Path, ref: str, tree: Path, targets: tuple[Path, ...]) -> None:
    """Export the top folder of each target as it was at ref; for the stacks' root itself ('.') only the stack
    files at its top and in its folders (loading looks no deeper), not the whole repository."""
    tops = {_top(target) for target in targets}
    if tops - {"."}:
        gitexport.export_tree(root, ref, tree, sorted(tops - {"."}))
    if "." in tops:
        names = gitinfo.top_names(root, ref)
        gitexport.export_followed(root, ref, tree, {STACK_FILE, *(f"{name}/{STACK_FILE}" for name in names)})


def _in_repository(root: Path, target: Path) -> Path:
    """An absolute target inside the repository as a path relative to it (so its old tree is exported)."""
    if not target.is_absolute():
        return target
    try:
        return target.resolve().relative_to(root.resolve())
    except (OSError, ValueError):  # outside the repository: git tracks nothing there
        return target


def _top(target: Path) -> str:
    return target.parts[0] if target.parts else "."
