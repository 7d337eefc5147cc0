"""Loads one stack file into nodes: schema checks, path checks and the -dev rule."""

from __future__ import annotations

import posixpath
from dataclasses import replace
from pathlib import Path

from graph import checks
from graph.errors import Location, StackError
from graph.fields import Fields
from graph.spec import KINDS, Node, Secret, Stack
from graph.yamldoc import YamlDoc, parse_yaml

DEFAULT_PLATFORMS = ("linux/amd64", "linux/arm64")
STACK_KEYS = ("stack", "registry", "platforms", "args", "secrets", "nodes", "dev")
NODE_KEYS = ("kind", "parent", "dockerfile", "context", "target", "image", "tag", "platforms",
             "args", "test", "secrets")
DEV_KEYS = ("dockerfile", "context", "target", "suffix", "args", "secrets", "test", "except")
SECRET_KEYS = ("id", "env", "src")


def load_stack(root: Path, file: Path) -> Stack:
    """Load and check the stack file at file; paths in it are relative to its folder."""
    rel_file = _relative(root, file)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise StackError(f"cannot read stack file: {exc}", Location(rel_file)) from None
    doc = parse_yaml(text, rel_file)
    top = Fields(doc, (), doc.data if doc.data is not None else {}, STACK_KEYS, "a stack file")
    name = top.text("stack", check=checks.name_problem)
    registry = top.text("registry", check=checks.registry_problem)
    base = _Base(root, posixpath.dirname(rel_file), name, registry,
                 top.texts("platforms", checks.platform_problem), top.mapping("args"),
                 _secrets(top))
    _check_args(top, "args")
    nodes_data = top.data.get("nodes")
    if not isinstance(nodes_data, dict) or not nodes_data:
        raise top.fail("nodes" if top.has("nodes") else "stack", "a stack needs a 'nodes' mapping",
                       "add 'nodes:' with at least one node")
    nodes = [_node(base, doc, str(key), value) for key, value in nodes_data.items()]
    if top.has("dev"):
        nodes += _dev_nodes(base, top.section("dev", DEV_KEYS, "'dev'"), nodes)
    return Stack(name, rel_file, registry, base.platforms or DEFAULT_PLATFORMS, tuple(nodes))


class _Base:
    """What every node of one stack file shares."""

    def __init__(self, root: Path, folder: str, stack: str, registry: str,
                 platforms: tuple[str, ...], args: dict[str, str],
                 secrets: tuple[Secret, ...]) -> None:
        self.root, self.folder, self.stack, self.registry = root, folder, stack, registry
        self.platforms, self.args, self.secrets = platforms, args, secrets

    def merged_secrets(self, own: tuple[Secret, ...]) -> tuple[Secret, ...]:
        """The stack's secrets overridden by a node's own, by id."""
        by_id = {secret.id: secret for secret in (*self.secrets, *own)}
        return tuple(by_id[key] for key in sorted(by_id))


def _node(base: _Base, doc: YamlDoc, name: str, data: object) -> Node:
    """One node definition."""
    problem = checks.name_problem(name)
    if problem:
        raise StackError(problem, doc.at("nodes", name), "rename the node")
    fields = Fields(doc, ("nodes", name), data, NODE_KEYS, f"node '{name}'")
    kind = fields.text("kind")
    if kind not in KINDS:
        raise fields.fail("kind", f"unknown kind {kind!r}", f"use one of: {', '.join(KINDS)}")
    dockerfile, context = _paths(base, fields, f"{name}/Dockerfile")
    _check_args(fields, "args")
    return Node(
        name=name, stack=base.stack, kind=kind,
        parent=fields.text("parent", "", checks.name_problem) or None,
        dockerfile=dockerfile, context=context, registry=base.registry,
        image=fields.text("image", name, checks.image_problem),
        tag=fields.text("tag", check=checks.tag_problem),
        platforms=fields.texts("platforms", checks.platform_problem),
        args=tuple(sorted({**base.args, **fields.mapping("args")}.items())),
        target=fields.text("target", "", _target_problem),
        test=fields.command("test"), secrets=base.merged_secrets(_secrets(fields)),
        location=doc.at("nodes", name),
    )


def _dev_nodes(base: _Base, dev: Fields, nodes: list[Node]) -> list[Node]:
    """The -dev sibling of every node not excepted, built FROM that node."""
    names = {node.name for node in nodes}
    excepted = dev.texts("except")
    for index, name in enumerate(excepted):
        if name not in names:
            raise StackError(f"dev.except names unknown node {name!r}", dev.where("except", index),
                             f"known: {', '.join(sorted(names))}")
    dockerfile, context = _paths(base, dev, None)
    suffix = dev.text("suffix", "-dev", _suffix_problem)
    _check_args(dev, "args")
    derived = []
    for node in nodes:
        if node.name in excepted:
            continue
        tag = node.tag + suffix
        if checks.tag_problem(tag):
            raise StackError(checks.tag_problem(tag), node.location, "shorten the node's tag")
        derived.append(replace(
            node, name=node.name + suffix, parent=node.name, dockerfile=dockerfile,
            context=context, tag=tag, target=dev.text("target", "", _target_problem),
            args=tuple(sorted({**base.args, **dev.mapping("args")}.items())),
            test=dev.command("test") or node.test,
            secrets=base.merged_secrets(_secrets(dev)), variant="dev",
            platforms=(), location=dev.where(),
        ))
    return derived


def _paths(base: _Base, fields: Fields, default_dockerfile: str | None) -> tuple[str, str]:
    """The Dockerfile and the context folder, both checked to exist inside the repository."""
    dockerfile = fields.text("dockerfile", default_dockerfile)
    dockerfile_path = checks.inside(base.root, posixpath.join(base.folder, dockerfile))
    if dockerfile_path is None:
        raise fields.fail("dockerfile", f"Dockerfile {dockerfile!r} is outside the repository",
                          "keep Dockerfiles inside the repository, without ',' in the path")
    if not dockerfile_path.is_file():
        raise StackError(f"Dockerfile {posixpath.join(base.folder, dockerfile)} does not exist",
                         fields.where("dockerfile") if fields.has("dockerfile") else fields.where(),
                         "create it or set 'dockerfile:' to its path relative to the stack file")
    context = fields.text("context", posixpath.dirname(dockerfile) or ".")
    context_path = checks.inside(base.root, posixpath.join(base.folder, context))
    if context_path is None:
        raise fields.fail("context", f"build context {context!r} is outside the repository",
                          "use a folder inside the repository, without ',' in the path")
    if not context_path.is_dir():
        raise fields.fail("context", f"build context {context!r} is not a folder")
    return _relative(base.root, dockerfile_path), _relative(base.root, context_path)


def _secrets(fields: Fields) -> tuple[Secret, ...]:
    """Build secrets: each {id, env} or {id, src}; never build args."""
    items = fields.data.get("secrets", [])
    if not isinstance(items, list):
        raise fields.fail("secrets", "'secrets' must be a list of {id, env} or {id, src}")
    result = []
    for index, _ in enumerate(items):
        item = Fields(fields.doc, (*fields.path, "secrets", index), items[index], SECRET_KEYS,
                      "a secret")
        secret = Secret(item.text("id", check=_secret_id_problem),
                        item.text("env", "", _env_problem), item.text("src", "", _src_problem))
        if bool(secret.env) == bool(secret.src):
            raise item.fail("id", f"secret {secret.id!r} needs exactly one of 'env' or 'src'")
        result.append(secret)
    return tuple(result)


def _check_args(fields: Fields, key: str) -> None:
    for name, value in fields.mapping(key).items():
        problem = checks.arg_problem(name, value)
        if problem:
            raise StackError(problem, fields.where(key, name), "fix the build arg")


def _target_problem(value: str) -> str:
    return "" if checks.TARGET_RE.fullmatch(value) else f"target {value!r} is not a stage name"


def _secret_id_problem(value: str) -> str:
    return "" if checks.SECRET_ID_RE.fullmatch(value) else f"secret id {value!r} may use only [A-Za-z0-9_.-]"


def _env_problem(value: str) -> str:
    return "" if checks.ENV_RE.fullmatch(value) else f"env {value!r} is not a variable name"


def _src_problem(value: str) -> str:
    if not value:
        return "src must name a file"
    return "" if "," not in value and "\n" not in value else f"src {value!r} may not contain ','"


def _suffix_problem(value: str) -> str:
    if value.startswith(("-", "_", ".")) and not checks.name_problem("x" + value):
        return ""
    return f"suffix {value!r} must start with '-', '_' or '.' and use lower-case letters and digits"


def _relative(root: Path, path: Path) -> str:
    """path relative to root, in POSIX form."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix() or "."
    except ValueError:
        return path.as_posix()
