"""reproduce: where two builds of one node first differ, and how a check reads on a terminal."""

from __future__ import annotations

from typing import Any

from engine.build.request import Provenance
from engine.registry.manifest import Manifest
from engine.run.reproduce import (
    PlatformCheck,
    Reproduction,
    first_difference,
    platform_checks,
    published_provenance,
    summary,
)
from graph.model.spec import Node

A, B, C = ("sha256:" + ch * 64 for ch in "abc")
IMAGE = "application/vnd.oci.image.manifest.v1+json"
CONFIG = {"created": "2026-01-01T00:00:00Z", "config": {"Labels": {"x": "1"}},
          "history": [{"created": "2026-01-01T00:00:00Z"}, {"created": "2026-01-01T00:00:00Z"}]}


def test_the_first_differing_layer_is_named_base_first() -> None:
    assert first_difference([A, B], [A, C], CONFIG, CONFIG) == f"layer 2: {B} != {C}"
    assert first_difference([A], [A, B], CONFIG, CONFIG) == "layer count: 1 != 2"


def test_with_equal_layers_the_first_differing_config_field_is_named() -> None:
    later = {**CONFIG, "history": [{"created": "2026-01-01T00:00:00Z"}, {"created": "2026-11-23T22:00:00Z"}]}
    assert first_difference([A], [A], CONFIG, later) == \
        "config history[1].created: '2026-01-01T00:00:00Z' != '2026-11-23T22:00:00Z'"
    labelled = {**CONFIG, "config": {"Labels": {"x": "1", "y": "2"}}}
    assert first_difference([A], [A], CONFIG, labelled) == "config config.Labels.y: None != '2'"
    assert first_difference([A], [A], CONFIG, CONFIG) == "the manifests differ (annotations or media types)"


def test_summary_says_per_platform_whether_the_digests_match() -> None:
    result = Reproduction("root", "r:sb-1", "r:sbrepro-1", (
        PlatformCheck("linux/amd64", A, A), PlatformCheck("linux/arm64", B, C, f"layer 1: {B} != {C}")))
    assert not result.reproducible
    lines = summary([result])
    assert lines[0] == "root: NOT reproducible (published r:sb-1, rebuilt r:sbrepro-1)"
    assert lines[1].split() == ["linux/amd64", A[:19], "==", A[:19]]
    assert lines[2].startswith("  linux/arm64") and lines[2].endswith(f"!= layer 1: {B} != {C}")


def test_the_rebuild_uses_the_published_images_source_revision_and_time() -> None:
    current = Provenance("https://h/r.git", "new", "2026-11-23T22:00:00+00:00", 1795471200)
    labels = {"org.opencontainers.image.created": "2026-01-01T00:00:00+00:00",
              "org.opencontainers.image.revision": "old", "org.opencontainers.image.source": "https://h/r.git"}
    assert published_provenance({"config": {"Labels": labels}}, current) == Provenance(
        "https://h/r.git", "old", "2026-01-01T00:00:00+00:00", 1767225600)
    assert published_provenance({}, current) == current  # built before created came from the commit
    bad = {**labels, "org.opencontainers.image.created": "yesterday"}
    assert published_provenance({"config": {"Labels": bad}}, current) == current


def test_nothing_compared_is_not_reproducible() -> None:
    assert not Reproduction("root", "r:sb-1", "r:sbrepro-1", ()).reproducible


class Images:
    """Manifests by digest; every image config the same."""

    def __init__(self, *manifests: Manifest) -> None:
        self.manifests = {manifest.digest: manifest for manifest in manifests}

    def manifest(self, reference: str) -> Manifest | None:
        return self.manifests.get(reference.rsplit("@", 1)[1])

    def image_config(self, reference: str, platform: str = "linux/amd64") -> dict[str, Any] | None:
        return CONFIG


def test_a_single_image_published_without_an_index_is_compared_by_its_digest() -> None:
    node = Node("root", "t", "os", None, "r/Dockerfile", "r", "localhost:5000/t", "img", "root",
                ("linux/amd64",))
    published, rebuilt = (Manifest(digest, IMAGE, {"layers": [{"digest": layer}]})
                          for digest, layer in ((A, B), (C, A)))
    checks = platform_checks(Images(published, rebuilt), node, published, rebuilt)  # type: ignore[arg-type]
    assert checks == (PlatformCheck("linux/amd64", A, C, f"layer 1: {B} != {A}"),)
    assert platform_checks(Images(published), node, published, published) == (  # type: ignore[arg-type]
        PlatformCheck("linux/amd64", A, A),)


def test_hostile_labels_leave_the_current_provenance() -> None:
    current = Provenance("https://h/r.git", "new", "2026-11-23T22:00:00+00:00", 1795471200)
    for config in ({"config": ["x"]}, {"config": {"Labels": "x"}}, {"config": {"Labels": {
            "org.opencontainers.image.created": 1767225600}}}):
        assert published_provenance(config, current) == current
