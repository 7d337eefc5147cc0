"""`stackbuild check`: the nodes that declare an image contract, checked a few at a time, and the report."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence

from engine.parallel import side_by_side
from engine.run.contractcheck import NOT_PUBLISHED, ImageSource, Runner, check_image, command_problems
from engine.run.contractdefs import (
    CONTRACTS,
    YMIR_FILES,
    Contract,
    ContractError,
    FileCheck,
    ImageResult,
    get_contract,
    register,
)
from graph.errors import StackError
from graph.expand.dag import StackGraph
from graph.model.spec import Node

__all__ = [  # the contracts and the check of one image live next door; their names stay importable here
    "CHECK_THREADS", "CONTRACTS", "NOT_PUBLISHED", "YMIR_FILES", "Contract", "ContractError", "FileCheck",
    "ImageResult", "ImageSource", "Runner", "check_image", "check_nodes", "command_problems",
    "contract_nodes", "get_contract", "register", "report",
]
CHECK_THREADS = 4


def contract_nodes(stack_graph: StackGraph, patterns: Iterable[str] = ()) -> list[Node]:
    """The nodes declaring a contract, of those matching any pattern (all without patterns)."""
    patterns = list(patterns)
    for pattern in patterns:
        if not any(_selected(node, [pattern]) for node in stack_graph.nodes.values()):
            raise StackError(f"no node matches {pattern!r}", hint="`stackbuild plan` lists the nodes")
    nodes = [stack_graph.nodes[name] for name in stack_graph.order]
    return [node for node in nodes if node.contract and (not patterns or _selected(node, patterns))]


def _selected(node: Node, patterns: Sequence[str]) -> bool:
    """Whether the node's name or definition matches a glob."""
    return any(fnmatch.fnmatchcase(node.name, p) or fnmatch.fnmatchcase(node.definition, p) for p in patterns)


def check_nodes(nodes: Sequence[Node], runner: Runner, source: ImageSource) -> list[ImageResult]:
    """Check the published image of every node against its contract, a few nodes at a time."""
    contracts = {node.name: get_contract(node.contract) for node in nodes}  # unknown names fail first
    return side_by_side(lambda node: check_image(contracts[node.name], node.ref, runner, source,
                                                 node.platforms, node.name), nodes, CHECK_THREADS)


def report(results: Sequence[ImageResult]) -> str:
    """The results for people: per image, per platform, what is missing."""
    lines = []
    for result in results:
        lines.append(f"{result.node or result.ref}  {result.contract}  {result.ref}")
        if result.problem:
            lines.append(f"  missing: {result.problem}")
        for platform in result.platforms:
            lines.append(f"  {platform.platform:<12} " + ("ok" if platform.ok else "missing:"))
            lines += [f"    - {item}" for item in platform.missing]
    failed = sum(1 for result in results if not result.ok)
    lines.append(f"{failed} of {len(results)} image(s) miss their contract" if failed
                 else f"all {len(results)} image(s) meet their contracts")
    return "\n".join(lines)


