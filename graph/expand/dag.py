"""The build DAG: expanded nodes joined by parent → child edges, checked and ordered."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import networkx as nx

from graph.errors import StackError
from graph.expand.definitions import expand
from graph.load.limits import DEFAULT_LIMITS, Limits
from graph.model.spec import Node, Stack


@dataclass(frozen=True)
class StackGraph:
    """Nodes by name, their DiGraph (parent → child) and a build order (depth, then name)."""

    nodes: dict[str, Node]
    graph: nx.DiGraph
    order: tuple[str, ...]

    def descendants(self, name: str) -> set[str]:
        """Every node built on name, directly or not (name excluded)."""
        return set(nx.descendants(self.graph, name))

    def ancestors(self, name: str) -> set[str]:
        """Every node name is built on (name excluded)."""
        return set(nx.ancestors(self.graph, name))


def closure(names: Iterable[str], related: Callable[[str], set[str]]) -> set[str]:
    """The names and every name related(name) gives for one of them (e.g. StackGraph.ancestors)."""
    result = set(names)
    for name in list(result):
        result |= related(name)
    return result


def build_graph(stacks: Iterable[Stack], limits: Limits = DEFAULT_LIMITS) -> StackGraph:
    """Expand the stacks' definitions and join the nodes into one DAG."""
    return graph_of(expand(list(stacks), limits))


def graph_of(nodes: Iterable[Node]) -> StackGraph:
    """The DAG of already expanded nodes; reject duplicate names and references."""
    by_name: dict[str, Node] = {}
    for node in nodes:
        other = by_name.setdefault(node.name, node)
        if other is not node:
            raise StackError(f"two nodes are named '{node.name}'", node.location,
                             f"the other is at {other.location}; rename a definition or change a value")
    graph = nx.DiGraph()
    graph.add_nodes_from(by_name)
    graph.add_edges_from((node.parent, node.name) for node in by_name.values() if node.parent)
    scanned_by = generator_edges(by_name)
    if scanned_by:
        graph.add_edges_from(scanned_by)
        _reject_generator_cycle(graph, by_name)
    order = tuple(name for layer in nx.topological_generations(graph) for name in sorted(layer))
    _reject_duplicate_refs(by_name[name] for name in order)
    return StackGraph(by_name, graph, order)


def generator_edges(by_name: dict[str, Node]) -> list[tuple[str, str]]:
    """(generator, node) for each node whose SBOM generator is built here: it must be pushed first."""
    by_ref = {node.ref: name for name, node in by_name.items() if not node.external}
    return [(by_ref[node.sbom_generator_ref], node.name) for node in by_name.values()
            if node.sbom_generator_ref in by_ref]


def _reject_generator_cycle(graph: nx.DiGraph, by_name: dict[str, Node]) -> None:
    """A node may not be scanned by a generator built on it (nor by itself)."""
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return
    path = " -> ".join([edge[0] for edge in cycle] + [cycle[0][0]])
    node = by_name[cycle[0][0]]
    raise StackError(f"an SBOM generator is built on an image it scans: {path}", node.location,
                     "build the SBOM generator in a stack without 'sbom:', from its own base")


def with_registry(stack_graph: StackGraph, registry: str) -> StackGraph:
    """The same graph with every built node pushed below another registry prefix (refs still unique)."""
    nodes = {name: node if node.external else replace(node, registry=registry)
             for name, node in stack_graph.nodes.items()}
    _reject_duplicate_refs(nodes[name] for name in stack_graph.order)
    return StackGraph(nodes, stack_graph.graph, stack_graph.order)


def _reject_duplicate_refs(nodes: Iterable[Node]) -> None:
    seen: dict[str, Node] = {}
    for node in nodes:
        if node.external:
            continue
        other = seen.setdefault(node.ref, node)
        if other is not node:
            raise StackError(f"nodes '{other.name}' and '{node.name}' both publish {node.ref}",
                             node.location, f"'{other.name}' is at {other.location}; change a tag")
