"""reproduce: where two builds of one node first differ, and how a check reads on a terminal."""

from __future__ import annotations

from engine.build.request import Provenance
from engine.run.reproduce import PlatformCheck, Reproduction, first_difference, published_provenance, summary

A, B, C = ("sha256:" + ch * 64 for ch in "abc")
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
