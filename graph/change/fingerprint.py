"""Content fingerprints: a hash over everything that determines a node's image (its tag excluded)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from graph.context.dockerignore import read_ignore_patterns
from graph.context.files import ContextFile, DigestMemo, context_digest, list_context
from graph.errors import StackError
from graph.expand.dag import StackGraph
from graph.model.spec import Node

VERSION = "stackbuild-fingerprint-v1"
CONTENT_TAG_PREFIX = "sb-"
WITHHELD = "withheld"  # the `secrets` input of a node built without the secrets it declares


@dataclass(frozen=True)
class Fingerprint:
    """A node's fingerprint and the named inputs it was computed from."""

    node: str
    value: str  # hex sha256
    inputs: Mapping[str, str]  # dockerfile, context, args, spec, parent, base, secrets → digest or value
    files: tuple[ContextFile, ...] = ()  # the build context as the build sees it

    @property
    def content_tag(self) -> str:
        """The immutable tag a build of this fingerprint is pushed under."""
        return CONTENT_TAG_PREFIX + self.value


def _sha(data: object) -> str:
    text = data if isinstance(data, str) else json.dumps(data, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def spec_digest(node: Node) -> str:
    """A digest of the node's definition, tag and registry left out (a new tag is a retag). A built
    node's names are in: its image carries them as labels (org.stackbuild.node, which sign checks)."""
    names = {} if node.external else {"node": node.name, "stack": node.stack, "definition": node.definition}
    return _sha({
        **names,
        "kind": node.kind, "target": node.target, "platforms": list(node.platforms),
        "secrets": sorted(secret.id for secret in node.secrets), "attrs": dict(node.attrs),
        "variant": node.variant, "external": node.external,
        # written only when set, so digests from before these keys existed stay the same
        **({"sbom_generator": node.sbom_generator} if node.sbom_generator else {}),
        **({"provenance": node.provenance} if node.provenance != "max" and not node.external else {}),
    })


FileInputs = tuple[str, str, tuple[ContextFile, ...]]  # Dockerfile digest, context digest, files


def file_inputs_of(root: Path, dockerfile: str, context: str, memo: DigestMemo | None = None) -> FileInputs:
    """The Dockerfile's digest and the build context as the build sees it."""
    dockerfile_path, context_path = root / dockerfile, root / context
    patterns = read_ignore_patterns(context_path, dockerfile_path)
    files = list_context(context_path, patterns, memo, folders=True)
    return ("sha256:" + hashlib.sha256(dockerfile_path.read_bytes()).hexdigest(),
            context_digest(files), files)


@contextmanager
def _at_node(node: Node) -> Iterator[None]:
    """Give the context's own errors, which know no stack file, the node's name and line."""
    try:
        yield
    except StackError as err:
        if err.location is not None:
            raise
        raise type(err)(f"node {node.name}: {err.message}", node.location, err.hint) from None


def sent_files(node: Node, root: Path, memo: DigestMemo | None = None) -> tuple[ContextFile, ...]:
    """What the node's build context sends (after its ignore file); an error names the node's line."""
    with _at_node(node):
        context = root / node.context
        return list_context(context, read_ignore_patterns(context, root / node.dockerfile), memo)


def check_contexts(nodes: Iterable[Node], root: Path, memo: DigestMemo | None = None) -> None:
    """List each built node's context once, as a build would: StackError at the node's line for one
    that cannot be read or would send what no build may (graph.context.files refuses it). memo spares
    reading files an earlier run hashed (node_inputs)."""
    seen: set[tuple[str, str]] = set()
    for node in nodes:
        if not node.external and (node.dockerfile, node.context) not in seen:
            seen.add((node.dockerfile, node.context))
            sent_files(node, root, memo)


Inputs = tuple[dict[str, str], tuple[ContextFile, ...]]


def node_inputs(node: Node, root: Path, parent_value: str,
                seen: dict[tuple[str, str], FileInputs] | None = None,
                memo: DigestMemo | None = None, withheld: bool = False) -> Inputs:
    """The named inputs of one node: file contents, args, spec and the parent's fingerprint.

    seen caches the file inputs by (Dockerfile, context): matrix nodes share them, read them once;
    memo spares reading files an earlier run hashed and that did not change since. withheld: the run
    passes no secret, and a node declaring some gets `secrets: withheld` (BuildKit's cache keys leave
    secrets out, so only this keeps its image from passing for one built with them).
    """
    inputs = {"spec": spec_digest(node), "args": _sha(dict(node.args)), "parent": parent_value}
    if node.external:
        return inputs, ()
    if withheld and node.secrets:
        inputs["secrets"] = WITHHELD
    cache = {} if seen is None else seen
    key = (node.dockerfile, node.context)
    if key not in cache:
        with _at_node(node):
            cache[key] = file_inputs_of(root, node.dockerfile, node.context, memo)
    inputs["dockerfile"], inputs["context"], files = cache[key]
    return inputs, files


def fingerprint_graph(stack_graph: StackGraph, root: Path, bases: Mapping[str, str] | None = None,
                      memo: DigestMemo | None = None, withheld: bool = False) -> dict[str, Fingerprint]:
    """Fingerprints of every node, parents first; a parent's change changes all its descendants.

    bases maps an external base reference to its digest. An external node and the nodes built
    directly on it get the digest as their `base` input ("" when unresolved: the reference only).
    memo, withheld (the run passes no secret): see node_inputs.
    """
    digests = bases or {}
    result: dict[str, Fingerprint] = {}
    seen: dict[tuple[str, str], FileInputs] = {}
    for name in stack_graph.order:
        node = stack_graph.nodes[name]
        parent = stack_graph.nodes[node.parent] if node.parent else None
        parent_value = node.external or (result[parent.name].value if parent else "")
        inputs, files = node_inputs(node, root, parent_value, seen, memo, withheld)
        base = node.external or (parent.external if parent else "")
        if base:
            inputs["base"] = digests.get(base, "")
        result[name] = Fingerprint(name, _value(inputs), inputs, files)
    return result


def with_secrets(stack_graph: StackGraph, fingerprints: Mapping[str, Fingerprint]) -> dict[str, Fingerprint]:
    """The fingerprints a withheld run's nodes (see node_inputs) have in a run passing the secrets: no
    `secrets: withheld` input, the parents' values recomputed; no file is read again."""
    result: dict[str, Fingerprint] = {}
    for name in stack_graph.order:
        node, fingerprint = stack_graph.nodes[name], fingerprints[name]
        inputs = {key: value for key, value in fingerprint.inputs.items()
                  if (key, value) != ("secrets", WITHHELD)}
        if node.parent and not node.external:
            inputs["parent"] = result[node.parent].value
        changed = inputs != fingerprint.inputs
        result[name] = replace(fingerprint, value=_value(inputs), inputs=inputs) if changed else fingerprint
    return result


def _value(inputs: Mapping[str, str]) -> str:
    return _sha({"v": VERSION, **inputs})[7:]


def changed_inputs(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """Names of the inputs whose digests differ (missing counts as different)."""
    return sorted(key for key in set(old) | set(new) if old.get(key) != new.get(key))
