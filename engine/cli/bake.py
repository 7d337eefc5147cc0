"""`stackbuild export bake`: the stacks as a docker-bake.json, one bake target per node.

The file builds what `stackbuild build` builds, the way `docker buildx bake` does it: every target
in one solve, a child getting its parent through the named context `parent` (`target:<parent>`,
or `docker-image://<ref>` for an external base), pushed to the node's human tag, with the node's
provenance mode and SBOM generator. Paths are relative
to the repository root, so bake runs there: `docker buildx bake -f build/docker-bake.json --push`.
Bake reads JSON as HCL's JSON syntax, so strings are still templates: `${` and `%{` are doubled.
Secrets follow the operator's policy, as `build` does (graph.model.secrets): a host file or an
environment variable not allowed is refused, `--no-secrets` writes none.
"""

from __future__ import annotations

import argparse
import json
import posixpath
import re
from pathlib import Path
from typing import Any

from engine.build.request import PARENT_CONTEXT
from engine.cli.options import options_of, secret_policy_of
from engine.cli.outfile import write_output
from graph.change.fingerprint import check_contexts
from graph.expand.dag import StackGraph
from graph.model.secrets import SecretPolicy, passed_secrets
from graph.model.spec import Node, Secret

DEFAULT_OUT = "build/docker-bake.json"
GROUP = "default"
_NOT_ALLOWED = re.compile(r"[^a-zA-Z0-9_-]")


def literal(value: str) -> str:
    """value as a bake string that is never interpolated: `${` and `%{` escaped."""
    return value.replace("${", "$${").replace("%{", "%%{")


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


def bake_document(stack_graph: StackGraph, root: Path, policy: SecretPolicy,
                  source: str = "") -> dict[str, Any]:
    """The bake file's content: a default group of every built node and one target each; its secrets
    as policy passes them (StackError for a host file it does not allow)."""
    names = target_names(stack_graph)
    secrets = {node: bake_secrets(stack_graph.nodes[node], root, policy) for node in names}
    comment = (f"written by `stackbuild export bake`{f' from {source}' if source else ''}: {len(names)} "
               "targets; paths are relative to the repository root: docker buildx bake -f <this file> --push")
    return {"variable": {"STACKBUILD_EXPORT": {"default": literal(comment)}},
            "group": {GROUP: {"targets": list(names.values())}},
            "target": {names[node]: _target(stack_graph.nodes[node], names, stack_graph, secrets[node])
                       for node in names}}


def bake_json(stack_graph: StackGraph, root: Path, policy: SecretPolicy, source: str = "") -> str:
    """The JSON text of a bake file building every node of stack_graph (external bases excepted)."""
    return json.dumps(bake_document(stack_graph, root, policy, source), indent=2, ensure_ascii=False) + "\n"


def bake_secrets(node: Node, root: Path, policy: SecretPolicy) -> list[str]:
    """node's `secret` entries: a file by its resolved path, relative to the root (where bake runs)
    when it lies in the repository."""
    return [f"id={s.id},env={s.env}" if s.env else f"id={s.id},src={_from_root(s, root)}"
            for s in passed_secrets(node, root, policy)]


def _from_root(secret: Secret, root: Path) -> str:
    path, top = Path(secret.src), root.resolve()
    return path.relative_to(top).as_posix() if path.is_relative_to(top) else str(path)


def _target(node: Node, names: dict[str, str], stack_graph: StackGraph, secrets: list[str]) -> dict[str, Any]:
    target: dict[str, Any] = {
        "context": literal(node.context),
        "dockerfile": literal(posixpath.relpath(node.dockerfile, node.context)),
    }
    if node.parent:
        parent = stack_graph.nodes[node.parent]
        source = f"docker-image://{parent.ref}" if parent.external else f"target:{names[parent.name]}"
        target["contexts"] = {PARENT_CONTEXT: literal(source)}
    target["platforms"] = list(node.platforms)
    target["tags"] = [literal(node.ref)]
    if node.target:
        target["target"] = literal(node.target)
    if node.args:
        target["args"] = {key: literal(value) for key, value in node.args}
    if secrets:
        target["secret"] = [literal(secret) for secret in secrets]
    target["attest"] = attestations(node)
    return target


def attestations(node: Node) -> list[str]:
    """The attestations stackbuild builds the node with: its provenance mode, its SBOM generator."""
    provenance = "type=provenance,disabled=true" if node.provenance == "off" else \
        f"type=provenance,mode={node.provenance}"
    sbom = [literal(f"type=sbom,generator={node.sbom_generator_ref}")] if node.sbom_generator_ref else []
    return [provenance, *sbom]


def run(args: argparse.Namespace) -> int:
    """Write the bake file of the targeted stacks (default build/docker-bake.json below the root)."""
    from engine.run import api
    policy = secret_policy_of(args)
    options = options_of(args)
    stack_graph = api.load_to_send(options)
    check_contexts(stack_graph.nodes.values(), options.root)  # bake sends them as `build` would
    out = Path(args.out or DEFAULT_OUT)
    path = out if out.is_absolute() else options.root / out
    source = ", ".join(target.as_posix() for target in options.targets)
    write_output(path, bake_json(stack_graph, options.root, policy, source))
    print(f"wrote {path} ({len(target_names(stack_graph))} targets)")
    return 0
