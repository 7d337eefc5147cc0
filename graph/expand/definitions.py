"""Definitions → nodes: parents first, each definition expanded on its parents' nodes, within the limits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import networkx as nx

from graph.errors import CycleError, Location, StackError
from graph.expand.combine import definition_nodes
from graph.expand.dev import dev_nodes
from graph.expand.node import Parent
from graph.load.display import check_display, display_names
from graph.load.imagedoc import one_doc_per_image
from graph.load.limits import DEFAULT_LIMITS, MAX_RULE_CHECKS, Limits
from graph.model.spec import Definition, Node, Stack

LIMIT_HINT = "shrink the matrix, or raise the limit with --max-nodes N"


def expand(stacks: Sequence[Stack], limits: Limits = DEFAULT_LIMITS) -> list[Node]:
    """Every node of the stacks, -dev siblings included, parents before children."""
    definitions = _unique_definitions(stacks)
    order = _definition_order(definitions)
    by_definition: dict[str, list[Node]] = {}
    total = 0
    for name in order:
        definition = definitions[name]
        parents = [Parent(node, len(definition.parents) > 1 or len(by_definition[p]) > 1)
                   for p in definition.parents for node in by_definition[p]]
        _check_size(definition, max(1, len(parents)), total, limits)
        by_definition[name] = definition_nodes(definition, parents)
        total += len(by_definition[name])
    nodes = [node for name in order for node in by_definition[name]]
    own: dict[str, list[Node]] = {}  # stack file → the nodes it defines, -dev siblings included
    for stack in stacks:
        own[stack.file] = [node for d in stack.definitions for node in by_definition[d.name]]
        if stack.dev is not None:
            dev = dev_nodes(stack.dev, {d.name: d.convention for d in stack.definitions}, own[stack.file])
            own[stack.file] += dev
            nodes += dev
    if len(nodes) > limits.max_nodes:
        where = next((s.dev.location for s in stacks if s.dev), Location(stacks[0].file, 1))
        raise StackError(f"the stacks expand to {len(nodes)} nodes with their -dev siblings, more than the "
                         f"limit of {limits.max_nodes}", where, LIMIT_HINT)
    display_names(stacks)  # one spelling of a value per stack, across its files
    for stack in stacks:
        check_display(stack, own[stack.file])
    return nodes


def _check_size(definition: Definition, parents: int, total: int, limits: Limits) -> None:
    """Refuse a definition whose matrix could take the stacks past the node limit, before expanding it."""
    combinations = max(1, len(definition.combinations))
    most = total + parents * combinations
    if most > limits.max_nodes:
        raise StackError(f"node '{definition.name}' could bring the stacks to {most} "
                         f"nodes ({parents} parent node(s) × {combinations} combination(s)), more than the "
                         f"limit of {limits.max_nodes}", definition.location, LIMIT_HINT)
    rules = len(definition.constraints) + len(definition.excludes)
    if parents * combinations * rules > MAX_RULE_CHECKS:
        raise StackError(f"node '{definition.name}' has {rules} constraints and exclude rules to check on "
                         f"{parents * combinations} combinations, more than {MAX_RULE_CHECKS} checks",
                         definition.location, "use fewer rules, or a smaller matrix")


def _unique_definitions(stacks: Sequence[Stack]) -> dict[str, Definition]:
    """Every definition by name, names unique; one `doc:` per image across the files of a stack."""
    found: dict[str, Definition] = {}
    for stack in stacks:
        for definition in stack.definitions:
            if definition.name in found:
                raise StackError(f"duplicate node name '{definition.name}'", definition.location,
                                 f"also defined at {found[definition.name].location}; rename one")
            found[definition.name] = definition
    one_doc_per_image(found.values())
    return found


def _definition_order(definitions: Mapping[str, Definition]) -> list[str]:
    """Definitions parents first; unknown parents and cycles are errors."""
    graph = nx.DiGraph()
    graph.add_nodes_from(definitions)
    for definition in definitions.values():
        for parent in definition.parents:
            if parent not in definitions:
                raise StackError(f"node '{definition.name}': parent '{parent}' is not defined",
                                 definition.location, f"known: {', '.join(sorted(definitions))}")
            graph.add_edge(parent, definition.name)
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return [name for layer in nx.topological_generations(graph) for name in sorted(layer)]
    path = [edge[0] for edge in cycle] + [cycle[0][0]]
    raise CycleError(f"parent cycle: {' -> '.join(path)}", definitions[cycle[0][1]].location,
                     "a node cannot be built on its own descendant; break the loop")
