"""A published stack for the verify and sign tests: a registry of indexes with attestations in
dictionaries, a cosign that knows what it signed, and the two nodes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from engine.registry import intoto
from engine.registry.cosign import Outcome
from engine.registry.manifest import Manifest
from graph.model.spec import Node

INDEX = "application/vnd.oci.image.index.v1+json"
IMAGE = "application/vnd.oci.image.manifest.v1+json"
PLATFORMS = ("linux/amd64", "linux/arm64")
R = "localhost:5000/t"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class FakeRegistry:
    """Tags, manifests, blobs and image configs in dictionaries."""

    def __init__(self) -> None:
        self.tags: dict[str, str] = {}
        self.manifests: dict[str, Manifest] = {}
        self.blobs: dict[str, bytes] = {}
        self.configs: dict[str, dict[str, Any]] = {}

    def digest(self, reference: str) -> str | None:
        return reference.rsplit("@", 1)[1] if "@" in reference else self.tags.get(reference)

    def manifest(self, reference: str) -> Manifest | None:
        digest = self.digest(reference)
        return self.manifests.get(digest) if digest else None

    def blob(self, reference: str) -> bytes | None:
        return self.blobs.get(reference.rsplit("@", 1)[1])

    def image_config(self, reference: str, platform: str = "linux/amd64") -> dict[str, Any] | None:
        manifest = self.manifest(reference)
        image = manifest.platforms().get(platform, "") if manifest and manifest.is_index else ""
        return self.configs.get(image)

    def put(self, body: dict[str, Any], media_type: str) -> str:
        digest = _digest(json.dumps(body, sort_keys=True).encode())
        self.manifests[digest] = Manifest(digest, media_type, body)
        return digest

    def statement(self, subject: str, predicate: dict[str, Any], kind: str) -> dict[str, Any]:
        """A layer of an attestation manifest: an in-toto statement about subject, stored as a blob."""
        body = json.dumps({"subject": [{"name": "pkg:docker/x", "digest": {"sha256": subject[7:]}}],
                           "predicate": predicate}).encode()
        self.blobs[_digest(body)] = body
        return {"digest": _digest(body), "size": len(body),
                "annotations": {intoto.PREDICATE_ANNOTATION: kind}}

    def push(self, node: Node, parent_digest: str = "", sbom: bool = True, provenance: bool = True,
             platforms: tuple[str, ...] = PLATFORMS, labels: dict[str, str] | None = None,
             subjects: dict[str, str] | None = None) -> str:
        """An index of node with a platform image and an attestation manifest per platform (images
        labelled by labels, statements about subjects, where those name a platform)."""
        entries = []
        for platform in platforms:
            image = self.put({"layers": [], "platform": platform, "node": node.name}, IMAGE)
            self.configs[image] = {"config": {"Labels": {"org.stackbuild.node": (labels or {}).get(
                platform, node.name)}}}
            about = (subjects or {}).get(platform, image)
            layers = []
            if provenance:
                materials = [{"uri": "pkg:docker/parent", "digest": {
                    "sha256": parent_digest.removeprefix("sha256:")}}] if parent_digest else []
                layers.append(self.statement(about, {"materials": materials},
                                             "https://slsa.dev/provenance/v0.2"))
            if sbom:
                layers.append(self.statement(about, {"packages": []}, intoto.SPDX))
            attestation = self.put({"layers": layers, "for": image}, IMAGE)
            os_name, arch = platform.split("/")
            entries.append({"digest": image, "platform": {"os": os_name, "architecture": arch}})
            entries.append({"digest": attestation, "platform": {"os": "unknown", "architecture": "unknown"},
                            "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                                            "vnd.docker.reference.digest": image}})
        index = self.put({"manifests": entries}, INDEX)
        self.tags[node.ref] = index
        return index


class FakeCosign:
    def __init__(self, signed: set[str]) -> None:
        self.signed = signed

    def sign(self, reference: str, key: Path) -> None:
        self.signed.add(reference)

    def verify(self, reference: str, public_key: Path) -> Outcome:
        return Outcome(True, "") if reference in self.signed else Outcome(False, "no signatures found")


def stack_nodes() -> tuple[Node, Node]:
    base = Node("base", "t", "os", None, "b/Dockerfile", "b", R, "img", "base", PLATFORMS,
                sbom_generator="gen:1")
    leaf = Node("leaf", "t", "sdk", "base", "l/Dockerfile", "l", R, "img", "leaf", PLATFORMS,
                sbom_generator="gen:1")
    return base, leaf


def published_stack() -> tuple[FakeRegistry, set[str]]:
    registry = FakeRegistry()
    base, leaf = stack_nodes()
    base_digest = registry.push(base)
    leaf_digest = registry.push(leaf, parent_digest=base_digest)
    return registry, {f"{R}/img@{base_digest}", f"{R}/img@{leaf_digest}"}
