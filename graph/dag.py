"""The build DAG: nodes of all loaded stacks joined by parent → child edges, checked and ordered."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import networkx as nx

from graph.errors import CycleError, StackError
from graph.spec import Node, Stack


@dataclass(frozen=True)
class StackGraph:
    """Resolved nodes by name, their DiGraph (parent → child) and a build order (depth, then name)."""

    nodes: dict[str, Node]
    graph: nx.DiGraph
    order: tuple[str, ...]

    def descendants(self, name: str) -> set[str]:
        """Every node built on name, directly or not (name excluded)."""
        return set(nx.descendants(self.graph, name))

    def ancestors(self, name: str) -> set[str]:
        """Every node name is built on (name excluded)."""
        return set(nx.ancestors(self.graph, name))


def build_graph(stacks: Iterable[Stack]) -> StackGraph:
    """Join stacks into one DAG; reject duplicates, unknown parents, cycles and platform gaps."""
    stacks = list(stacks)
    nodes = _unique_nodes(stacks)
    defaults = {node.name: stack.platforms for stack in stacks for node in stack.nodes}
    graph = nx.DiGraph()
    graph.add_nodes_from(nodes)
    for node in nodes.values():
        if node.parent is None:
            continue
        if node.parent not in nodes:
            raise StackError(f"node '{node.name}': parent '{node.parent}' is not defined",
                             node.location, f"known: {', '.join(sorted(nodes))}")
        graph.add_edge(node.parent, node.name)
    _reject_cycles(graph, nodes)
    order = tuple(name for layer in nx.topological_generations(graph) for name in sorted(layer))
    resolved: dict[str, Node] = {}
    for name in order:
        resolved[name] = _resolve_platforms(nodes[name], resolved, defaults[name])
    _reject_duplicate_refs(resolved.values())
    return StackGraph(resolved, graph, order)


def with_registry(stack_graph: StackGraph, registry: str) -> StackGraph:
    """The same graph with every node pushed below another registry prefix."""
    nodes = {name: replace(node, registry=registry) for name, node in stack_graph.nodes.items()}
    return StackGraph(nodes, stack_graph.graph, stack_graph.order)


def _unique_nodes(stacks: list[Stack]) -> dict[str, Node]:
    nodes: dict[str, Node] = {}
    for stack in stacks:
        for node in stack.nodes:
            if node.name in nodes:
                raise StackError(f"duplicate node name '{node.name}'", node.location,
                                 f"also defined at {nodes[node.name].location}; rename one")
            nodes[node.name] = node
    return nodes


def _reject_cycles(graph: nx.DiGraph, nodes: dict[str, Node]) -> None:
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return
    path = [edge[0] for edge in cycle] + [cycle[0][0]]
    raise CycleError(f"parent cycle: {' -> '.join(path)}", nodes[cycle[0][1]].location,
                     "a node cannot be built on its own descendant; break the loop")


def _resolve_platforms(node: Node, resolved: dict[str, Node], default: tuple[str, ...]) -> Node:
    """Explicit platforms must fit the parent's; implicit ones are the default narrowed by it.

    A -dev sibling is built for exactly its origin's platforms.
    """
    parent = resolved[node.parent] if node.parent else None
    if parent is not None and node.variant == "dev" and not node.platforms:
        return replace(node, platforms=parent.platforms)
    if node.platforms:
        missing = [p for p in node.platforms if parent and p not in parent.platforms]
        if parent and missing:
            raise StackError(
                f"node '{node.name}' wants {', '.join(missing)} but its parent '{parent.name}' "
                f"is built only for {', '.join(parent.platforms)}",
                node.location, "drop those platforms or add them to the parent")
        return node
    platforms = tuple(p for p in default if parent is None or p in parent.platforms)
    if not platforms:
        raise StackError(f"node '{node.name}' has no platform in common with its parent",
                         node.location, "set 'platforms:' on the node or its parent")
    return replace(node, platforms=platforms)


def _reject_duplicate_refs(nodes: Iterable[Node]) -> None:
    seen: dict[str, Node] = {}
    for node in nodes:
        other = seen.setdefault(node.ref, node)
        if other is not node:
            raise StackError(f"nodes '{other.name}' and '{node.name}' both publish {node.ref}",
                             node.location, f"'{other.name}' is at {other.location}; change a tag")
