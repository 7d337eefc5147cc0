"""A plan: the ordered nodes of a graph with what will happen to each, and how to print it."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from graph.dag import StackGraph

BUILD = "build"


@dataclass(frozen=True)
class PlanEntry:
    """One node of a plan."""

    node: str
    stack: str
    kind: str
    ref: str
    parent: str | None
    platforms: tuple[str, ...]
    action: str
    reason: str


def make_plan(stack_graph: StackGraph, selected: Iterable[str] | None = None,
              reason: str = "full") -> tuple[PlanEntry, ...]:
    """Every selected node in build order, each to be built for reason."""
    wanted = set(stack_graph.order if selected is None else selected)
    return tuple(
        PlanEntry(node.name, node.stack, node.kind, node.ref, node.parent, node.platforms,
                  BUILD, reason)
        for node in (stack_graph.nodes[name] for name in stack_graph.order if name in wanted)
    )


def plan_json(plan: Iterable[PlanEntry]) -> str:
    """The plan as a JSON document."""
    return json.dumps({"nodes": [asdict(entry) for entry in plan]}, indent=2)


def plan_table(plan: Iterable[PlanEntry]) -> str:
    """The plan as an aligned text table."""
    rows = [("#", "NODE", "ACTION", "PARENT", "PLATFORMS", "TAG")]
    for index, entry in enumerate(plan, start=1):
        rows.append((str(index), entry.node, entry.action, entry.parent or "-",
                     ",".join(p.removeprefix("linux/") for p in entry.platforms), entry.ref))
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]) - 1)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1]
             for row in rows]
    return "\n".join(line.rstrip() for line in lines)
