"""Loads one stack file into node definitions and its -dev rule: schema and path checks."""

from __future__ import annotations

import posixpath
from pathlib import Path

from graph.errors import Location, StackError
from graph.load.extends import extended_definitions
from graph.load.fields import Fields
from graph.load.limits import DEFAULT_LIMITS, Limits
from graph.load.matrix import combinations, product_size
from graph.load.readfile import read_stack_text, refuse_escaping_link
from graph.load.reference import external_problem
from graph.load.values import (
    attr_problem,
    check_args,
    check_attr_values,
    convention_problem,
    generator_problem,
    provenance_problem,
    read_secrets,
    suffix_problem,
    target_problem,
    value_problem,
)
from graph.load.yamldoc import YamlDoc, parse_yaml
from graph.model import checks
from graph.model.spec import KINDS, Combination, Definition, DevRule, Secret, Stack

DEFAULT_PLATFORMS = ("linux/amd64", "linux/arm64")
STACK_KEYS = ("stack", "registry", "platforms", "tags", "args", "secrets", "nodes", "dev", "adopt",
              "provenance", "sbom")
NODE_KEYS = ("kind", "name", "extends", "parent", "from", "dockerfile", "context", "target", "image", "tag",
             "tags", "platforms", "args", "attrs", "axes", "include", "exclude", "constraints", "test",
             "secrets", "contract", "retest_ancestors")
DEV_KEYS = ("dockerfile", "context", "target", "suffix", "args", "secrets", "test", "except")


def load_stack(root: Path, file: Path, limits: Limits = DEFAULT_LIMITS) -> Stack:
    """Load and check the stack file at file; paths in it are relative to its folder."""
    refuse_escaping_link(root, file)
    rel_file = _relative(root, file)
    doc = parse_yaml(read_stack_text(file, rel_file), rel_file)
    top = Fields(doc, (), doc.data if doc.data is not None else {}, STACK_KEYS, "a stack file")
    check_args(top, "args")
    base = _Base(root, posixpath.dirname(rel_file), top)
    nodes_data = top.data.get("nodes")
    if not isinstance(nodes_data, dict) or not nodes_data:
        raise top.fail("nodes" if top.has("nodes") else "stack", "a stack needs a 'nodes' mapping",
                       "add 'nodes:' with at least one node")
    definitions = tuple(_definition(base, doc, name, data, limits)
                        for name, data in extended_definitions(doc, nodes_data).items())
    dev = _dev_rule(base, top.section("dev", DEV_KEYS, "'dev'"), definitions) if top.has("dev") else None
    return Stack(base.stack, rel_file, base.registry, base.platforms, definitions, dev, base.convention,
                 top.flag("adopt"))


class _Base:
    """What every definition of one stack file shares."""

    def __init__(self, root: Path, folder: str, top: Fields) -> None:
        self.root, self.folder = root, folder
        self.stack = top.text("stack", check=checks.name_problem)
        self.registry = top.text("registry", check=checks.registry_problem)
        self.platforms = _platforms(top) or DEFAULT_PLATFORMS
        self.convention = top.text("tags", "", convention_problem)
        self.args = top.mapping("args")
        self.secrets = read_secrets(top)
        # YAML reads a bare `off` as false: both mean no provenance attestation
        self.provenance = "off" if top.data.get("provenance") is False else \
            top.text("provenance", "max", provenance_problem)
        sbom = top.section("sbom", ("generator",), "'sbom'") if top.has("sbom") else None
        self.sbom_generator = sbom.text("generator", check=generator_problem) if sbom else ""

    def merged_secrets(self, own: tuple[Secret, ...]) -> tuple[Secret, ...]:
        """The stack's secrets overridden by a definition's own, by id."""
        by_id = {secret.id: secret for secret in (*self.secrets, *own)}
        return tuple(by_id[key] for key in sorted(by_id))

    def merged_args(self, own: dict[str, str]) -> tuple[tuple[str, str], ...]:
        """The stack's build args overridden by a definition's own."""
        return tuple(sorted({**self.args, **own}.items()))


def _definition(base: _Base, doc: YamlDoc, name: str, data: object, limits: Limits) -> Definition:
    """One node definition, matrix included."""
    problem = checks.name_problem(name)
    if problem:
        raise StackError(problem, doc.at("nodes", name), "rename the node")
    fields = Fields(doc, ("nodes", name), data, NODE_KEYS, f"node '{name}'")
    kind = fields.text("kind")
    if kind not in KINDS:
        raise fields.fail("kind", f"unknown kind {kind!r}", f"use one of: {', '.join(KINDS)}")
    external = fields.text("from", "", external_problem)
    dockerfile, context = ("", "") if external else _paths(base, fields, f"{name}/Dockerfile")
    for key in ("dockerfile", "tag", "tags", "context", "args", "target"):
        if external and fields.has(key):
            raise fields.fail(key, f"node '{name}' has both 'from' and '{key}'",
                              f"an external image is used as it is: drop '{key}' or 'from'")
    check_args(fields, "args")
    check_attr_values(fields)
    return Definition(
        name=name, stack=base.stack, kind=kind,
        parents=_listed_once(fields, "parent", fields.texts("parent", checks.name_problem), "parent"),
        registry=base.registry, image=fields.text("image", name, checks.image_problem),
        tag=fields.text("tag", ""), convention=fields.text("tags", base.convention, convention_problem),
        dockerfile=dockerfile,
        context=context, external=external,
        platforms=_platforms(fields), default_platforms=base.platforms,
        args=base.merged_args(fields.mapping("args")), target=fields.text("target", "", target_problem),
        test=fields.command("test"), secrets=base.merged_secrets(read_secrets(fields)),
        attrs=tuple(fields.mapping("attrs", attr_problem).items()),  # in file order: later use earlier
        combinations=_combinations(fields, limits), constraints=_constraints(fields),
        excludes=tuple((tuple(rule.items()), fields.where("exclude", index))
                       for index, rule in enumerate(_rules(fields, "exclude"))),
        location=doc.at("nodes", name),
        name_template=fields.text("name", ""),
        contract=fields.text("contract", "", checks.name_problem),
        retest_ancestors=fields.flag("retest_ancestors"),
        provenance=base.provenance,
        sbom_generator="" if external else base.sbom_generator,
        lines=_lines(doc, fields, base),
    )


def _platforms(fields: Fields) -> tuple[str, ...]:
    """The platforms field: known platforms, each once."""
    platforms = fields.texts("platforms", checks.platform_problem)
    if fields.has("platforms") and not platforms:  # it would silently mean the default platforms
        raise fields.fail("platforms", "'platforms' lists no platform",
                          "name at least one (linux/amd64, linux/arm64), or drop the key for the default")
    return _listed_once(fields, "platforms", platforms, "platform")


def _listed_once(fields: Fields, key: str, values: tuple[str, ...], what: str,
                 of: str = "") -> tuple[str, ...]:
    """values (the list under key), each once; StackError at the second of two equal ones."""
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value in seen:
            raise StackError(f"{what} {value!r}{of} is listed twice", fields.where(key, index),
                             f"list each {what} once")
        seen.add(value)
    return values


def _lines(doc: YamlDoc, fields: Fields, base: _Base) -> tuple[tuple[str, Location], ...]:
    """Where each templated field is written; build args one by one (the stack's own included)."""
    lines = [(key, fields.where(key)) for key in ("tag", "tags", "args", "test", "from", "attrs", "name")
             if fields.has(key)]
    lines += [(f"args.{key}", doc.at("args", key)) for key in base.args]
    lines += [(f"args.{key}", fields.where("args", key)) for key in fields.mapping("args")]
    return tuple(lines)


def _combinations(fields: Fields, limits: Limits) -> tuple[Combination, ...]:
    """The matrix of a definition: axes × include − exclude, each combination with its line."""
    axes_data = fields.data.get("axes", {})
    if not isinstance(axes_data, dict):
        raise fields.fail("axes", "'axes' must map each axis to a list of values",
                          "write 'axes: {os: [2203sp3, 2403lts]}'")
    axes_fields = fields.section("axes", tuple(map(str, axes_data)), "'axes'")
    axes = [(str(axis), axes_fields.texts(str(axis), value_problem)) for axis in axes_data]
    for axis, values in axes:
        if attr_problem(axis):
            raise axes_fields.fail(axis, attr_problem(axis), "rename the axis")
        if not values:
            raise axes_fields.fail(axis, f"axis '{axis}' has no values", "list at least one value")
        _listed_once(axes_fields, axis, values, "value", f" of axis '{axis}'")
    location = fields.where("axes") if axes else fields.where("include")
    size = product_size(axes)
    if size > limits.max_nodes:
        raise StackError(f"the axes of node '{fields.path[-1]}' make {size} combinations, more than the "
                         f"limit of {limits.max_nodes} nodes", location,
                         "shrink the matrix, or raise the limit with --max-nodes N")
    product = [Combination(tuple(combo.items()), location) for combo in combinations(axes)]
    return (*product, *_included(fields, product))


def _included(fields: Fields, product: list[Combination]) -> list[Combination]:
    """The include rules the axes do not already make, each at its own line."""
    known = {frozenset(combo.values) for combo in product}
    included = []
    for index, rule in enumerate(_rules(fields, "include")):
        pairs = tuple(rule.items())
        if frozenset(pairs) not in known:
            known.add(frozenset(pairs))
            included.append(Combination(pairs, fields.where("include", index), included=True))
    return included


def _rules(fields: Fields, key: str) -> list[dict[str, str]]:
    """include/exclude: a list of {axis: value} mappings."""
    items = fields.data.get(key, [])
    if not isinstance(items, list):
        raise fields.fail(key, f"'{key}' must be a list of {{axis: value}} mappings",
                          f"write '{key}: [{{os: 2403lts}}]'")
    rules = []
    for index, item in enumerate(items):
        allowed = tuple(map(str, item)) if isinstance(item, dict) else ()
        rule = Fields(fields.doc, (*fields.path, key, index), item, allowed, f"an {key} rule")
        for name in allowed:
            if attr_problem(name):
                raise rule.fail(name, attr_problem(name), "rename the attribute")
        values = {name: rule.text(name, check=value_problem) for name in map(str, item)}
        if not values:
            raise fields.fail(key, f"{key} rule {index + 1} is empty", "name at least one axis value")
        rules.append(values)
    return rules


def _constraints(fields: Fields) -> tuple[tuple[str, Location], ...]:
    """Constraint expressions with their lines (checked when the matrix expands)."""
    return tuple((text, fields.where("constraints", index))
                 for index, text in enumerate(fields.texts("constraints")))


def _dev_rule(base: _Base, dev: Fields, definitions: tuple[Definition, ...]) -> DevRule:
    """The stack's rule for -dev siblings."""
    names = {definition.name for definition in definitions}
    excepted = dev.texts("except")
    for index, name in enumerate(excepted):
        if name not in names:
            raise StackError(f"dev.except names unknown node {name!r}", dev.where("except", index),
                             f"known: {', '.join(sorted(names))}")
    dockerfile, context = _paths(base, dev, None)
    check_args(dev, "args")
    return DevRule(dockerfile, context, dev.text("suffix", "-dev", suffix_problem),
                   base.merged_args(dev.mapping("args")), dev.text("target", "", target_problem),
                   dev.command("test"), base.merged_secrets(read_secrets(dev)), excepted, dev.where())


def _paths(base: _Base, fields: Fields, default_dockerfile: str | None) -> tuple[str, str]:
    """The Dockerfile and the context folder, both checked to exist inside the repository."""
    try:
        return _checked_paths(base, fields, default_dockerfile)
    except (OSError, RuntimeError, ValueError) as exc:  # a name too long, a symlink loop, ...
        key = next((key for key in ("dockerfile", "context") if fields.has(key)), None)
        raise StackError(f"cannot check the path: {getattr(exc, 'strerror', None) or exc}",
                         fields.where(key) if key else fields.where(),
                         "use a short path to a file inside the repository") from None


def _checked_paths(base: _Base, fields: Fields, default_dockerfile: str | None) -> tuple[str, str]:
    dockerfile = fields.text("dockerfile", default_dockerfile)
    dockerfile_path = checks.inside(base.root, posixpath.join(base.folder, dockerfile))
    if dockerfile_path is None:
        raise fields.fail("dockerfile", f"Dockerfile {dockerfile!r} is outside the repository",
                          "keep Dockerfiles inside the repository, without ',' in the path")
    # a Dockerfile parse error would print the file's lines
    if checks.git_metadata(Path(_relative(base.root, dockerfile_path)).parts):
        raise fields.fail("dockerfile", f"Dockerfile {dockerfile!r} is in git's own files (.git), where CI "
                          "keeps credentials", "keep Dockerfiles in the work tree")
    if not dockerfile_path.is_file():
        shown = posixpath.join(base.folder, dockerfile)
        state = "is a folder, not a file" if dockerfile_path.is_dir() else "does not exist"
        raise StackError(f"Dockerfile {shown} {state}",
                         fields.where("dockerfile") if fields.has("dockerfile") else fields.where(),
                         "create it or set 'dockerfile:' to its path relative to the stack file")
    context = fields.text("context", posixpath.dirname(dockerfile) or ".")
    context_path = checks.inside(base.root, posixpath.join(base.folder, context))
    if context_path is None:
        raise fields.fail("context", f"build context {context!r} is outside the repository",
                          "use a folder inside the repository, without ',' in the path")
    # walked from inside, its files are config, not .git/config: the context walk's check cannot see them
    if checks.git_metadata(Path(_relative(base.root, context_path)).parts):
        raise fields.fail("context", f"build context {context!r} is in git's own files (.git), where CI "
                          "keeps credentials", "use a folder of the work tree")
    if not context_path.is_dir():
        raise fields.fail("context", f"build context {context!r} is not a folder")
    return _relative(base.root, dockerfile_path), _relative(base.root, context_path)


def _relative(root: Path, path: Path) -> str:
    """path relative to root, in POSIX form."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix() or "."
    except (ValueError, OSError, RuntimeError):  # outside root, or a path that cannot be resolved
        return path.as_posix()
