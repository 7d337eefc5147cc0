"""Tag linting: check tags (a stack's own, or a published list) against a stack's convention."""

from __future__ import annotations

import csv
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


def listed_tags(name: str, text: str) -> list[tuple[str, str]]:
    """(name:line, tag) of a tag list: one tag a line, or a .csv with a `tag` column; '#' lines skipped."""
    lines = [(number, line.strip()) for number, line in enumerate(text.splitlines(), start=1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not name.endswith(".csv"):
        return [(f"{name}:{number}", line) for number, line in lines]
    if not lines:
        return []
    header = next(csv.reader([lines[0][1]]))
    if "tag" not in header:
        raise StackError(f"{name}:{lines[0][0]}: the table has no 'tag' column "
                         f"(columns: {', '.join(header)})",
                         hint="start a .csv tag list with a header line naming a 'tag' column")
    column = header.index("tag")
    rows = [(number, next(csv.reader([line]), [])) for number, line in lines[1:]]
    return [(f"{name}:{number}", row[column] if column < len(row) else "") for number, row in rows]


def _convention_problem(convention: str, tag: str, kind: str) -> str:
    if not convention:
        return ""
    try:
        get_convention(convention).parse(tag, kind)
    except StackError as exc:
        return f"{exc.message} ({exc.hint})" if exc.hint else exc.message
    return ""
