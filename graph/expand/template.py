"""`{attr}` templates in stack files, filled from a node's attributes (no other Python formatting)."""

from __future__ import annotations

import string
from collections.abc import Mapping

from graph.errors import Location, StackError

_FORMATTER = string.Formatter()
MAX_RENDERED = 4096  # characters a filled-in template may have (attrs built from attrs could double)


def fields_of(template: str, where: Location | None = None) -> list[str]:
    """The attribute names a template uses; only plain `{name}` fields are allowed."""
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise StackError(f"template {template!r}: {exc}", where,
                         "write {name} for an attribute and {{ }} for literal braces") from None
    names = []
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if not field.isidentifier() or spec or conversion:
            raise StackError(f"template {template!r}: '{{{field}}}' is not a plain attribute name",
                             where, "use {name} only: no indexes, attributes, conversions or formats")
        names.append(field)
    return names


def render(template: str, attrs: Mapping[str, str], where: Location | None = None) -> str:
    """template with every {name} replaced by its attribute."""
    if "{" not in template and "}" not in template:
        return template
    names = fields_of(template, where)
    missing = [name for name in names if name not in attrs]
    if missing:
        raise StackError(f"template {template!r} uses unknown attribute '{missing[0]}'", where,
                         f"known here: {', '.join(sorted(attrs)) or 'none'}")
    size = len(template) + sum(len(attrs[name]) for name in names)
    if size > MAX_RENDERED:
        raise StackError(f"template {template[:40]!r}... would expand to about {size} characters, more than "
                         f"{MAX_RENDERED}", where, "do not build attributes from several copies of others")
    return template.format_map(dict(attrs))
