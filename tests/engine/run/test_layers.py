"""The layer-prefix invariant: checked on the fake registry, alone and at the end of a run."""

from __future__ import annotations

from pathlib import Path

from engine.build.request import BuildRequest
from engine.run.layers import LayerReader, PrefixMismatch, check_layer_prefixes
from graph.model.spec import Node
from tests.engine.engine_fakes import (
    NODES,
    PLATFORMS,
    REGISTRY,
    FakeBuilder,
    FakeRegistry,
    human_ref,
    sha,
)
from tests.engine.run.builds import run_build

L1, L2, L3, OTHER = sha("layer 1"), sha("layer 2"), sha("layer 3"), sha("another build's layer 2")
EVERYWHERE = dict.fromkeys(PLATFORMS)


def node(name: str, parent: str = "") -> Node:
    return Node(name=name, stack="t", kind="os", parent=parent or None, dockerfile="x/Dockerfile",
                context="x", registry="r.example/t", image=name, tag="1", platforms=PLATFORMS)


def same(layers: list[str]) -> dict[str, list[str]]:
    return {platform: layers for platform in PLATFORMS}


def check(parent_layers: dict[str, list[str]], child_layers: dict[str, list[str]],
          registry: FakeRegistry | None = None) -> list[PrefixMismatch]:
    """Push the parent and the child with these layers per platform, then check the child."""
    registry = registry or FakeRegistry()
    digests = {"parent": registry.push_image("r.example/t/parent:1", parent_layers),
               "child": registry.push_image("r.example/t/child:1", child_layers)}
    parent, child = node("parent"), node("child", parent="parent")
    return check_layer_prefixes([child], {"child": parent}, digests, registry)


def test_a_child_extending_its_parents_layers_passes() -> None:
    assert check(same([L1, L2]), same([L1, L2, L3])) == []


def test_a_child_equal_to_its_parent_passes() -> None:  # e.g. a child that only sets a label
    assert check(same([L1, L2]), same([L1, L2])) == []


def test_a_child_on_another_build_of_its_parent_fails_naming_platform_and_layer() -> None:
    registry = FakeRegistry()
    (mismatch,) = check(same([L1, L2]), {"linux/amd64": [L1, L2, L3], "linux/arm64": [L1, OTHER, L3]},
                        registry)
    assert (mismatch.node, mismatch.platform) == ("child", "linux/arm64")
    assert mismatch.message.startswith(
        f"node child on linux/arm64: layer 2 is {OTHER}, but parent parent's is {L2}: ")
    assert f"(r.example/t/child@{registry.refs['r.example/t/child:1']})" in mismatch.message


def test_a_child_shorter_than_its_parent_fails() -> None:
    (mismatch, _) = check(same([L1, L2]), same([L1]))
    assert f"layer 2 is nothing, but parent parent's is {L2}" in mismatch.message


def test_a_platform_missing_from_the_pushed_child_fails() -> None:
    (mismatch,) = check(same([L1]), {"linux/amd64": [L1, L2]})
    assert mismatch.platform == "linux/arm64"
    assert "the pushed image has no manifest for this platform" in mismatch.message


def test_a_parent_without_the_platform_fails_the_child() -> None:
    (mismatch,) = check({"linux/arm64": [L1]}, same([L1, L2]))
    assert (mismatch.platform, mismatch.message.split(" (")[0]) == (
        "linux/amd64", "node child on linux/amd64: parent parent has no manifest for this platform")


def test_an_image_without_an_index_stands_for_every_platform() -> None:
    registry = FakeRegistry()
    digests = {"parent": registry.push_single_image("r.example/t/parent:1", [L1]),
               "child": registry.push_image("r.example/t/child:1", {"linux/amd64": [L1, L2],
                                                                     "linux/arm64": [OTHER]})}
    (mismatch,) = check_layer_prefixes([node("child", parent="parent")], {"child": node("parent")}, digests,
                                       registry)
    assert mismatch.platform == "linux/arm64"
    assert f"layer 1 is {OTHER}, but parent parent's is {L1}" in mismatch.message


def test_each_image_is_read_once() -> None:
    registry = FakeRegistry()
    digests = {"parent": registry.push_image("r.example/t/parent:1", same([L1])),
               "child": registry.push_image("r.example/t/child:1", same([L1, L2]))}
    child = node("child", parent="parent")
    check_layer_prefixes([child, child], {"child": node("parent")}, digests, registry)
    assert registry.requests["GET"] == 2 * 3  # index + 2 platform manifests, of child and of parent


# --- at the end of a run ------------------------------------------------------------------------


class ForeignParentBuilder(FakeBuilder):
    """Builds `mid` on arm64 over layers of another build of `base` (what BuildKit's cache once did)."""

    def _parent_layers(self, request: BuildRequest) -> dict[str, list[str]]:
        layers = super()._parent_layers(request)
        if request.node == "mid":
            layers["linux/arm64"] = [sha("another build of base")]
        return layers


def test_a_child_that_keeps_resting_on_another_parent_build_fails_and_publishes_nothing(
        root: Path) -> None:
    registry = FakeRegistry()
    builder = ForeignParentBuilder(registry)
    report = run_build(root, builder, registry)
    assert report.status == "failed"
    assert (report.nodes["mid"].status, report.nodes["mid"].retries) == ("failed", 1)
    assert builder.pushes[f"{REGISTRY}/mid:sb-{report.nodes['mid'].fingerprint}-candidate"] == 2  # again
    assert registry.digest(f"{REGISTRY}/mid:sb-{report.nodes['mid'].fingerprint}") is None  # never reused
    assert builder.requests["mid"].no_cache is True  # the second time without cache
    assert report.nodes["mid"].error.startswith(
        f"node mid on linux/arm64: layer 1 is {sha('another build of base')}, but parent base's is ")
    assert report.nodes["leaf"].status == "skipped"
    assert report.promoted == []
    assert registry.tags({human_ref(name) for name in NODES}) == {}


class OnceForeignParentBuilder(ForeignParentBuilder):
    """Like ForeignParentBuilder, but a build without cache gets the right parent (the usual cure)."""

    def _parent_layers(self, request: BuildRequest) -> dict[str, list[str]]:
        if request.no_cache:
            return FakeBuilder._parent_layers(self, request)
        return super()._parent_layers(request)


def test_a_child_on_another_parent_build_is_built_again_without_cache_and_publishes(root: Path) -> None:
    registry = FakeRegistry()
    builder = OnceForeignParentBuilder(registry)
    report = run_build(root, builder, registry)
    assert report.status == "succeeded"
    assert (report.nodes["mid"].status, report.nodes["mid"].retries) == ("succeeded", 1)
    base_layers = registry.layers(human_ref("base"), "linux/arm64")
    assert registry.layers(human_ref("mid"), "linux/arm64")[:len(base_layers)] == base_layers
    assert report.promoted == [human_ref(name) for name in NODES]


def test_a_good_run_checks_and_publishes(root: Path) -> None:
    registry = FakeRegistry()
    report = run_build(root, FakeBuilder(registry), registry)
    assert report.status == "succeeded"
    assert len(report.promoted) == len(NODES)


def test_a_renamed_index_is_known_to_have_the_layers_of_the_one_it_renames() -> None:
    registry = FakeRegistry()
    digest = registry.push_image("r.example/t/child:1", same([L1, L2]))
    reader = LayerReader(registry)
    first = reader.of("r.example/t/child", digest, PLATFORMS)
    reader.renamed("r.example/t/child", digest, sha("renamed index"))
    reader.renamed("r.example/t/child", sha("never read"), sha("its renamed index"))
    registry.requests.clear()
    assert reader.of("r.example/t/child", sha("renamed index"), PLATFORMS) == first == same([L1, L2])
    assert sum(registry.requests.values()) == 0
    assert reader.of("r.example/t/child", sha("its renamed index"), PLATFORMS) == {}  # read: not there
    assert sum(registry.requests.values()) == 1


def test_image_manifests_shared_by_two_indexes_are_read_once() -> None:
    registry = FakeRegistry()  # a pool node: its amd64 image pushed alone, then merged with arm64
    staged = registry.push_image("r.example/t/child:staging-amd64", {"linux/amd64": [L1, L2]})
    merged = registry.push_image("r.example/t/child:1", {"linux/amd64": [L1, L2], "linux/arm64": [L1, L3]})
    reader = LayerReader(registry)
    assert reader.of("r.example/t/child", staged, ("linux/amd64",)) == {"linux/amd64": [L1, L2]}
    registry.requests.clear()
    assert reader.of("r.example/t/child", merged, PLATFORMS) == {"linux/amd64": [L1, L2],
                                                                "linux/arm64": [L1, L3]}
    assert registry.requests["GET"] == 2  # the merged index and the arm64 image; amd64 was known


def test_a_lone_image_manifest_read_once_is_known_inside_an_index_later() -> None:
    registry = FakeRegistry()
    single = registry.push_single_image("r.example/t/child:staging", [L1, L2])
    reader = LayerReader(registry)
    assert reader.of("r.example/t/child", single, ("linux/amd64",)) == {"linux/amd64": [L1, L2]}
    merged = registry.push_image("r.example/t/child:1", {"linux/amd64": [L1, L2], "linux/arm64": [L1, L3]})
    registry.requests.clear()
    assert reader.of("r.example/t/child", merged, PLATFORMS)["linux/amd64"] == [L1, L2]
    assert registry.requests["GET"] == 2  # the index and the arm64 image


def test_a_lone_image_serves_every_platform_each_caller_asks_for() -> None:
    registry = FakeRegistry()
    single = registry.push_single_image("r.example/t/child:1", [L1, L2])
    reader = LayerReader(registry)
    assert reader.of("r.example/t/child", single, ("linux/amd64",)) == {"linux/amd64": [L1, L2]}
    registry.requests.clear()
    assert reader.of("r.example/t/child", single, PLATFORMS) == same([L1, L2])
    assert sum(registry.requests.values()) == 0


def test_a_retagged_child_on_another_build_of_its_retagged_parent_fails_and_publishes_nothing(
        root: Path) -> None:
    registry = FakeRegistry()
    first = run_build(root, FakeBuilder(registry), registry)
    # base's content tag now holds another build of base (mid's image does not rest on it), and the
    # human tags of both point elsewhere (to images it may take over): the next run only retags them
    registry.push_image(f"{REGISTRY}/base:sb-{first.nodes['base'].fingerprint}", same([OTHER]))
    for name in ("base", "mid"):
        registry.push_image(human_ref(name), same([sha(f"an old {name}")]))
    humans = registry.tags({human_ref(name) for name in NODES})
    report = run_build(root, FakeBuilder(registry), registry, adopt=True)
    assert (report.nodes["base"].action, report.nodes["mid"].action) == ("retag", "retag")
    assert report.status == "failed"
    assert report.nodes["mid"].status == "failed"
    assert "but parent base's is " + OTHER in report.nodes["mid"].error
    assert report.promoted == []
    assert registry.tags({human_ref(name) for name in NODES}) == humans  # no human tag moved
