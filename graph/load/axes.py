"""A definition's matrix as written: axes, include and exclude rules, constraints, each with its line."""

from __future__ import annotations

from graph.errors import Location, StackError
from graph.load.fields import Fields, listed_once
from graph.load.limits import Limits
from graph.load.matrix import combinations, product_size
from graph.load.values import attr_problem, value_problem
from graph.model.spec import Combination


def read_combinations(fields: Fields, limits: Limits) -> tuple[Combination, ...]:
    """The matrix of a definition: axes × include − exclude, each combination with its line."""
    axes_data = fields.data.get("axes", {})
    if not isinstance(axes_data, dict):
        raise fields.fail("axes", "'axes' must map each axis to a list of values",
                          "write 'axes: {os: [2203sp3, 2403lts]}'")
    axes_fields = fields.section("axes", tuple(map(str, axes_data)), "'axes'")
    axes = [(str(axis), axes_fields.texts(str(axis), value_problem)) for axis in axes_data]
    for axis, values in axes:
        if attr_problem(axis):
            raise axes_fields.fail(axis, attr_problem(axis), "rename the axis")
        if not values:
            raise axes_fields.fail(axis, f"axis '{axis}' has no values", "list at least one value")
        listed_once(axes_fields, axis, values, "value", f" of axis '{axis}'")
    location = fields.where("axes") if axes else fields.where("include")
    size = product_size(axes)
    if size > limits.max_nodes:
        raise StackError(f"the axes of node '{fields.path[-1]}' make {size} combinations, more than the "
                         f"limit of {limits.max_nodes} nodes", location,
                         "shrink the matrix, or raise the limit with --max-nodes N")
    product = [Combination(tuple(combo.items()), location) for combo in combinations(axes)]
    return (*product, *_included(fields, product))


def _included(fields: Fields, product: list[Combination]) -> list[Combination]:
    """The include rules the axes do not already make, each at its own line."""
    known = {frozenset(combo.values) for combo in product}
    included = []
    for index, rule in enumerate(read_rules(fields, "include")):
        pairs = tuple(rule.items())
        if frozenset(pairs) not in known:
            known.add(frozenset(pairs))
            included.append(Combination(pairs, fields.where("include", index), included=True))
    return included


def read_rules(fields: Fields, key: str) -> list[dict[str, str]]:
    """include/exclude: a list of {axis: value} mappings."""
    items = fields.data.get(key, [])
    if not isinstance(items, list):
        raise fields.fail(key, f"'{key}' must be a list of {{axis: value}} mappings",
                          f"write '{key}: [{{os: 2403lts}}]'")
    rules = []
    for index, item in enumerate(items):
        allowed = tuple(map(str, item)) if isinstance(item, dict) else ()
        rule = Fields(fields.doc, (*fields.path, key, index), item, allowed, f"an {key} rule")
        for name in allowed:
            if attr_problem(name):
                raise rule.fail(name, attr_problem(name), "rename the attribute")
        values = {name: rule.text(name, check=value_problem) for name in map(str, item)}
        if not values:
            raise fields.fail(key, f"{key} rule {index + 1} is empty", "name at least one axis value")
        rules.append(values)
    return rules


def read_constraints(fields: Fields) -> tuple[tuple[str, Location], ...]:
    """Constraint expressions with their lines (checked when the matrix expands)."""
    return tuple((text, fields.where("constraints", index))
                 for index, text in enumerate(fields.texts("constraints")))
