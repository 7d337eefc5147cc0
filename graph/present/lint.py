"""Tag linting: check tags (a stack's own, or a published list) against a stack's convention."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from graph.errors import StackError
from graph.expand.dag import StackGraph
from graph.model import checks
from graph.tags.conventions import get_convention


@dataclass(frozen=True)
class TagProblem:
    """One tag that breaks its convention."""

    tag: str
    where: str  # a node name, or "<file>:<line>" of a listed tag
    problem: str


def lint_graph(stack_graph: StackGraph, conventions: dict[str, str]) -> list[TagProblem]:
    """Every node tag checked against the OCI grammar and its stack's convention (stack → name)."""
    problems = []
    for name in stack_graph.order:
        node = stack_graph.nodes[name]
        if node.external:
            continue
        problem = checks.tag_problem(node.tag) or _convention_problem(conventions.get(node.stack, ""),
                                                                        node.tag, node.kind)
        if problem:
            problems.append(TagProblem(node.tag, f"{node.location} ({name})", problem))
    return problems


def lint_tags(tags: Iterable[tuple[str, str]], convention: str) -> list[TagProblem]:
    """(where, tag) pairs checked against one convention."""
    problems = []
    for where, tag in tags:
        problem = checks.tag_problem(tag) or _convention_problem(convention, tag, "")
        if problem:
            problems.append(TagProblem(tag, where, problem))
    return problems


def _convention_problem(convention: str, tag: str, kind: str) -> str:
    if not convention:
        return ""
    try:
        get_convention(convention).parse(tag, kind)
    except StackError as exc:
        return f"{exc.message} ({exc.hint})" if exc.hint else exc.message
    return ""
