"""One expanded node: a definition's attributes, name, platforms, build args and `from:` filled in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from graph.errors import Location, StackError
from graph.expand.tagging import node_tag
from graph.expand.template import render
from graph.expr.constraint import Constraint, parse_constraint
from graph.load.reference import reference_problem
from graph.model import checks
from graph.model.spec import Combination, Definition, Node

# The attr a definition's name becomes. Kind os sets none: an OS node is named for its role ('os',
# 'base'), not its distribution, so `os_name` must come from its axes or attrs.
KIND_ATTR = {"sdk": "sdk", "framework": "framework", "tool": "app", "llm": "app"}
# Attributes that name the OS: a child is built FROM its parent, so it cannot change them (its tag would lie).
OS_ATTRS = ("os", "os_name", "os_version", "os_release")

Constraints = list[tuple[Constraint, Location]]


@dataclass(frozen=True)
class Parent:
    """A parent node and whether its name must appear in its children's names."""

    node: Node
    named: bool


def parse_constraints(definition: Definition) -> Constraints:
    """The definition's constraint expressions parsed, each error at its own line."""
    return [(_parse(text, where), where) for text, where in definition.constraints]


def _parse(text: str, where: Location) -> Constraint:
    try:
        return parse_constraint(text)
    except StackError as exc:
        raise StackError(exc.message, where, exc.hint) from None


def expanded_node(definition: Definition, parent: Parent | None, combo: Combination,
                  constraints: Constraints, used: set[int]) -> Node | None:
    """One expanded node, or None when an exclude rule matches (noted in used) or no platform is left."""
    attrs = _attrs(definition, parent.node if parent else None, combo)
    excluded = [i for i, (rule, _) in enumerate(definition.excludes)
                if all(attrs.get(key) == value for key, value in rule)]
    if excluded:
        used.update(excluded)
        return None
    platforms = _platforms(definition, parent.node if parent else None, attrs, constraints)
    if not platforms:
        return None
    tag = node_tag(definition, attrs)
    name = _name(definition, parent, combo, attrs)
    if not checks.GENERATED_NAME_RE.fullmatch(name):
        where = definition.at("name") if definition.name_template else combo.location
        raise StackError(f"node name {name!r} is not valid", where,
                         "names and matrix values use letters, digits, '_', '.' and '-'")
    where_test = definition.at("test")
    return Node(
        name=name, stack=definition.stack, kind=definition.kind,
        parent=parent.node.name if parent else None,
        dockerfile=definition.dockerfile, context=definition.context, registry=definition.registry,
        image=definition.image, tag=tag, platforms=platforms,
        args=_args(definition, attrs),
        target=definition.target,
        test=tuple(render(item, attrs, where_test) for item in definition.test),
        secrets=definition.secrets, attrs=tuple(sorted(attrs.items())),
        external=_external(definition, attrs), definition=definition.name,
        contract=definition.contract, retest_ancestors=definition.retest_ancestors,
        provenance=definition.provenance, location=definition.location,
        sbom_generator=definition.sbom_generator,
    )


def _name(definition: Definition, parent: Parent | None, combo: Combination,
          attrs: Mapping[str, str]) -> str:
    """A `name:` template filled in as written, or <definition>-<values>[-<parent>]."""
    if definition.name_template:
        return render(definition.name_template, attrs, definition.at("name"))
    own = [definition.name, *(value for _, value in combo.values)]
    return "-".join([*own, *([parent.node.name] if parent and parent.named else [])])


def _args(definition: Definition, attrs: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The build args filled in, each error at its own line (lines looked up once, not once per arg)."""
    lines = dict(definition.lines)
    return tuple((key, render(value, attrs, lines.get(f"args.{key}", definition.location)))
                 for key, value in definition.args)


def _external(definition: Definition, attrs: Mapping[str, str]) -> str:
    """The filled-in `from:` reference, checked ('' for a built node)."""
    if not definition.external:
        return ""
    reference = render(definition.external, attrs, definition.at("from"))
    problem = reference_problem(reference)
    if problem:
        raise StackError(problem, definition.at("from"), "write an image reference such as debian:12")
    return reference


def _attrs(definition: Definition, parent: Node | None, combo: Combination) -> dict[str, str]:
    """Parent attributes, then the definition's name under its kind, its matrix values, its attrs."""
    attrs = dict(parent.attrs) if parent else {}
    where = definition.at("attrs")
    if definition.kind in KIND_ATTR:
        attrs[KIND_ATTR[definition.kind]] = definition.name
    attrs["layer"] = definition.kind
    attrs.update(combo.values)
    for key, value in definition.attrs:
        attrs[key] = render(value, attrs, where)
    if parent is not None:
        _keep_parent_os(definition, parent, combo, attrs)
    return attrs


def _keep_parent_os(definition: Definition, parent: Node, combo: Combination,
                    attrs: Mapping[str, str]) -> None:
    """Refuse an axis, include or attr that gives a child another OS than the parent it is built FROM."""
    inherited = dict(parent.attrs)
    for key in OS_ATTRS:
        if key in inherited and attrs.get(key) != inherited[key]:
            where = combo.location if key in dict(combo.values) else definition.at("attrs")
            raise StackError(
                f"node '{definition.name}' sets {key}={attrs.get(key)!r} on parent '{parent.name}', which is "
                f"built on {key}={inherited[key]!r}: a child is built FROM its parent and keeps its OS, so "
                "its tag would name an OS it does not run", where,
                f"drop {key} from this definition's axes, include and attrs; put the OS matrix on the root "
                "definition")


def _platforms(definition: Definition, parent: Node | None, attrs: Mapping[str, str],
               constraints: Constraints) -> tuple[str, ...]:
    """Explicit platforms must fit the parent's; implicit ones are the default narrowed by it."""
    if definition.platforms and parent is not None:
        missing = [p for p in definition.platforms if p not in parent.platforms]
        if missing:
            raise StackError(
                f"node '{definition.name}' wants {', '.join(missing)} but its parent '{parent.name}' "
                f"is built only for {', '.join(parent.platforms)}",
                definition.location, "drop those platforms or add them to the parent")
    candidates = definition.platforms or tuple(
        p for p in definition.default_platforms if parent is None or p in parent.platforms)
    return tuple(p for p in candidates if _allowed(attrs, p, constraints))


def _allowed(attrs: Mapping[str, str], platform: str, constraints: Constraints) -> bool:
    scope = {**attrs, "platform": platform, "arch": platform.split("/")[1]}
    for constraint, where in constraints:
        try:
            if not constraint.holds(scope):
                return False
        except StackError as exc:
            raise StackError(exc.message, where, exc.hint) from None
    return True
