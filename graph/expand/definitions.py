"""Definitions → nodes: each definition expands against every node of its parents × its matrix."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import networkx as nx

from graph.errors import CycleError, Location, StackError
from graph.expand.dev import dev_nodes
from graph.expand.tagging import node_tag
from graph.expand.template import render
from graph.expr.constraint import Constraint, parse_constraint
from graph.load.limits import DEFAULT_LIMITS, MAX_RULE_CHECKS, Limits
from graph.load.reference import reference_problem
from graph.model import checks
from graph.model.spec import Combination, Definition, Node, Stack

LIMIT_HINT = "shrink the matrix, or raise the limit with --max-nodes N"
# The attr a definition's name becomes. Kind os sets none: an OS node is named for its role ('os',
# 'base'), not its distribution, so `os_name` must come from its axes or attrs.
KIND_ATTR = {"sdk": "sdk", "framework": "framework", "tool": "app", "llm": "app"}


@dataclass(frozen=True)
class _Parent:
    """A parent node and whether its name must appear in its children's names."""

    node: Node
    named: bool


def expand(stacks: Sequence[Stack], limits: Limits = DEFAULT_LIMITS) -> list[Node]:
    """Every node of the stacks, -dev siblings included, parents before children."""
    definitions = _unique_definitions(stacks)
    order = _definition_order(definitions)
    by_definition: dict[str, list[Node]] = {}
    total = 0
    for name in order:
        definition = definitions[name]
        parents = [_Parent(node, len(definition.parents) > 1 or len(by_definition[p]) > 1)
                   for p in definition.parents for node in by_definition[p]]
        _check_size(definition, max(1, len(parents)), total, limits)
        by_definition[name] = _expand_one(definition, parents)
        total += len(by_definition[name])
    nodes = [node for name in order for node in by_definition[name]]
    for stack in stacks:
        if stack.dev is not None:
            own = [node for d in stack.definitions for node in by_definition[d.name]]
            nodes += dev_nodes(stack.dev, {d.name: d.convention for d in stack.definitions}, own)
    if len(nodes) > limits.max_nodes:
        where = next((s.dev.location for s in stacks if s.dev), Location(stacks[0].file, 1))
        raise StackError(f"the stacks expand to {len(nodes)} nodes with their -dev siblings, more than the "
                         f"limit of {limits.max_nodes}", where, LIMIT_HINT)
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
    found: dict[str, Definition] = {}
    for stack in stacks:
        for definition in stack.definitions:
            if definition.name in found:
                raise StackError(f"duplicate node name '{definition.name}'", definition.location,
                                 f"also defined at {found[definition.name].location}; rename one")
            found[definition.name] = definition
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


def _expand_one(definition: Definition, parents: list[_Parent]) -> list[Node]:
    """The nodes of one definition: one per parent node × matrix combination that fits."""
    constraints = [(_parse(text, where), where) for text, where in definition.constraints]
    combos = definition.combinations or (Combination((), definition.location),)
    nodes: list[Node] = []
    used: set[int] = set()
    candidates: list[_Parent | None] = list(parents) or [None]
    fitted: set[int] = set()
    own = {key for combo in combos if not combo.included for key, _ in combo.values}  # the axes
    for parent in candidates:
        for index, combo in enumerate(combos):
            if not _fits(combo, parent, own):
                continue
            fitted.add(index)
            node = _node(definition, parent, combo, constraints, used)
            if node is not None:
                _reject_same_name(definition, nodes, node)
                nodes.append(node)
    _check_included(definition, combos, fitted, parents, own)
    for index, (_, where) in enumerate(definition.excludes):
        if index not in used:
            raise StackError(f"exclude rule {index + 1} of node '{definition.name}' matches no combination",
                             where, "check the attribute names and values it uses")
    if not nodes:
        raise StackError(f"node '{definition.name}' expands to no image: every combination breaks a "
                         "constraint or has no platform in common with its parent", definition.location,
                         "relax a constraint, or set 'platforms:' on the node or its parent")
    return nodes


def _fits(combo: Combination, parent: _Parent | None, own: set[str]) -> bool:
    """Whether an included combination applies to this parent: its values of inherited attributes
    pick parents (an include never builds on a parent whose attribute it contradicts); a value of one
    of the definition's own axes (own) overrides the parent's, as the axis does."""
    if not combo.included or parent is None:
        return True
    inherited = dict(parent.node.attrs)
    return all(inherited.get(key, value) == value for key, value in combo.values if key not in own)


def _check_included(definition: Definition, combos: Sequence[Combination], fitted: set[int],
                    parents: list[_Parent], own: set[str]) -> None:
    """An include rule that fits none of the parents is an error, not a silent no-op."""
    for index, combo in enumerate(combos):
        if index in fitted:
            continue
        held = [dict(p.node.attrs) for p in parents]
        asked = [(key, value) for key, value in combo.values
                 if key not in own and any(key in attrs for attrs in held)]
        alone = [(key, value) for key, value in asked
                 if not any(attrs.get(key, value) == value for attrs in held)]
        hint = ("an include value of an inherited attribute picks the parents it applies to: add a parent "
                "node with {}, or drop {} from the rule")
        if alone:  # one value no parent has
            key, value = alone[0]
            have = sorted({attrs[key] for attrs in held if key in attrs})
            raise StackError(f"include rule of node '{definition.name}' asks for {key}={value}, which no "
                             f"parent node has (its parents have {key}: {', '.join(have)})", combo.location,
                             hint.format("that value", "it"))
        pairs = ", ".join(f"{key}={value}" for key, value in asked)  # each some parent's, never one's all
        raise StackError(f"include rule of node '{definition.name}' asks for {pairs}, which no parent "
                         "node has together", combo.location, hint.format("those values", "them"))


def _reject_same_name(definition: Definition, nodes: list[Node], node: Node) -> None:
    """A `name:` template must tell the definition's nodes apart (it gets no parent name appended)."""
    if definition.name_template and any(other.name == node.name for other in nodes):
        raise StackError(f"name template {definition.name_template!r} gives two nodes of '{definition.name}' "
                         f"the name '{node.name}'", definition.at("name"),
                         "use an attribute that differs between them, such as a matrix axis or the "
                         "parent's {os} or {sdk_version}")


def _parse(text: str, where: Location) -> Constraint:
    try:
        return parse_constraint(text)
    except StackError as exc:
        raise StackError(exc.message, where, exc.hint) from None


def _node(definition: Definition, parent: _Parent | None, combo: Combination,
          constraints: list[tuple[Constraint, Location]], used: set[int]) -> Node | None:
    """One expanded node, or None when an exclude rule matches or the constraints leave no platform."""
    attrs = _attrs(definition, parent.node if parent else None, combo)
    excluded = [i for i, (rule, _) in enumerate(definition.excludes)
                if all(attrs.get(key) == value for key, value in rule)]
    if excluded:
        used.update(excluded)
        return None
    platforms = _platforms(definition, parent.node if parent else None, attrs, constraints)
    if not platforms:
        return None
    tag = node_tag(definition, attrs)
    name = _name(definition, parent, combo, attrs)
    if not checks.GENERATED_NAME_RE.fullmatch(name):
        where = definition.at("name") if definition.name_template else combo.location
        raise StackError(f"node name {name!r} is not valid", where,
                         "names and matrix values use letters, digits, '_', '.' and '-'")
    where_test = definition.at("test")
    return Node(
        name=name, stack=definition.stack, kind=definition.kind,
        parent=parent.node.name if parent else None,
        dockerfile=definition.dockerfile, context=definition.context, registry=definition.registry,
        image=definition.image, tag=tag, platforms=platforms,
        args=_args(definition, attrs),
        target=definition.target,
        test=tuple(render(item, attrs, where_test) for item in definition.test),
        secrets=definition.secrets, attrs=tuple(sorted(attrs.items())),
        external=_external(definition, attrs), definition=definition.name,
        contract=definition.contract, retest_ancestors=definition.retest_ancestors,
        provenance=definition.provenance, location=definition.location,
        sbom_generator=definition.sbom_generator,
    )


def _name(definition: Definition, parent: _Parent | None, combo: Combination,
          attrs: Mapping[str, str]) -> str:
    """A `name:` template filled in as written, or <definition>-<values>[-<parent>]."""
    if definition.name_template:
        return render(definition.name_template, attrs, definition.at("name"))
    own = [definition.name, *(value for _, value in combo.values)]
    return "-".join([*own, *([parent.node.name] if parent and parent.named else [])])


def _args(definition: Definition, attrs: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The build args filled in, each error at its own line (lines looked up once, not once per arg)."""
    lines = dict(definition.lines)
    return tuple((key, render(value, attrs, lines.get(f"args.{key}", definition.location)))
                 for key, value in definition.args)


def _external(definition: Definition, attrs: Mapping[str, str]) -> str:
    """The filled-in `from:` reference, checked ('' for a built node)."""
    if not definition.external:
        return ""
    reference = render(definition.external, attrs, definition.at("from"))
    problem = reference_problem(reference)
    if problem:
        raise StackError(problem, definition.at("from"), "write an image reference such as debian:12")
    return reference


def _attrs(definition: Definition, parent: Node | None, combo: Combination) -> dict[str, str]:
    """Parent attributes, then the definition's name under its kind, its matrix values, its attrs."""
    attrs = dict(parent.attrs) if parent else {}
    where = definition.at("attrs")
    if definition.kind in KIND_ATTR:
        attrs[KIND_ATTR[definition.kind]] = definition.name
    attrs["layer"] = definition.kind
    attrs.update(combo.values)
    for key, value in definition.attrs:
        attrs[key] = render(value, attrs, where)
    return attrs


def _platforms(definition: Definition, parent: Node | None, attrs: Mapping[str, str],
               constraints: list[tuple[Constraint, Location]]) -> tuple[str, ...]:
    """Explicit platforms must fit the parent's; implicit ones are the default narrowed by it."""
    if definition.platforms and parent is not None:
        missing = [p for p in definition.platforms if p not in parent.platforms]
        if missing:
            raise StackError(
                f"node '{definition.name}' wants {', '.join(missing)} but its parent '{parent.name}' "
                f"is built only for {', '.join(parent.platforms)}",
                definition.location, "drop those platforms or add them to the parent")
    candidates = definition.platforms or tuple(
        p for p in definition.default_platforms if parent is None or p in parent.platforms)
    return tuple(p for p in candidates if _allowed(attrs, p, constraints))


def _allowed(attrs: Mapping[str, str], platform: str,
             constraints: list[tuple[Constraint, Location]]) -> bool:
    scope = {**attrs, "platform": platform, "arch": platform.split("/")[1]}
    for constraint, where in constraints:
        try:
            if not constraint.holds(scope):
                return False
        except StackError as exc:
            raise StackError(exc.message, where, exc.hint) from None
    return True
