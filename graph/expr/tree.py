"""The compiled tree of a constraint: operands, comparisons and the boolean structure over them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Attr:
    """An attribute of the combination, looked up by name."""

    name: str


@dataclass(frozen=True)
class Value:
    """A literal value (quoted string, or a number's source text)."""

    text: str


@dataclass(frozen=True)
class Choices:
    """The tuple or list of values on the right of `in` / `not in`."""

    values: tuple[str, ...]


@dataclass(frozen=True)
class Comparison:
    """A (possibly chained) comparison: first op1 x1 op2 x2 ..."""

    first: Attr | Value
    links: tuple[tuple[str, Attr | Value | Choices], ...]


@dataclass(frozen=True)
class Negation:
    """`not item`."""

    item: Condition


@dataclass(frozen=True)
class AllOf:
    """`a and b and ...`."""

    items: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    """`a or b or ...`."""

    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Implication:
    """`premise -> conclusion`, i.e. `not premise or conclusion`."""

    premise: Condition
    conclusion: Condition


Condition = Comparison | Negation | AllOf | AnyOf | Implication
