"""Signing published images by digest, and verifying each node's current tag: signature, provenance
naming its parent, an SBOM per platform."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import structlog

from engine.build.request import parent_image
from engine.errors import RegistryError
from engine.registry import intoto
from engine.registry.cosign import Cosign
from engine.registry.failures import RegistryUnreachable, TransientRegistryError
from engine.registry.intoto import Reader
from engine.registry.manifest import config_labels
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


def sign(nodes: Iterable[Node], reader: SupplyReader, cosign: Cosign, key: Path,
         pinned: Mapping[str, str] | None = None) -> list[str]:
    """Sign each node's index by digest (its pinned digest when given, else its tag's); the references."""
    signed = []
    for node in nodes:
        digest = pinned[node.name] if pinned is not None else reader.digest(node.ref)
        if digest is None:
            raise RegistryError(f"node {node.name}: {node.ref} is not in the registry", "build it first")
        if others := _not_its_own(node, digest, reader):
            # the key vouches for what it signs: never an image someone else put under the tag
            raise RegistryError(f"node {node.name}: not signed: {others[0]}",
                                f"build {node.name} again, or check who pushed {node.ref}")
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
        try:
            problems += _attestations(stack_graph, node, digest, reader)
        except (RegistryUnreachable, TransientRegistryError):
            raise  # the registry, not this node: nothing else can be verified either
        except RegistryError as exc:  # this node's index or attestations are malformed: its verdict
            problems.append(f"attestations: {exc}")
        log.info("image_verified", node=node.name, digest=digest, problems=len(problems))
        verdicts.append(Verdict(node.name, node.ref, digest, tuple(problems)))
    return verdicts


def _signature(node: Node, digest: str, cosign: Cosign, public_key: Path) -> list[str]:
    outcome = cosign.verify(f"{node.repository}@{digest}", public_key)
    return [] if outcome.ok else [f"signature: no valid signature for the key on {digest} ({outcome.detail})"]


def _attestations(stack_graph: StackGraph, node: Node, digest: str, reader: SupplyReader) -> list[str]:
    """Every platform the node wants, each image this node's, with provenance (naming the parent's
    digest) and, when the stack asks for one, an SBOM, each about that image."""
    index = reader.manifest(f"{node.repository}@{digest}")
    if index is None or not index.is_index:
        return [f"{node.ref} is not a multi-platform index"]
    images = index.platforms()
    if not images:
        return ["the index holds no platform image"]
    parent = stack_graph.nodes[node.parent] if node.parent else None
    expected = _parent_digests(parent, reader) if parent else set()
    problems = [f"{platform}: the index has no image for it (it has {', '.join(sorted(images))})"
                for platform in node.platforms if platform not in images]
    problems += _identity(node, digest, sorted(images), reader)
    for platform, statements in sorted(intoto.by_platform(reader, node.repository, index).items()):
        problems += [f"{platform}: {problem}" for problem in
                     _statements(node, images[platform], statements, reader, parent, expected)]
    return problems


def _statements(node: Node, image: str, statements: list[intoto.Statement], reader: SupplyReader,
                parent: Node | None, expected: set[str]) -> list[str]:
    """What is wrong with the attestations of one platform image."""
    provenance = [s for s in statements if s.predicate_type.startswith(intoto.SLSA_PREFIX)]
    sboms = [s for s in statements if s.predicate_type == intoto.SPDX]
    problems = [] if provenance else ["no provenance attestation"]
    if provenance:
        statement = intoto.read(reader, node.repository, provenance[0])
        problems += _about(statement, image, "provenance")
        named = intoto.material_digests(statement)
        if parent is not None and not named & expected:
            problems.append(f"provenance does not name parent {parent.name} at {_shown(expected)} "
                            f"(its materials: {_shown(named) or 'none'})")
    if node.sbom_generator_ref:
        sbom = intoto.read(reader, node.repository, sboms[0]) if sboms else None
        problems += ["no SBOM attestation"] if sbom is None else _about(sbom, image, "SBOM")
    return problems


def _about(statement: dict[str, Any], image: str, kind: str) -> list[str]:
    """A statement must name the platform image it is attached to as its subject."""
    subjects = intoto.subject_digests(statement)
    if image in subjects:
        return []
    return [f"the {kind} attestation is about {_shown(subjects) or 'no image'}, not this platform's "
            f"image {image[:19]}"]


def _not_its_own(node: Node, digest: str, reader: SupplyReader) -> list[str]:
    """Why the image at digest (an index, or one image) is not node's own, by its labels ([] when it is)."""
    found = reader.manifest(f"{node.repository}@{digest}")
    if found is None:
        return [f"{node.repository}@{digest} is not in the registry"]
    platforms = sorted(found.platforms()) if found.is_index else list(node.platforms[:1])
    return _identity(node, digest, platforms, reader) if platforms else ["the index holds no platform image"]


def _identity(node: Node, digest: str, platforms: list[str], reader: SupplyReader) -> list[str]:
    """Each image of the index must be this node's (its org.stackbuild.node label), not another's."""
    others: dict[str, list[str]] = {}
    for platform in platforms:
        config = reader.image_config(f"{node.repository}@{digest}", platform)
        labelled = str(config_labels(config).get("org.stackbuild.node") or "")[:80]
        if labelled != node.name:
            others.setdefault(labelled or "(unlabelled)", []).append(platform)
    return [f"tag {node.ref} points to {digest}, an image of node {other}, not of {node.name}"
            + ("" if len(found) == len(platforms) else f" (its {', '.join(found)} image)")
            for other, found in others.items()]


def _parent_digests(parent: Node, reader: SupplyReader) -> set[str]:
    """The digests a child's provenance may name for its parent: the index its tag points to, and the
    platform images in it."""
    digest = reader.digest(parent.ref)
    if digest is None:
        return set()
    index = reader.manifest(parent_image(parent, digest))
    return {digest, *(index.platforms().values() if index and index.is_index else ())}


def _shown(digests: set[str], most: int = 4) -> str:
    shown = sorted(digest[:19] for digest in digests)
    return ", ".join(shown[:most]) + (f" and {len(shown) - most} more" if len(shown) > most else "")
