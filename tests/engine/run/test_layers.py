"""The layer-prefix invariant: checked on the fake registry, alone and at the end of a run."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.build.buildx_args import BuildRequest
from engine.registry.client import Manifest
from engine.run import api
from engine.run.layers import PrefixMismatch, check_layer_prefixes
from engine.run.runner import BuildSettings
from engine.state.report import RunReport
from graph.model.spec import Node
from tests.engine.engine_fakes import (
    NODES,
    OCI_MANIFEST,
    PLATFORMS,
    STACK,
    FakeBuilder,
    FakeRegistry,
    human_ref,
    platform_digest,
    sha,
    write_stack,
)

PARENT_DIGEST, CHILD_DIGEST = sha("parent index"), sha("child index")
L1, L2, L3, OTHER = sha("layer 1"), sha("layer 2"), sha("layer 3"), sha("another build's layer 2")


def node(name: str, parent: str = "") -> Node:
    return Node(name=name, stack="t", kind="os", parent=parent or None, dockerfile="x/Dockerfile",
                context="x", registry="r.example/t", image=name, tag="1", platforms=PLATFORMS)


def registry_with(parent_layers: list[str], child_layers: dict[str, list[str]]) -> FakeRegistry:
    """A registry holding the parent (same layers on every platform) and the child (per platform)."""
    registry = FakeRegistry()
    registry.push("r.example/t/parent:1", PARENT_DIGEST)
    registry.push("r.example/t/child:1", CHILD_DIGEST)
    for platform in PLATFORMS:
        registry.images[f"r.example/t/parent@{platform_digest(PARENT_DIGEST, platform)}"] = parent_layers
        if platform in child_layers:
            registry.images[f"r.example/t/child@{platform_digest(CHILD_DIGEST, platform)}"] = \
                child_layers[platform]
    return registry


def check(registry: FakeRegistry) -> list[PrefixMismatch]:
    parent, child = node("parent"), node("child", parent="parent")
    return check_layer_prefixes([child], {"child": parent}, {"parent": PARENT_DIGEST, "child": CHILD_DIGEST},
                                registry)


def test_a_child_extending_its_parents_layers_passes() -> None:
    assert check(registry_with([L1, L2], {platform: [L1, L2, L3] for platform in PLATFORMS})) == []


def test_a_child_equal_to_its_parent_passes() -> None:  # e.g. a child that only sets a label
    assert check(registry_with([L1, L2], {platform: [L1, L2] for platform in PLATFORMS})) == []


def test_a_child_on_another_build_of_its_parent_fails_naming_platform_and_layer() -> None:
    registry = registry_with([L1, L2], {"linux/amd64": [L1, L2, L3], "linux/arm64": [L1, OTHER, L3]})
    (mismatch,) = check(registry)
    assert (mismatch.node, mismatch.platform) == ("child", "linux/arm64")
    assert mismatch.message.startswith(
        f"node child on linux/arm64: layer 2 is {OTHER}, but parent parent's is {L2}: ")
    assert f"(r.example/t/child@{CHILD_DIGEST})" in mismatch.message


def test_a_child_shorter_than_its_parent_fails() -> None:
    (mismatch, _) = check(registry_with([L1, L2], {platform: [L1] for platform in PLATFORMS}))
    assert f"layer 2 is nothing, but parent parent's is {L2}" in mismatch.message


def test_a_platform_missing_from_the_pushed_child_fails() -> None:
    (mismatch,) = check(registry_with([L1], {"linux/amd64": [L1, L2]}))
    assert mismatch.platform == "linux/arm64"
    assert "the pushed image has no manifest for this platform" in mismatch.message


def test_a_parent_without_the_platform_fails_the_child() -> None:
    registry = registry_with([L1], {platform: [L1, L2] for platform in PLATFORMS})
    del registry.images[f"r.example/t/parent@{platform_digest(PARENT_DIGEST, 'linux/amd64')}"]
    (mismatch,) = check(registry)
    assert (mismatch.platform, mismatch.message.split(" (")[0]) == (
        "linux/amd64", "node child on linux/amd64: parent parent has no manifest for this platform")


class SingleImageRegistry(FakeRegistry):
    """Serves the parent as one image manifest (no index), as a single-platform push may be."""

    def manifest(self, reference: str) -> Manifest | None:
        if reference == f"r.example/t/parent@{PARENT_DIGEST}":
            return Manifest(PARENT_DIGEST, OCI_MANIFEST, {"layers": [{"digest": L1}]})
        return super().manifest(reference)


def test_an_image_without_an_index_stands_for_every_platform() -> None:
    registry = SingleImageRegistry()
    registry.push("r.example/t/child:1", CHILD_DIGEST)
    registry.images[f"r.example/t/child@{platform_digest(CHILD_DIGEST, 'linux/amd64')}"] = [L1, L2]
    registry.images[f"r.example/t/child@{platform_digest(CHILD_DIGEST, 'linux/arm64')}"] = [OTHER]
    (mismatch,) = check(registry)
    assert mismatch.platform == "linux/arm64"
    assert f"layer 1 is {OTHER}, but parent parent's is {L1}" in mismatch.message


def test_each_image_is_read_once() -> None:
    registry = registry_with([L1], {platform: [L1, L2] for platform in PLATFORMS})
    parent, child = node("parent"), node("child", parent="parent")
    check_layer_prefixes([child, child], {"child": parent}, {"parent": PARENT_DIGEST, "child": CHILD_DIGEST},
                         registry)
    assert registry.requests["GET"] == 2 * 3  # index + 2 platform manifests, of child and of parent


# --- at the end of a run ------------------------------------------------------------------------


class ForeignParentBuilder(FakeBuilder):
    """Builds `mid` on arm64 over layers of another build of `base` (what BuildKit's cache once did)."""

    def push_layers(self, request: BuildRequest, reference: str, digest: str) -> None:
        super().push_layers(request, reference, digest)
        if request.node == "mid":
            key = f"{reference.split(':')[0]}@{platform_digest(digest, 'linux/arm64')}"
            self.registry.images[key] = [sha("another build of base"), sha(f"{digest} linux/arm64 layer")]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write_stack(tmp_path / "repo")
    return tmp_path / "repo"


def build(root: Path, builder: FakeBuilder, registry: FakeRegistry) -> RunReport:
    options = api.Options(root=root, targets=STACK, state_dir=root.parent / "state")
    return api.build(options, builder, BuildSettings(), registry)


def test_a_run_whose_child_rests_on_another_parent_build_fails_that_node_and_publishes_nothing(
        root: Path) -> None:
    registry = FakeRegistry()
    report = build(root, ForeignParentBuilder(registry), registry)
    assert report.status == "failed"
    assert {name: report.nodes[name].status for name in NODES} == {
        "base": "succeeded", "other": "succeeded", "mid": "failed", "side": "succeeded", "leaf": "succeeded"}
    assert report.nodes["mid"].error.startswith(
        f"node mid on linux/arm64: layer 1 is {sha('another build of base')}, but parent base's is ")
    assert report.promoted == []
    assert registry.tags({human_ref(name) for name in NODES}) == {}


def test_a_good_run_checks_and_publishes(root: Path) -> None:
    registry = FakeRegistry()
    report = build(root, FakeBuilder(registry), registry)
    assert report.status == "succeeded"
    assert len(report.promoted) == len(NODES)
