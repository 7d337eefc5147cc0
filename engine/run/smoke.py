"""A built node's smoke tests: its own command, then its ancestors' when it asks, on every platform."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from engine.state.report import NodeReport
from graph.expand.dag import StackGraph
from graph.model.spec import Node

if TYPE_CHECKING:
    from engine.build.builder import Builder

log = structlog.get_logger()


def tests_of(stack_graph: StackGraph, node: Node) -> list[tuple[str, tuple[str, ...]]]:
    """(node the test belongs to, argv) pairs: the node's own, then its ancestors' if asked."""
    commands = [(node.name, node.test)] if node.test else []
    current = node
    while node.retest_ancestors and current.parent:
        current = stack_graph.nodes[current.parent]
        if current.test and not current.external:
            commands.append((current.name, current.test))
    return commands


def smoke_test(builder: Builder, stack_graph: StackGraph, node: Node, digest: str,
               node_report: NodeReport) -> None:
    """Run the node's tests on every platform of the pushed digest; a platform is `failed` until they pass."""
    commands = tests_of(stack_graph, node)
    for platform in node.platforms if commands else ():
        node_report.tests[platform] = "failed"
        for origin, command in commands:
            output = builder.smoke_test(node.name, f"{node.repository}@{digest}", platform, command)
            log.info("node_tested", node=node.name, platform=platform, test_of=origin,
                     output=output.strip()[-200:])
        node_report.tests[platform] = "passed"
