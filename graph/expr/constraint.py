"""Compatibility constraints over a matrix combination's string attributes, parsed without eval.

Grammar: `condition (-> condition)*`, where `->` is implication (lowest precedence, right-associative,
only at the top level) and each condition is a Python expression restricted to names, quoted values,
unquoted numbers (taken by their source text), comparisons (==, !=, <, <=, >, >=, in, not in; chains
allowed), `and`, `or`, `not` and parentheses.  `in` / `not in` take a tuple or list of values.

`==`, `!=`, `in` compare plain strings; `<`, `<=`, `>`, `>=` compare by `version_key`.

This module evaluates constraints; the tree is in graph.expr.tree, the parser in graph.expr.parse and the
version order in graph.model.versions (all re-exported here).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from graph.errors import Location, StackError
from graph.expr.parse import ALLOWED, SYNTAX_HINT, compile_condition
from graph.expr.tree import AllOf, AnyOf, Attr, Choices, Comparison, Condition, Implication, Negation, Value
from graph.model.versions import Atom, VersionKey, version_key

__all__ = [
    "ALLOWED", "SYNTAX_HINT", "AllOf", "AnyOf", "Atom", "Attr", "Choices", "Comparison", "Condition",
    "Constraint", "Implication", "Negation", "Value", "VersionKey", "evaluate", "names_of",
    "parse_constraint", "version_key",
]


MAX_DEPTH = 100  # nesting of a constraint's tree: evaluate and names_of recurse this deep


def _resolve(operand: Attr | Value, attrs: Mapping[str, str]) -> str:
    """The string an operand stands for."""
    return attrs[operand.name] if isinstance(operand, Attr) else operand.text


def _compare(op: str, left: str, right: str) -> bool:
    """Apply a comparison operator (not `in`) to two strings."""
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    lkey, rkey = version_key(left), version_key(right)
    return {"<": lkey < rkey, "<=": lkey <= rkey, ">": lkey > rkey, ">=": lkey >= rkey}[op]


def _comparison_holds(comparison: Comparison, attrs: Mapping[str, str]) -> bool:
    """Whether every link of a comparison chain holds."""
    left = _resolve(comparison.first, attrs)
    for op, operand in comparison.links:
        if isinstance(operand, Choices):
            return (left in operand.values) == (op == "in")
        right = _resolve(operand, attrs)
        if not _compare(op, left, right):
            return False
        left = right
    return True


def evaluate(condition: Condition, attrs: Mapping[str, str]) -> bool:
    """Whether a compiled condition holds for attrs (every name must be present)."""
    match condition:
        case Comparison():
            return _comparison_holds(condition, attrs)
        case Negation(item):
            return not evaluate(item, attrs)
        case AllOf(items):
            return all(evaluate(item, attrs) for item in items)
        case AnyOf(items):
            return any(evaluate(item, attrs) for item in items)
        case Implication(premise, conclusion):
            return not evaluate(premise, attrs) or evaluate(conclusion, attrs)


def names_of(condition: Condition) -> frozenset[str]:
    """Every attribute name a compiled condition mentions."""
    match condition:
        case Comparison(first, links):
            operands = (first, *(operand for _, operand in links))
            return frozenset(operand.name for operand in operands if isinstance(operand, Attr))
        case Negation(item):
            return names_of(item)
        case AllOf(items) | AnyOf(items):
            return frozenset().union(*(names_of(item) for item in items))
        case Implication(premise, conclusion):
            return names_of(premise) | names_of(conclusion)


@dataclass(frozen=True)
class Constraint:
    """A parsed constraint: its source text, the names it mentions, and its compiled tree."""

    text: str
    names: frozenset[str]
    tree: Condition = field(repr=False, compare=False)

    def holds(self, attrs: Mapping[str, str]) -> bool:
        """Whether the constraint holds for one combination's attributes."""
        missing = sorted(self.names - attrs.keys())
        if missing:
            known = ", ".join(sorted(attrs)) or "none"
            raise StackError(
                f"constraint {self.text!r}: unknown attribute {missing[0]!r} (known: {known})",
                hint="check the spelling, or give every matrix combination that attribute",
            )
        return evaluate(self.tree, attrs)


def parse_constraint(text: str, *, location: Location | None = None) -> Constraint:
    """Parse a constraint, raising StackError on syntax errors and forbidden constructs."""
    if not isinstance(text, str):
        raise StackError(f"constraint {text!r} must be a string", location, hint="quote the whole constraint")
    try:
        tree = compile_condition(text, location)
        too_deep = depth_of(tree) > MAX_DEPTH
    except RecursionError:
        too_deep = True
    if too_deep:  # evaluating it would recurse that deep for every combination
        raise StackError(f"constraint {text[:60]!r}... is nested more than {MAX_DEPTH} deep "
                         "('->', 'not' and parentheses count)", location, hint=SYNTAX_HINT) from None
    return Constraint(text, names_of(tree), tree)


def depth_of(condition: Condition) -> int:
    """How deeply condition nests (without recursing itself)."""
    deepest, stack = 0, [(condition, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        match node:
            case Negation(item):
                stack.append((item, depth + 1))
            case AllOf(items) | AnyOf(items):
                stack.extend((item, depth + 1) for item in items)
            case Implication(premise, conclusion):
                stack.extend(((premise, depth + 1), (conclusion, depth + 1)))
    return deepest
