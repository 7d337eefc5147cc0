"""`stackbuild export bake`: the stacks as a docker-bake.hcl, one bake target per node.

The file builds what `stackbuild build` builds, the way `docker buildx bake` does it: every target
in one solve, a child getting its parent through the named context `parent` (`target:<parent>`,
or `docker-image://<ref>` for an external base), pushed to the node's human tag. Paths are relative
to the repository root, so bake runs there: `docker buildx bake -f build/docker-bake.hcl --push`.
"""

from __future__ import annotations

import argparse
import posixpath
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from engine.build.buildx_args import PARENT_CONTEXT
from engine.cli.options import options_of
from graph.expand.dag import StackGraph
from graph.model.spec import Node

DEFAULT_OUT = "build/docker-bake.hcl"
GROUP = "default"
_NOT_ALLOWED = re.compile(r"[^a-zA-Z0-9_-]")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def hcl_string(value: str) -> str:
    """value as an HCL quoted string: escapes, and `${` / `%{` kept literal (no interpolation)."""
    out = []
    for char in value:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    text = "".join(out).replace("${", "$${").replace("%{", "%%{")
    return f'"{text}"'


def target_names(stack_graph: StackGraph) -> dict[str, str]:
    """Built node → bake target name: only [a-zA-Z0-9_-], unique, never the group's name."""
    names: dict[str, str] = {}
    taken = {GROUP}
    for name in stack_graph.order:
        if stack_graph.nodes[name].external:
            continue
        base = _NOT_ALLOWED.sub("_", name)
        candidate, number = base, 1
        while candidate in taken:
            number += 1
            candidate = f"{base}_{number}"
        taken.add(candidate)
        names[name] = candidate
    return names


def bake_hcl(stack_graph: StackGraph, source: str = "") -> str:
    """The HCL text of a bake file building every node of stack_graph (external bases excepted)."""
    names = target_names(stack_graph)
    header = [f"# Written by `stackbuild export bake`{f' from {source}' if source else ''}: "
              f"{len(names)} targets.",
              "# Paths are relative to the repository root; build and push from there with",
              "#   docker buildx bake -f <this file> --push"]
    blocks = [_group(names.values())]
    blocks += [_target(stack_graph.nodes[node], names, stack_graph) for node in names]
    return "\n".join(header) + "\n\n" + "\n".join(blocks)


def _group(targets: Iterable[str]) -> str:
    return f'group "{GROUP}" {{\n  targets = {_list(targets, indent=2)}\n}}\n'


def _target(node: Node, names: Mapping[str, str], stack_graph: StackGraph) -> str:
    fields: list[tuple[str, str]] = [
        ("context", hcl_string(node.context)),
        ("dockerfile", hcl_string(posixpath.relpath(node.dockerfile, node.context))),
    ]
    if node.parent:
        parent = stack_graph.nodes[node.parent]
        source = f"docker-image://{parent.ref}" if parent.external else f"target:{names[parent.name]}"
        fields.append(("contexts", _map({PARENT_CONTEXT: source}, indent=2)))
    fields.append(("platforms", _list(node.platforms, indent=2)))
    fields.append(("tags", _list([node.ref], indent=2)))
    if node.target:
        fields.append(("target", hcl_string(node.target)))
    if node.args:
        fields.append(("args", _map(dict(node.args), indent=2)))
    if node.secrets:
        fields.append(("secret", _list([f"id={s.id},env={s.env}" if s.env else f"id={s.id},src={s.src}"
                                         for s in node.secrets], indent=2)))
    width = max(len(key) for key, _ in fields)
    body = "".join(f"  {key:<{width}} = {value}\n" for key, value in fields)
    return f"target {hcl_string(names[node.name])} {{\n{body}}}\n"


def _list(values: Iterable[str], indent: int) -> str:
    items = [hcl_string(value) for value in values]
    if len(items) <= 4 and sum(len(item) + 2 for item in items) <= 80:
        return f"[{', '.join(items)}]"
    pad = " " * (indent + 2)
    return "[\n" + "".join(f"{pad}{item},\n" for item in items) + " " * indent + "]"


def _map(values: Mapping[str, str], indent: int) -> str:
    entries = [(key if _IDENTIFIER.fullmatch(key) else hcl_string(key), hcl_string(value))
               for key, value in values.items()]
    if len(entries) == 1 and len(entries[0][0]) + len(entries[0][1]) <= 70:
        return f"{{ {entries[0][0]} = {entries[0][1]} }}"
    width = max(len(key) for key, _ in entries)
    pad = " " * (indent + 2)
    return "{\n" + "".join(f"{pad}{key:<{width}} = {value}\n" for key, value in entries) + " " * indent + "}"


def run(args: argparse.Namespace) -> int:
    """Write the bake file of the targeted stacks (default build/docker-bake.hcl below the root)."""
    from engine.run import api
    options = options_of(args)
    stack_graph = api.load(options)
    out = Path(args.out or DEFAULT_OUT)
    path = out if out.is_absolute() else options.root / out
    path.parent.mkdir(parents=True, exist_ok=True)
    source = ", ".join(target.as_posix() for target in options.targets)
    text = bake_hcl(stack_graph, source)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path} ({len(target_names(stack_graph))} targets)")
    return 0
