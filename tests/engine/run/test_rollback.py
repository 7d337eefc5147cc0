"""promote LOCKFILE (a rollback): every tag moves back, unless a child would not rest on its parent.

The tiny stack (engine_fakes.write_stack): base → mid → leaf, base → side, other; a changed arg
rebuilds mid and leaf only.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from engine.run import publishing
from engine.run.layers import LayerPrefixError
from engine.run.rollback import BASE_DIGEST, BASE_NAME, verify_rollback
from engine.state.lockfile import LockEntry, read_lockfile, write_lockfile
from engine.state.report import RunReport
from tests.engine.engine_fakes import NODES, PLATFORMS, FakeBuilder, FakeRegistry, human_ref, sha, write_stack
from tests.engine.run.builds import options_of, run_build


@pytest.fixture
def registry() -> FakeRegistry:
    return FakeRegistry()


def human_tags(registry: FakeRegistry) -> dict[str, str]:
    return registry.tags({human_ref(name) for name in NODES})


def rebuilt(root: Path, registry: FakeRegistry) -> tuple[RunReport, RunReport]:
    """The first build of the tiny stack, and a second one after mid's arg changed (mid, leaf rebuilt)."""
    builder = FakeBuilder(registry)
    first = run_build(root, builder, registry)
    write_stack(root, arg="2")
    second = run_build(root, builder, registry)
    assert (first.status, second.status) == ("succeeded", "succeeded")
    return first, second


def lockfile_of(root: Path, report: RunReport, *nodes: str) -> Path:
    """A lockfile holding only nodes' entries of report's lockfile."""
    entries = [entry for entry in read_lockfile(Path(report.lockfile)) if entry.node in nodes]
    return write_lockfile(root / f"{'-'.join(nodes)}.lock.json", "r", entries)


def latest(root: Path) -> dict[str, str]:
    return {entry.node: entry.digest for entry in read_lockfile(root.parent / "state" / "latest.lock.json")}


def test_promote_lockfile_rolls_every_tag_back(root: Path, registry: FakeRegistry) -> None:
    first, _ = rebuilt(root, registry)
    before = Counter(registry.requests)
    moved = publishing.promote_lockfile(options_of(root), Path(first.lockfile), registry)
    assert moved == [human_ref(name) for name in sorted(NODES)]
    assert human_tags(registry) == {human_ref(name): first.nodes[name].digest for name in NODES}
    # a HEAD per tag (shared by the check and the move), its image's labels, the tag's GET and PUT
    assert dict(registry.requests - before) == {"HEAD": 5, "GET": 10, "PUT": 5}


def test_a_lockfile_whose_tags_are_all_in_place_reads_no_labels(root: Path, registry: FakeRegistry) -> None:
    report = run_build(root, FakeBuilder(registry), registry)
    before = Counter(registry.requests)
    publishing.promote_lockfile(options_of(root), Path(report.lockfile), registry)
    assert dict(registry.requests - before) == {"HEAD": 5, "GET": 5, "PUT": 5}


def test_a_parent_and_its_child_roll_back_together_and_latest_lockfile_records_them(
        root: Path, registry: FakeRegistry) -> None:
    first, second = rebuilt(root, registry)
    assert latest(root) == {n: second.nodes[n].digest for n in NODES}
    moved = publishing.promote_lockfile(options_of(root), lockfile_of(root, first, "mid", "leaf"), registry)
    assert moved == [human_ref("leaf"), human_ref("mid")]
    assert latest(root) == {**{n: second.nodes[n].digest for n in NODES},
                            "mid": first.nodes["mid"].digest, "leaf": first.nodes["leaf"].digest}


def test_a_parent_rolled_back_without_its_published_child_is_refused(root: Path,
                                                                    registry: FakeRegistry) -> None:
    first, second = rebuilt(root, registry)
    tags = human_tags(registry)
    with pytest.raises(LayerPrefixError) as refused:
        publishing.promote_lockfile(options_of(root), lockfile_of(root, first, "mid"), registry)
    assert f"node leaf ({human_ref('leaf')} at {second.nodes['leaf'].digest})" in refused.value.message
    assert f"was built on {human_ref('mid')}@{second.nodes['mid'].digest}" in refused.value.message
    assert f"would point at {first.nodes['mid'].digest}" in refused.value.message
    assert "no tag was moved" in refused.value.hint
    assert human_tags(registry) == tags
    assert latest(root) == {n: second.nodes[n].digest for n in NODES}


def test_a_child_rolled_back_onto_a_parent_rebuilt_since_is_refused(root: Path,
                                                                   registry: FakeRegistry) -> None:
    first, second = rebuilt(root, registry)  # a PR's partial lockfile: leaf alone, built on the first mid
    tags = human_tags(registry)
    with pytest.raises(LayerPrefixError) as refused:
        publishing.promote_lockfile(options_of(root), lockfile_of(root, first, "leaf"), registry)
    assert f"node leaf ({human_ref('leaf')} at {first.nodes['leaf'].digest})" in refused.value.message
    assert f"would point at {second.nodes['mid'].digest}" in refused.value.message
    assert human_tags(registry) == tags


def test_a_child_rolls_back_onto_a_parent_tag_with_the_same_platform_images_under_another_index(
        root: Path, registry: FakeRegistry) -> None:
    first, _ = rebuilt(root, registry)
    first_mid = f"{human_ref('mid').rsplit(':', 1)[0]}@{first.nodes['mid'].digest}"
    same_images = {platform: registry.layers(first_mid, platform) for platform in PLATFORMS}
    other_index = registry.push_image(human_ref("mid"), {**same_images, "linux/s390x": [sha("s390x")]})
    assert other_index != first.nodes["mid"].digest
    moved = publishing.promote_lockfile(options_of(root), lockfile_of(root, first, "leaf"), registry)
    assert moved == [human_ref("leaf")]


def test_a_child_of_an_external_base_that_moved_on_is_not_compared(registry: FakeRegistry) -> None:
    old_base = registry.push("docker.io/library/debian:12", "debian then")
    registry.push("docker.io/library/debian:12", "debian now")
    app = "registry.example/t/app:1"
    registry.push(app, "app now")
    old_app = registry.push(app.replace(":1", ":old"), "app then")
    registry.labels[old_app] = {BASE_NAME: "docker.io/library/debian:12", BASE_DIGEST: old_base}
    entry = LockEntry("app", app, "f" * 64, old_app, dict.fromkeys(PLATFORMS, ""),
                      base=f"docker.io/library/debian:12@{old_base}")
    assert verify_rollback([entry], [], registry, registry) == {app: registry.digest(app)}
    assert registry.requests["GET"] == 0  # its labels are not even read
