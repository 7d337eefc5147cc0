"""A node's tag: its own template, checked against its convention, or the one the convention generates."""

from __future__ import annotations

from collections.abc import Mapping

from graph.errors import Location, StackError
from graph.expand.template import render
from graph.model import checks
from graph.model.spec import Definition
from graph.tags.conventions import get_convention


def node_tag(definition: Definition, attrs: Mapping[str, str]) -> str:
    """The node's tag: its own template, or the stack's convention (an external image has none)."""
    where = definition.at("tag")
    if definition.external:
        return ""
    if definition.tag:
        tag = render(definition.tag, attrs, where)
        if definition.convention:
            _check_convention(definition.convention, tag, definition.kind, where)
    elif definition.convention:
        tag = convention_tag(definition.convention, definition.kind, attrs, False, where)
    else:
        raise StackError(f"node '{definition.name}' has no tag", definition.location,
                         "add 'tag:' to the node, or 'tags: <convention>' to the node or the stack")
    problem = checks.tag_problem(tag)
    if problem:
        raise StackError(problem, where, "shorten the tag or change the values it is made of")
    return tag


def convention_tag(convention: str, kind: str, attrs: Mapping[str, str], dev: bool, where: Location) -> str:
    """The tag the convention generates for a node of kind with attrs; its errors placed at where."""
    try:
        return get_convention(convention).generate(kind, attrs, dev)
    except StackError as exc:
        raise StackError(exc.message, where, exc.hint) from None


def dev_tag(convention: str, kind: str, tag: str, attrs: Mapping[str, str], where: Location) -> str:
    """The convention's -dev tag of a node tagged tag: the fields tag says (even hand-written) win."""
    try:
        said = get_convention(convention).parse(tag, kind).attrs
    except StackError as exc:
        raise StackError(exc.message, where, exc.hint) from None
    return convention_tag(convention, kind, {**attrs, **said}, True, where)


def _check_convention(convention: str, tag: str, kind: str, where: Location) -> None:
    """Refuse a hand-written tag the convention cannot read, placed at where."""
    try:
        get_convention(convention).parse(tag, kind)
    except StackError as exc:
        raise StackError(exc.message, where, exc.hint or f"follow the {convention} convention") from None
