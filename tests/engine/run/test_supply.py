"""engine.run.supply over a fake registry and a fake cosign: each fault named with its node."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from engine.registry import intoto
from engine.registry.cosign import Outcome
from engine.registry.manifest import Manifest
from engine.run import supply
from graph.expand.dag import graph_of
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
        return self.configs.get(reference.rsplit("@", 1)[1])

    def put(self, body: dict[str, Any], media_type: str) -> str:
        digest = _digest(json.dumps(body, sort_keys=True).encode())
        self.manifests[digest] = Manifest(digest, media_type, body)
        return digest

    def push(self, node: Node, parent_digest: str = "", sbom: bool = True, provenance: bool = True) -> str:
        """An index of node with a platform image and an attestation manifest per platform."""
        entries = []
        for platform in PLATFORMS:
            image = self.put({"layers": [], "platform": platform, "node": node.name}, IMAGE)
            layers = []
            if provenance:
                statement = json.dumps({"predicate": {"materials": [
                    {"uri": "pkg:docker/parent", "digest": {"sha256": parent_digest.removeprefix("sha256:")}}
                ] if parent_digest else []}}).encode()
                self.blobs[_digest(statement)] = statement
                layers.append({"digest": _digest(statement), "size": len(statement), "annotations": {
                    intoto.PREDICATE_ANNOTATION: "https://slsa.dev/provenance/v0.2"}})
            if sbom:
                layers.append({"digest": "sha256:" + "0" * 64, "size": 2,
                               "annotations": {intoto.PREDICATE_ANNOTATION: intoto.SPDX}})
            attestation = self.put({"layers": layers, "for": image}, IMAGE)
            os_name, arch = platform.split("/")
            entries.append({"digest": image, "platform": {"os": os_name, "architecture": arch}})
            entries.append({"digest": attestation, "platform": {"os": "unknown", "architecture": "unknown"},
                            "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                                            "vnd.docker.reference.digest": image}})
        index = self.put({"manifests": entries}, INDEX)
        self.configs[index] = {"config": {"Labels": {"org.stackbuild.node": node.name}}}
        self.tags[node.ref] = index
        return index


class FakeCosign:
    def __init__(self, signed: set[str]) -> None:
        self.signed = signed

    def verify(self, reference: str, public_key: Path) -> Outcome:
        return Outcome(True, "") if reference in self.signed else Outcome(False, "no signatures found")


def _nodes() -> tuple[Node, Node]:
    base = Node("base", "t", "os", None, "b/Dockerfile", "b", R, "img", "base", PLATFORMS,
                sbom_generator="gen:1")
    leaf = Node("leaf", "t", "sdk", "base", "l/Dockerfile", "l", R, "img", "leaf", PLATFORMS,
                sbom_generator="gen:1")
    return base, leaf


def _verify(registry: FakeRegistry, signed: set[str]) -> dict[str, tuple[str, ...]]:
    base, leaf = _nodes()
    graph = graph_of([base, leaf])
    verdicts = supply.verify(graph, supply.built_nodes(graph), registry, FakeCosign(signed),  # type: ignore[arg-type]
                             Path("k.pub"))
    return {verdict.node: verdict.problems for verdict in verdicts}


def _published() -> tuple[FakeRegistry, set[str]]:
    registry = FakeRegistry()
    base, leaf = _nodes()
    base_digest = registry.push(base)
    leaf_digest = registry.push(leaf, parent_digest=base_digest)
    return registry, {f"{R}/img@{base_digest}", f"{R}/img@{leaf_digest}"}


def test_signed_images_with_provenance_and_sboms_pass() -> None:
    registry, signed = _published()
    assert _verify(registry, signed) == {"base": (), "leaf": ()}


def test_an_unsigned_digest_fails_for_its_node_only() -> None:
    registry, signed = _published()
    leaf = registry.tags[f"{R}/img:leaf"]
    signed.discard(f"{R}/img@{leaf}")
    problems = _verify(registry, signed)
    assert problems["base"] == ()
    assert problems["leaf"] == (f"signature: no valid signature for the key on {leaf} (no signatures found)",)


def test_a_tag_pointing_at_another_nodes_image_is_named() -> None:
    registry, signed = _published()
    registry.tags[f"{R}/img:leaf"] = registry.tags[f"{R}/img:base"]
    problems = _verify(registry, signed)["leaf"]
    assert any("an image of node base, not of leaf" in problem for problem in problems)
    assert "linux/amd64: provenance does not name parent base" in "\n".join(problems)


def test_missing_sbom_and_provenance_are_named_per_platform() -> None:
    registry, signed = _published()
    base, _ = _nodes()
    digest = registry.push(base, sbom=False, provenance=False)
    signed.add(f"{R}/img@{digest}")
    problems = _verify(registry, signed)["base"]
    assert problems == ("linux/amd64: no provenance attestation", "linux/amd64: no SBOM attestation",
                        "linux/arm64: no provenance attestation", "linux/arm64: no SBOM attestation")


def test_a_missing_tag_is_a_problem_not_a_crash() -> None:
    registry, signed = _published()
    del registry.tags[f"{R}/img:leaf"]
    assert _verify(registry, signed)["leaf"] == (f"tag {R}/img:leaf is not in the registry",)


def test_material_digests_read_slsa_v02_and_v1() -> None:
    v02 = {"predicate": {"materials": [{"uri": "x", "digest": {"sha256": "aa"}}, {"uri": "y"}]}}
    v1 = {"predicate": {"buildDefinition": {"resolvedDependencies": [{"digest": {"sha256": "bb"}}]}}}
    assert intoto.material_digests(v02) == {"sha256:aa"}
    assert intoto.material_digests(v1) == {"sha256:bb"}
    assert intoto.material_digests({}) == set()
