"""Matrix combinations: the product of axes, minus excludes, plus includes (pure)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

Combo = dict[str, str]


def combinations(axes: Sequence[tuple[str, Sequence[str]]], include: Sequence[Mapping[str, str]] = (),
                 exclude: Sequence[Mapping[str, str]] = ()) -> list[Combo]:
    """Every axes combination not matching an exclude, then every include not already there."""
    kept = [combo for combo in _product(axes) if not any(_matches(combo, rule) for rule in exclude)]
    seen = {_frozen(combo) for combo in kept}
    for extra in include:
        if _frozen(extra) not in seen:
            seen.add(_frozen(extra))
            kept.append(dict(extra))
    return kept


def product_size(axes: Sequence[tuple[str, Sequence[str]]]) -> int:
    """How many combinations the axes make, without making them."""
    return math.prod(len(values) for _, values in axes) if axes else 0


def _frozen(combo: Mapping[str, str]) -> frozenset[tuple[str, str]]:
    return frozenset(combo.items())


def _matches(combo: Mapping[str, str], rule: Mapping[str, str]) -> bool:
    """Whether combo has every value rule names."""
    return all(combo.get(key) == value for key, value in rule.items())


def unused_rules(axes: Sequence[tuple[str, Sequence[str]]],
                 exclude: Sequence[Mapping[str, str]]) -> list[int]:
    """Indexes of exclude rules that match no combination (usually a typo)."""
    product = _product(axes)
    return [index for index, rule in enumerate(exclude)
            if not any(_matches(combo, rule) for combo in product)]


def _product(axes: Sequence[tuple[str, Sequence[str]]]) -> list[Combo]:
    """The full product of the axes (none: no combination)."""
    if not axes:
        return []
    names = [name for name, _ in axes]
    return [dict(zip(names, values, strict=True))
            for values in itertools.product(*(values for _, values in axes))]
