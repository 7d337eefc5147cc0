"""Signing published images by digest, and verifying each node's current tag: signature, provenance
naming its parent, an SBOM per platform."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import structlog

from engine.build.request import parent_image
from engine.errors import RegistryError
from engine.registry import intoto
from engine.registry.cosign import Cosign
from engine.registry.intoto import Reader
from graph.expand.dag import StackGraph
from graph.model.spec import Node

log = structlog.get_logger()


class SupplyReader(Reader, Protocol):
    """A registry reader that also resolves tags (RegistryClient)."""

    def digest(self, reference: str) -> str | None: ...

    def image_config(self, reference: str, platform: str = "linux/amd64") -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class Verdict:
    """One node's verification: the digest its tag points to and what is wrong ([] when nothing)."""

    node: str
    ref: str
    digest: str
    problems: tuple[str, ...]


def built_nodes(stack_graph: StackGraph) -> list[Node]:
    """The nodes this repository builds and publishes (external bases are not ours to sign)."""
    return [stack_graph.nodes[name] for name in stack_graph.order if not stack_graph.nodes[name].external]


def sign(nodes: Iterable[Node], reader: SupplyReader, cosign: Cosign, key: Path) -> list[str]:
    """Sign the index each node's tag points to, by digest; return the references signed."""
    signed = []
    for node in nodes:
        digest = reader.digest(node.ref)
        if digest is None:
            raise RegistryError(f"node {node.name}: {node.ref} is not in the registry", "build it first")
        reference = f"{node.repository}@{digest}"
        cosign.sign(reference, key)
        log.info("image_signed", node=node.name, ref=node.ref, digest=digest)
        signed.append(reference)
    return signed


def verify(stack_graph: StackGraph, nodes: Iterable[Node], reader: SupplyReader, cosign: Cosign,
           public_key: Path) -> list[Verdict]:
    """A verdict per node: its tag, then signature, provenance and SBOM of the index it points to."""
    verdicts = []
    for node in nodes:
        digest = reader.digest(node.ref)
        if digest is None:
            verdicts.append(Verdict(node.name, node.ref, "", (f"tag {node.ref} is not in the registry",)))
            continue
        problems = _signature(node, digest, cosign, public_key)
        problems += _attestations(stack_graph, node, digest, reader)
        log.info("image_verified", node=node.name, digest=digest, problems=len(problems))
        verdicts.append(Verdict(node.name, node.ref, digest, tuple(problems)))
    return verdicts


def _signature(node: Node, digest: str, cosign: Cosign, public_key: Path) -> list[str]:
    outcome = cosign.verify(f"{node.repository}@{digest}", public_key)
    return [] if outcome.ok else [f"signature: no valid signature for the key on {digest} ({outcome.detail})"]


def _attestations(stack_graph: StackGraph, node: Node, digest: str, reader: SupplyReader) -> list[str]:
    """Provenance (naming the parent's digest) and, when the stack asks for one, an SBOM, per platform."""
    index = reader.manifest(f"{node.repository}@{digest}")
    if index is None or not index.is_index:
        return [f"{node.ref} is not a multi-platform index"]
    parent = stack_graph.nodes[node.parent] if node.parent else None
    expected = _parent_digests(parent, reader) if parent else set()
    problems = _identity(node, digest, sorted(index.platforms()), reader)
    for platform, statements in sorted(intoto.by_platform(reader, node.repository, index).items()):
        types = [statement.predicate_type for statement in statements]
        provenance = [s for s in statements if s.predicate_type.startswith(intoto.SLSA_PREFIX)]
        if not provenance:
            problems.append(f"{platform}: no provenance attestation")
        elif parent is not None:
            named = intoto.material_digests(intoto.read(reader, node.repository, provenance[0]))
            if not named & expected:
                problems.append(f"{platform}: provenance does not name parent {parent.name} at "
                                f"{_shown(expected)} (its materials: {_shown(named) or 'none'})")
        if node.sbom_generator_ref and intoto.SPDX not in types:
            problems.append(f"{platform}: no SBOM attestation")
    return problems


def _identity(node: Node, digest: str, platforms: list[str], reader: SupplyReader) -> list[str]:
    """The image the tag points to must be this node's (its org.stackbuild.node label), not another's."""
    if not platforms:
        return ["the index holds no platform image"]
    config = reader.image_config(f"{node.repository}@{digest}", platforms[0]) or {}
    labelled = ((config.get("config") or {}).get("Labels") or {}).get("org.stackbuild.node", "")
    if labelled != node.name:
        return [f"tag {node.ref} points to {digest}, an image of node {labelled or '(unlabelled)'!s}, "
                f"not of {node.name}"]
    return []


def _parent_digests(parent: Node, reader: SupplyReader) -> set[str]:
    """The digests a child's provenance may name for its parent: the index its tag points to, and the
    platform images in it."""
    digest = reader.digest(parent.ref)
    if digest is None:
        return set()
    index = reader.manifest(parent_image(parent, digest))
    return {digest, *(index.platforms().values() if index and index.is_index else ())}


def _shown(digests: set[str]) -> str:
    return ", ".join(sorted(digest[:19] for digest in digests))
