"""The fake registry is true to a real one: digests hash the stored bytes, indexes list what was pushed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from engine.run import api
from engine.run.settings import BuildSettings
from tests.engine.engine_fakes import REGISTRY, STACK, FakeBuilder, FakeRegistry, write_stack


def test_a_digest_is_the_sha256_of_the_manifest_bytes_the_registry_serves() -> None:
    registry = FakeRegistry()
    digest = registry.push(f"{REGISTRY}/base:sb-1", "base")
    media_type, body = registry.bodies[digest]
    assert digest == "sha256:" + hashlib.sha256(body).hexdigest()
    assert media_type == "application/vnd.oci.image.index.v1+json"
    manifest = registry.manifest(f"{REGISTRY}/base:sb-1")
    assert manifest is not None
    assert manifest.body == json.loads(body)


def test_an_index_lists_exactly_the_platforms_pushed_plus_their_attestations() -> None:
    registry = FakeRegistry()
    registry.push(f"{REGISTRY}/one:1", "one", ["linux/arm64"])
    manifest = registry.manifest(f"{REGISTRY}/one:1")
    assert manifest is not None
    assert list(manifest.platforms()) == ["linux/arm64"]
    assert [entry["platform"]["architecture"] for entry in manifest.body["manifests"]] == ["arm64", "unknown"]


def test_the_same_content_pushed_twice_has_the_same_digest_and_other_content_another() -> None:
    registry = FakeRegistry()
    first = registry.push(f"{REGISTRY}/a:1", "same")
    assert registry.push(f"{REGISTRY}/b:1", "same") == first
    assert registry.push(f"{REGISTRY}/a:2", "other") != first
    assert registry.push(f"{REGISTRY}/a:3", "same", ["linux/amd64"]) != first


def test_a_platform_manifest_is_stored_in_the_repository_and_digest_of_its_bytes() -> None:
    registry = FakeRegistry()
    registry.push(f"{REGISTRY}/base:1", "base", ["linux/amd64"])
    platform_digest = registry.platforms(f"{REGISTRY}/base:1")["linux/amd64"]
    image = registry.manifest(f"{REGISTRY}/base@{platform_digest}")
    assert image is not None
    assert image.media_type == "application/vnd.oci.image.manifest.v1+json"
    assert platform_digest == "sha256:" + hashlib.sha256(registry.bodies[platform_digest][1]).hexdigest()
    assert len(image.layers()) == 1
    assert registry.manifest(f"{REGISTRY}/other@{platform_digest}") is None  # another repository


def test_a_tag_copies_the_bytes_so_the_digest_stays(tmp_path: Path) -> None:
    registry = FakeRegistry()
    digest = registry.push(f"{REGISTRY}/base:sb-1", "base")
    assert registry.tag(f"{REGISTRY}/base@{digest}", f"{REGISTRY}/base:1") == digest
    assert registry.digest(f"{REGISTRY}/base:1") == digest


def test_a_child_built_by_the_fake_builder_starts_with_its_parents_layers(tmp_path: Path) -> None:
    write_stack(tmp_path)
    registry = FakeRegistry()
    report = api.build(api.Options(root=tmp_path, targets=STACK, state_dir=tmp_path / "state"),
                       FakeBuilder(registry), BuildSettings(jobs=1, test=False), registry)
    assert report.status == "succeeded"
    for platform in ("linux/amd64", "linux/arm64"):
        base = registry.layers(f"{REGISTRY}/base:1", platform)
        mid = registry.layers(f"{REGISTRY}/mid:2", platform)
        leaf = registry.layers(f"{REGISTRY}/leaf:3", platform)
        assert (len(base), len(mid), len(leaf)) == (1, 2, 3)
        assert mid[:1] == base
        assert leaf[:2] == mid
