"""Loads one stack file into node definitions and its -dev rule: the stack, node and dev schema."""

from __future__ import annotations

import posixpath
from pathlib import Path

from graph.errors import Location, StackError
from graph.load.axes import read_combinations, read_constraints, read_rules
from graph.load.display import read_display
from graph.load.extends import extended_definitions
from graph.load.fields import Fields, listed_once
from graph.load.imagedoc import one_doc_per_image, read_doc
from graph.load.limits import DEFAULT_LIMITS, Limits
from graph.load.paths import build_paths, relative
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
)
from graph.load.yamldoc import YamlDoc, parse_yaml
from graph.model import checks
from graph.model.spec import KINDS, Definition, DevRule, Secret, Stack

DEFAULT_PLATFORMS = ("linux/amd64", "linux/arm64")
STACK_KEYS = ("stack", "registry", "platforms", "tags", "args", "secrets", "nodes", "dev", "adopt",
              "provenance", "sbom", "display")
NODE_KEYS = ("kind", "name", "extends", "parent", "from", "dockerfile", "context", "target", "image", "tag",
             "tags", "platforms", "args", "attrs", "axes", "include", "exclude", "constraints", "test",
             "secrets", "contract", "retest_ancestors", "doc")
DEV_KEYS = ("dockerfile", "context", "target", "suffix", "args", "secrets", "test", "except")


def load_stack(root: Path, file: Path, limits: Limits = DEFAULT_LIMITS) -> Stack:
    """Load and check the stack file at file; paths in it are relative to its folder."""
    refuse_escaping_link(root, file)
    rel_file = relative(root, file)
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
    one_doc_per_image(definitions)
    dev = _dev_rule(base, top.section("dev", DEV_KEYS, "'dev'"), definitions) if top.has("dev") else None
    return Stack(base.stack, rel_file, base.registry, base.platforms, definitions, dev, base.convention,
                 top.flag("adopt"), read_display(top))


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

    def paths(self, fields: Fields, default_dockerfile: str | None) -> tuple[str, str]:
        """The Dockerfile and build context of fields, from the stack file's folder, checked."""
        return build_paths(self.root, self.folder, fields, default_dockerfile)

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
    dockerfile, context = ("", "") if external else base.paths(fields, f"{name}/Dockerfile")
    for key in ("dockerfile", "tag", "tags", "context", "args", "target", "doc"):
        if external and fields.has(key):
            raise fields.fail(key, f"node '{name}' has both 'from' and '{key}'",
                              f"an external image is used as it is: drop '{key}' or 'from'")
    check_args(fields, "args")
    check_attr_values(fields)
    return Definition(
        name=name, stack=base.stack, kind=kind,
        parents=listed_once(fields, "parent", fields.texts("parent", checks.name_problem), "parent"),
        registry=base.registry, image=fields.text("image", name, checks.image_problem),
        tag=fields.text("tag", ""), convention=fields.text("tags", base.convention, convention_problem),
        dockerfile=dockerfile,
        context=context, external=external,
        platforms=_platforms(fields), default_platforms=base.platforms,
        args=base.merged_args(fields.mapping("args")), target=fields.text("target", "", target_problem),
        test=fields.command("test"), secrets=base.merged_secrets(read_secrets(fields)),
        attrs=tuple(fields.mapping("attrs", attr_problem).items()),  # in file order: later use earlier
        combinations=read_combinations(fields, limits), constraints=read_constraints(fields),
        excludes=tuple((tuple(rule.items()), fields.where("exclude", index))
                       for index, rule in enumerate(read_rules(fields, "exclude"))),
        location=doc.at("nodes", name),
        name_template=fields.text("name", ""),
        contract=fields.text("contract", "", checks.name_problem),
        retest_ancestors=fields.flag("retest_ancestors"),
        provenance=base.provenance,
        sbom_generator="" if external else base.sbom_generator,
        lines=_lines(doc, fields, base),
        doc=read_doc(base.root, base.folder, fields),
    )


def _platforms(fields: Fields) -> tuple[str, ...]:
    """The platforms field: known platforms, each once."""
    platforms = fields.texts("platforms", checks.platform_problem)
    if fields.has("platforms") and not platforms:  # it would silently mean the default platforms
        raise fields.fail("platforms", "'platforms' lists no platform",
                          "name at least one (linux/amd64, linux/arm64), or drop the key for the default")
    return listed_once(fields, "platforms", platforms, "platform")


def _lines(doc: YamlDoc, fields: Fields, base: _Base) -> tuple[tuple[str, Location], ...]:
    """Where each templated field is written; build args one by one (the stack's own included)."""
    lines = [(key, fields.where(key)) for key in ("tag", "tags", "args", "test", "from", "attrs", "name")
             if fields.has(key)]
    lines += [(f"args.{key}", doc.at("args", key)) for key in base.args]
    lines += [(f"args.{key}", fields.where("args", key)) for key in fields.mapping("args")]
    return tuple(lines)


def _dev_rule(base: _Base, dev: Fields, definitions: tuple[Definition, ...]) -> DevRule:
    """The stack's rule for -dev siblings."""
    names = {definition.name for definition in definitions}
    excepted = dev.texts("except")
    for index, name in enumerate(excepted):
        if name not in names:
            raise StackError(f"dev.except names unknown node {name!r}", dev.where("except", index),
                             f"known: {', '.join(sorted(names))}")
    dockerfile, context = base.paths(dev, None)
    check_args(dev, "args")
    return DevRule(dockerfile, context, dev.text("suffix", "-dev", suffix_problem),
                   base.merged_args(dev.mapping("args")), dev.text("target", "", target_problem),
                   dev.command("test"), base.merged_secrets(read_secrets(dev)), excepted, dev.where())
