"""One definition's nodes: each parent node × each matrix combination that fits it, rules checked."""

from __future__ import annotations

from collections.abc import Sequence

from graph.errors import StackError
from graph.expand.node import Parent, expanded_node, parse_constraints
from graph.model.spec import Combination, Definition, Node


def definition_nodes(definition: Definition, parents: list[Parent]) -> list[Node]:
    """The nodes of one definition: one per parent node × matrix combination that fits."""
    constraints = parse_constraints(definition)
    combos = definition.combinations or (Combination((), definition.location),)
    nodes: list[Node] = []
    used: set[int] = set()
    candidates: list[Parent | None] = list(parents) or [None]
    fitted: set[int] = set()
    own = {key for combo in combos if not combo.included for key, _ in combo.values}  # the axes
    for parent in candidates:
        for index, combo in enumerate(combos):
            if not _fits(combo, parent, own):
                continue
            fitted.add(index)
            node = expanded_node(definition, parent, combo, constraints, used)
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


def _fits(combo: Combination, parent: Parent | None, own: set[str]) -> bool:
    """Whether an included combination applies to this parent: its values of inherited attributes
    pick parents (an include never builds on a parent whose attribute it contradicts); a value of one
    of the definition's own axes (own) overrides the parent's, as the axis does."""
    if not combo.included or parent is None:
        return True
    inherited = dict(parent.node.attrs)
    return all(inherited.get(key, value) == value for key, value in combo.values if key not in own)


def _check_included(definition: Definition, combos: Sequence[Combination], fitted: set[int],
                    parents: list[Parent], own: set[str]) -> None:
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
