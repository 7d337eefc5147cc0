"""PR mode: which nodes a set of changed files touches, with all their descendants."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from graph.context.dockerignore import ignore_file, read_ignore_patterns
from graph.context.files import files_matching
from graph.expand.dag import StackGraph, closure
from graph.model.spec import NOWHERE, Node


def directly_changed(stack_graph: StackGraph, root: Path, changed_paths: Iterable[str],
                     old_graph: StackGraph | None) -> dict[str, str]:
    """Node → why it is touched: its Dockerfile, a visible context file, or its definition."""
    paths = sorted(set(changed_paths))  # sorted: the reason names the same file on every run
    touched: dict[str, str] = {}
    for name in stack_graph.order:
        node = stack_graph.nodes[name]
        definition = _definition_reason(node, old_graph)
        reason = "new_node" if definition == "new_node" else _file_reason(node, root, paths) or definition
        if reason:
            touched[name] = reason
    return touched


def affected(stack_graph: StackGraph, touched: Iterable[str]) -> set[str]:
    """The touched nodes and every node built on them."""
    return closure(touched, stack_graph.descendants)


def _file_reason(node: Node, root: Path, paths: list[str]) -> str:
    if node.external:
        return ""
    if node.dockerfile in paths:
        return "dockerfile_changed"
    # the Dockerfile's own ignore file: read when present, and adding or removing it changes the patterns
    if node.dockerfile + ".dockerignore" in paths:
        return f"context_changed: {posixpath.basename(node.dockerfile)}.dockerignore"
    prefix = "" if node.context == "." else node.context + "/"
    inside = [posixpath.relpath(path, node.context) if prefix else path
              for path in paths if path.startswith(prefix)]
    if not inside:
        return ""
    context, dockerfile = root / node.context, root / node.dockerfile
    # the context's .dockerignore counts as the ignore file only when the build reads it; shadowed by
    # the Dockerfile's own, it is a context file, which counts only when sent
    read = (".dockerignore",) if ignore_file(context, dockerfile) == context / ".dockerignore" else ()
    visible = files_matching(context, read_ignore_patterns(context, dockerfile), inside, read)
    return f"context_changed: {visible[0]}" if visible else ""


def _definition_reason(node: Node, old_graph: StackGraph | None) -> str:
    if old_graph is None:
        return ""
    old = old_graph.nodes.get(node.name)
    if old is None:
        return "new_node"
    return "" if _comparable(old) == _comparable(node) else "definition_changed"


def _comparable(node: Node) -> Node:
    """The node without what does not decide its content: where it is written and pushed."""
    return replace(node, location=NOWHERE, registry="")
