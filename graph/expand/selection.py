"""Narrowing a DAG: nodes chosen by name or tag globs with what they are built on, and fewer platforms."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from fnmatch import fnmatchcase

from graph.errors import StackError
from graph.expand.dag import StackGraph, closure, graph_of
from graph.model.spec import Node


def select(stack_graph: StackGraph, patterns: Iterable[str]) -> set[str]:
    """Nodes whose name or tag matches one of the globs; a glob matching nothing is an error."""
    chosen: set[str] = set()
    for pattern in patterns:
        hits = {name for name, node in stack_graph.nodes.items()
                if fnmatchcase(name, pattern) or fnmatchcase(node.tag, pattern)}
        if not hits:
            raise StackError(f"no node name or tag matches {pattern!r}", hint="`stackbuild plan` lists them")
        chosen |= hits
    return chosen


def with_ancestors(stack_graph: StackGraph, focus: Iterable[str]) -> set[str]:
    """The focused nodes and every node they are built on."""
    return closure(focus, stack_graph.ancestors)


def restrict(stack_graph: StackGraph, patterns: Iterable[str]) -> StackGraph:
    """The sub-DAG a selection needs: the matching nodes and their ancestors, nothing built on them."""
    keep = with_ancestors(stack_graph, select(stack_graph, patterns))
    return graph_of(stack_graph.nodes[name] for name in stack_graph.order if name in keep)


def restrict_to(stack_graph: StackGraph, names: Iterable[str]) -> StackGraph:
    """The sub-DAG of exactly named nodes and their ancestors; an unknown name is an error."""
    wanted = set(names)
    if unknown := sorted(wanted - set(stack_graph.nodes)):
        raise StackError(f"no node named {', '.join(map(repr, unknown))}",
                         hint="`stackbuild plan` lists them")
    keep = with_ancestors(stack_graph, wanted)
    return graph_of(stack_graph.nodes[name] for name in stack_graph.order if name in keep)


def narrow_platforms(stack_graph: StackGraph, platforms: Iterable[str]) -> StackGraph:
    """Each node built for the given platforms only; a node with none of them (and what is built on
    it) is left out. An external base keeps its own platforms."""
    wanted = tuple(dict.fromkeys(platforms))
    kept: dict[str, Node] = {}
    for name in stack_graph.order:
        node = stack_graph.nodes[name]
        if node.parent and node.parent not in kept:
            continue
        if node.external:
            kept[name] = node
            continue
        narrowed = tuple(p for p in node.platforms if p in wanted)
        if narrowed:
            kept[name] = replace(node, platforms=narrowed)
    if not any(not stack_graph.nodes[name].external for name in kept):
        raise StackError(f"no node is built for {', '.join(wanted)}",
                         hint="--platform must name a platform the stacks build, e.g. linux/amd64")
    return graph_of(kept.values())
