"""Tag linting: check tags (a stack's own, or a published list) against their convention.

A tag that breaks its convention is an error; one that follows it with its fields in another order
(e.g. the SDK before the framework) is a warning naming the canonical tag.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from graph.errors import Location, StackError
from graph.expand.dag import StackGraph
from graph.model import checks
from graph.tags.conventions import get_convention

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class TagProblem:
    """One tag that breaks its convention (an error) or follows it out of order (a warning)."""

    tag: str
    where: str  # a node name, or "<file>:<line>" of a listed tag
    problem: str
    severity: str = ERROR


def lint_graph(stack_graph: StackGraph, conventions: Mapping[str, str],
               own: Mapping[str, str] | None = None) -> list[TagProblem]:
    """Every node tag checked against the OCI grammar and its convention.

    conventions: stack → convention; own: definition → its own `tags:` convention, which wins.
    """
    problems = []
    for name in stack_graph.order:
        node = stack_graph.nodes[name]
        if node.external:
            continue
        convention = (own or {}).get(node.definition) or conventions.get(node.stack, "")
        problem = _problem(convention, node.tag, node.kind)
        if problem:
            problems.append(TagProblem(node.tag, f"{node.location} ({name})", *problem))
    return problems


def lint_tags(tags: Iterable[tuple[str, str]], convention: str) -> list[TagProblem]:
    """(where, tag) pairs checked against one convention."""
    problems = []
    for where, tag in tags:
        problem = _problem(convention, tag, "")
        if problem:
            problems.append(TagProblem(tag, where, *problem))
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
        raise StackError(f"the table has no 'tag' column (columns: {', '.join(header)})",
                         Location(name, lines[0][0]),
                         hint="start a .csv tag list with a header line naming a 'tag' column")
    column = header.index("tag")
    rows = [(number, next(csv.reader([line]), [])) for number, line in lines[1:]]
    return [(f"{name}:{number}", row[column] if column < len(row) else "") for number, row in rows]


def errors(problems: Iterable[TagProblem]) -> list[TagProblem]:
    """The problems that are errors (not warnings)."""
    return [problem for problem in problems if problem.severity == ERROR]


def _problem(convention: str, tag: str, kind: str) -> tuple[str, str] | None:
    """(problem, severity) of one tag, or None when it is fine."""
    problem = checks.tag_problem(tag)
    if problem:
        return problem, ERROR
    if not convention:
        return None
    try:
        canonical = get_convention(convention).canonical(tag, kind)
    except StackError as exc:
        return (f"{exc.message} ({exc.hint})" if exc.hint else exc.message), ERROR
    if canonical != tag:
        return (f"its fields are not in {convention}'s order: the canonical tag is {canonical}",
                WARNING)
    return None
