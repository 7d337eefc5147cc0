"""Plans: what happens to each node (build, skip, retag, external) and why, and how to print it."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from graph.expand.dag import StackGraph

BUILD, SKIP, RETAG, EXTERNAL = "build", "skip", "retag", "external"
ACTIONS = (BUILD, SKIP, RETAG, EXTERNAL)


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
    fingerprint: str = ""
    digest: str = ""  # the digest a skipped or retagged node already has (an external base: its own)
    base: str = ""  # the external base this node is built on, as reference@digest ("" if none or unresolved)
    borrowed: bool = False  # a --no-secrets PR builds it on a build made with the secrets: no content tag
    after: tuple[str, ...] = ()  # the nodes it is built after besides its parent (its SBOM generator)


def make_plan(stack_graph: StackGraph, selected: Iterable[str] | None = None,
              reason: str = "full") -> tuple[PlanEntry, ...]:
    """Every selected node in build order, each built for reason (external bases used, not looked up)."""
    wanted = set(stack_graph.order if selected is None else selected)
    return tuple(
        PlanEntry(node.name, node.stack, node.kind, node.ref, node.parent, node.platforms,
                  EXTERNAL if node.external else BUILD, "base_not_checked" if node.external else reason,
                  after=built_after(stack_graph, node.name))
        for node in (stack_graph.nodes[name] for name in stack_graph.order if name in wanted)
    )


def built_after(stack_graph: StackGraph, name: str) -> tuple[str, ...]:
    """The nodes name is built after besides its parent (the SBOM generator it is scanned by), sorted."""
    parent = stack_graph.nodes[name].parent
    return tuple(sorted(other for other in stack_graph.graph.predecessors(name) if other != parent))


def count(plan: Iterable[PlanEntry], action: str) -> int:
    """How many entries have action."""
    return sum(1 for entry in plan if entry.action == action)


def plan_json(plan: Iterable[PlanEntry]) -> str:
    """The plan as a JSON document."""
    entries = list(plan)
    summary = {action: count(entries, action) for action in ACTIONS}
    return json.dumps({"summary": summary, "nodes": [asdict(entry) for entry in entries]}, indent=2)


BORROWED_NOTE = "; no content tag: built on a build made with the secrets"


def _reason(entry: PlanEntry) -> str:
    return entry.reason + BORROWED_NOTE if entry.borrowed else entry.reason


def plan_table(plan: Iterable[PlanEntry]) -> str:
    """The plan as an aligned text table, with a summary line."""
    entries = list(plan)
    rows = [("#", "NODE", "ACTION", "REASON", "PARENT", "PLATFORMS", "TAG")]
    for index, entry in enumerate(entries, start=1):
        rows.append((str(index), entry.node, entry.action, _reason(entry), entry.parent or "-",
                     ",".join(p.removeprefix("linux/") for p in entry.platforms), entry.ref))
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]) - 1)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1]
             for row in rows]
    summary = ", ".join(f"{count(entries, action)} {action}" for action in ACTIONS if count(entries, action))
    return "\n".join(line.rstrip() for line in lines) + f"\n{len(entries)} nodes: {summary}"
