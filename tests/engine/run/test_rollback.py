"""promote LOCKFILE (a rollback): every tag moves back, unless a child would not rest on its parent.

The tiny stack (engine_fakes.write_stack): base → mid → leaf, base → side, other; a changed arg
rebuilds mid and leaf only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from engine.build.request import BASE_DIGEST_LABEL, BASE_NAME_LABEL
from engine.run import api, publishing
from engine.run.layers import LayerPrefixError
from engine.run.promote import TagMovedMeanwhile
from engine.run.rollback import stack_children, verify_rollback
from engine.state.lockfile import LockEntry, LockfileError, read_lockfile, write_lockfile
from engine.state.report import RunReport
from graph.expand.dag import StackGraph
from tests.engine.base_fakes import ALPINE, MOVED_DIGEST, WithBases, write_stack_on_alpine
from tests.engine.engine_fakes import (
    NODES,
    PLATFORMS,
    REGISTRY,
    FakeBuilder,
    FakeRegistry,
    human_tags,
    sha,
    write_stack,
)
from tests.engine.engine_fakes import human_ref as tiny_ref
from tests.engine.run.builds import options_of, run_build

TAGS_ON_ALPINE = {"onext": "6", "onext-child": "7"}  # their tags


def human_ref(name: str) -> str:
    """The human tag of a node of the tiny stack, or of a node on alpine."""
    return f"{REGISTRY}/{name}:{TAGS_ON_ALPINE[name]}" if name in TAGS_ON_ALPINE else tiny_ref(name)


@pytest.fixture
def registry() -> FakeRegistry:
    return FakeRegistry()


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
    # a HEAD per tag for the check and one for the move; the labels of the two moving nodes that have a
    # parent (mid, leaf); the tag's GET and PUT
    assert dict(registry.requests - before) == {"HEAD": 10, "GET": 7, "PUT": 5}


def test_a_lockfile_whose_tags_are_all_in_place_reads_no_labels(root: Path, registry: FakeRegistry) -> None:
    report = run_build(root, FakeBuilder(registry), registry)
    before = Counter(registry.requests)
    publishing.promote_lockfile(options_of(root), Path(report.lockfile), registry)
    assert dict(registry.requests - before) == {"HEAD": 10, "GET": 5, "PUT": 5}


def test_a_root_rolled_back_alone_reads_no_labels(root: Path, registry: FakeRegistry) -> None:
    first, _ = rebuilt(root, registry)
    registry.push(human_ref("other"), "another other")  # published since, by another build of ours
    registry.labels[registry.refs[human_ref("other")]] = {"org.stackbuild.stack": "t"}
    before = Counter(registry.requests)
    moved = publishing.promote_lockfile(options_of(root), lockfile_of(root, first, "other"), registry)
    assert moved == [human_ref("other")]
    # its tag's HEAD for the check and again right before the move, the guard's look at the labels of the
    # image there, the move (GET, PUT): no child's labels are read
    assert dict(registry.requests - before) == {"HEAD": 2, "GET": 2, "PUT": 1}


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


def test_below_an_external_base_children_and_parents_are_compared_but_never_the_base(tmp_path: Path) -> None:
    root, registry, first = alpine_moved(tmp_path)
    for alone in ("onext", "onext-child"):  # a parent without its child, a child without its parent
        with pytest.raises(LayerPrefixError, match=r"node onext-child \(.*was built on .*/onext:6@"):
            publishing.promote_lockfile(options_of(root), lockfile_of(root, first, alone), registry)
    asked = len(registry.asked)
    moved = publishing.promote_lockfile(options_of(root), lockfile_of(root, first, "onext", "onext-child"),
                                        registry)
    assert moved == [human_ref("onext"), human_ref("onext-child")]
    assert len(registry.asked) == asked  # alpine, moved on since, is never compared


def test_an_older_lockfile_learns_parents_from_labels_and_skips_an_external_one(tmp_path: Path) -> None:
    root, registry, first = alpine_moved(tmp_path)
    for nodes, refused in ((("onext-child",), True), (("onext", "onext-child"), False)):
        older = [replace(entry, parent=None) for entry in read_lockfile(Path(first.lockfile))
                 if entry.node in nodes]  # written before lockfiles named parents
        path = write_lockfile(root / "older.lock.json", "r", older)
        asked = len(registry.asked)
        if refused:
            with pytest.raises(LayerPrefixError, match=r"node onext-child \("):
                publishing.promote_lockfile(options_of(root), path, registry)
        else:
            assert len(publishing.promote_lockfile(options_of(root), path, registry)) == 2
        assert len(registry.asked) == asked  # onext's label names alpine: not a parent of ours


def test_labels_naming_a_parent_the_project_never_published_are_not_compared(registry: FakeRegistry) -> None:
    app = "registry.example/t/app:1"
    registry.push(app, "app now")
    old_app = registry.push(app.replace(":1", ":old"), "app then")
    # built FROM an image of another organisation's stackbuild: its labels came along
    registry.labels[old_app] = {BASE_NAME_LABEL: "other.example/Not A Ref", BASE_DIGEST_LABEL: sha("theirs")}
    entry = LockEntry("app", app, "f" * 64, old_app, dict.fromkeys(PLATFORMS, ""))
    now = {app: registry.digest(app)}
    verify_rollback([entry], now, set(), [], registry, registry)
    assert dict(registry.requests) == {"HEAD": 1, "GET": 1}  # its labels only: that parent is not asked for


def test_an_unreadable_latest_lockfile_does_not_stop_a_rollback(root: Path, registry: FakeRegistry) -> None:
    first, _ = rebuilt(root, registry)
    latest = root.parent / "state" / "latest.lock.json"
    latest.write_text("{not json", encoding="utf-8")
    with capture_logs() as events:
        moved = publishing.promote_lockfile(options_of(root), Path(first.lockfile), registry)
    assert len(moved) == len(NODES)
    assert "rollback_check_partial" in [event["event"] for event in events]
    assert {entry.node for entry in read_lockfile(latest)} == set(NODES)  # written anew
    assert list(latest.parent.glob("latest.lock.json.unreadable-*"))  # the old one set aside


def alpine_moved(tmp_path: Path) -> tuple[Path, WithBases, RunReport]:
    """The tiny stack plus ext (alpine, external) → onext → onext-child, built; then alpine moved under its
    tag and onext and onext-child were built again: the root, the registry and the first run."""
    root = tmp_path / "repo"
    write_stack_on_alpine(root)
    registry = WithBases()
    builder = FakeBuilder(registry)
    first = run_build(root, builder, registry)
    registry.bases[ALPINE] = MOVED_DIGEST
    second = run_build(root, builder, registry)
    assert second.status == "succeeded" and sorted(builder.order[-2:]) == ["onext", "onext-child"]
    return root, registry, first


def test_a_foreign_image_at_a_published_childs_tag_does_not_stop_its_parents_rollback(
        root: Path, registry: FakeRegistry) -> None:
    first, second = rebuilt(root, registry)
    registry.push(human_ref("leaf"), "someone else's leaf")  # no labels: it names no parent of ours
    both = publishing.promote_lockfile(options_of(root), lockfile_of(root, first, "mid", "leaf"), registry,
                                       adopt=True)
    assert both == [human_ref("leaf"), human_ref("mid")]  # (adopted: the foreign leaf is replaced)
    registry.push(human_ref("leaf"), "someone else's leaf again")
    assert publishing.promote_lockfile(options_of(root), lockfile_of(root, second, "mid"), registry) == [
        human_ref("mid")]


class MovesMidOnce(FakeRegistry):
    """A registry where another machine re-points mid's tag right after the rollback's check read it."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False  # set once the builds are done
        self.to = ""  # the digest mid's tag then points at ("": a new image of ours)

    def digest(self, reference: str) -> str | None:
        found = super().digest(reference)
        if self.armed and reference == human_ref("mid"):
            self.armed = False
            if self.to:
                self.tag(f"{human_ref('mid').rsplit(':', 1)[0]}@{self.to}", human_ref("mid"))
            else:
                meanwhile = self.push(human_ref("mid"), "published meanwhile")
                self.labels[meanwhile] = {"org.stackbuild.stack": "t"}
        return found


def test_a_tag_moved_between_the_check_and_the_move_stops_the_rollback(root: Path) -> None:
    registry = MovesMidOnce()
    first, _ = rebuilt(root, registry)
    registry.armed = True
    tags = human_tags(registry)
    with pytest.raises(TagMovedMeanwhile, match=f"tags moved while they were checked: {human_ref('mid')} "):
        publishing.promote_lockfile(options_of(root), lockfile_of(root, first, "mid", "leaf"), registry)
    assert human_tags(registry) == {**tags, human_ref("mid"): registry.refs[human_ref("mid")]}
    assert registry.refs[human_ref("leaf")] == tags[human_ref("leaf")]  # not moved onto the old mid


def test_a_lockfile_naming_one_tag_for_two_nodes_is_refused(root: Path, registry: FakeRegistry) -> None:
    first, _ = rebuilt(root, registry)
    (mid,) = [entry for entry in read_lockfile(Path(first.lockfile)) if entry.node == "mid"]
    twice = write_lockfile(root / "twice.lock.json", "r", [mid, replace(mid, node="mid2", digest=sha("x"))])
    with pytest.raises(LockfileError, match=f"one tag for several nodes: {human_ref('mid')} \\(mid, mid2\\)"):
        publishing.promote_lockfile(options_of(root), twice, registry)


def test_a_parent_outside_the_lockfile_moved_after_the_check_stops_the_rollback(root: Path) -> None:
    registry = MovesMidOnce()
    first, second = rebuilt(root, registry)
    mid = f"{human_ref('mid').rsplit(':', 1)[0]}@"
    registry.tag(mid + first.nodes["mid"].digest, human_ref("mid"))  # mid back on its first build
    registry.armed, registry.to = True, second.nodes["mid"].digest  # moved on right after the check
    with pytest.raises(TagMovedMeanwhile, match=f"{human_ref('mid')} \\({first.nodes['mid'].digest} then, "
                       f"{second.nodes['mid'].digest} now\\)"):
        publishing.promote_lockfile(options_of(root), lockfile_of(root, first, "leaf"), registry)
    assert registry.refs[human_ref("leaf")] == second.nodes["leaf"].digest  # not moved onto the first leaf


def test_on_a_fresh_state_folder_the_stacks_name_the_children_to_compare(root: Path,
                                                                        registry: FakeRegistry) -> None:
    first, second = rebuilt(root, registry)
    fresh = replace(options_of(root), state_dir=root.parent / "elsewhere")  # another machine: no latest
    tags = human_tags(registry)
    with pytest.raises(LayerPrefixError) as refused:
        publishing.promote_lockfile(fresh, lockfile_of(root, first, "mid"), registry,
                                    stacks=lambda: api.load(fresh))
    assert f"node leaf ({human_ref('leaf')} at {second.nodes['leaf'].digest})" in refused.value.message
    assert human_tags(registry) == tags
    # with mid's child in the lockfile the pair is the lockfile's: the same requests as without the stacks
    before = Counter(registry.requests)
    moved = publishing.promote_lockfile(fresh, lockfile_of(root, first, "mid", "leaf"), registry,
                                        stacks=lambda: api.load(fresh))
    assert moved == [human_ref("leaf"), human_ref("mid")]
    assert dict(registry.requests - before) == {"HEAD": 6, "GET": 6, "PUT": 2}


def test_stack_children_are_the_built_nodes_on_a_parent_not_yet_listed(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write_stack_on_alpine(root)
    stack_graph = api.load(options_of(root))
    listed = [LockEntry("leaf", human_ref("leaf"), "", "")]
    children = {entry.node: entry for entry in stack_children(stack_graph, listed)}
    assert set(children) == {"mid", "side", "onext-child"}  # onext rests on an external base
    assert children["onext-child"].parent == human_ref("onext")
    assert (children["mid"].digest, set(children["mid"].platforms)) == ("", set(PLATFORMS))


def test_a_stack_child_is_compared_on_the_platforms_its_image_has(root: Path, registry: FakeRegistry) -> None:
    first, _ = rebuilt(root, registry)
    fresh = replace(options_of(root), state_dir=root.parent / "elsewhere")
    first_mid = f"{human_ref('mid').rsplit(':', 1)[0]}@{first.nodes['mid'].digest}"
    on_first_mid = {platform: registry.layers(first_mid, platform) for platform in PLATFORMS}
    tags = human_tags(registry)
    # leaf's tag holds an arm64-only image on layers of no mid: refused on arm64 (its labels read there)
    leaf = registry.push(human_ref("leaf"), "leaf arm64 only", ("linux/arm64",))
    registry.labels[leaf] = {BASE_NAME_LABEL: human_ref("mid"), BASE_DIGEST_LABEL: sha("another index")}
    refused = f"node leaf .* on linux/arm64 was built on {human_ref('mid')}"
    with pytest.raises(LayerPrefixError, match=refused):
        publishing.promote_lockfile(fresh, lockfile_of(root, first, "mid"), registry,
                                    stacks=lambda: api.load(fresh))
    assert human_tags(registry) == {**tags, human_ref("leaf"): leaf}
    # an amd64-only image on the first mid's amd64 layers rests on it: compared on amd64 alone
    leaf = registry.push(human_ref("leaf"), "leaf amd64 only", ("linux/amd64",), on_first_mid)
    registry.labels[leaf] = {BASE_NAME_LABEL: human_ref("mid"), BASE_DIGEST_LABEL: sha("another index")}
    assert publishing.promote_lockfile(fresh, lockfile_of(root, first, "mid"), registry,
                                       stacks=lambda: api.load(fresh)) == [human_ref("mid")]


def test_stacks_naming_none_of_the_lockfiles_tags_warn_and_load_only_when_a_tag_moves(
        root: Path, registry: FakeRegistry) -> None:
    first, _ = rebuilt(root, registry)
    fresh = replace(options_of(root), state_dir=root.parent / "elsewhere")
    loads: list[str] = []

    def mirrored() -> StackGraph:
        loads.append("loaded")
        return api.load(replace(fresh, registry="mirror.example/t"))

    with capture_logs() as events:
        moved = publishing.promote_lockfile(fresh, lockfile_of(root, first, "mid"), registry, stacks=mirrored)
    assert moved == [human_ref("mid")] and loads == ["loaded"]
    assert [event["reason"] for event in events if event["event"] == "rollback_check_partial"] == [
        "the loaded stacks name none of the lockfile's tags"]
    publishing.promote_lockfile(fresh, lockfile_of(root, first, "mid"), registry, stacks=mirrored)
    assert loads == ["loaded"]  # every tag in place: the stacks were not loaded


def test_a_lone_image_is_compared_on_the_platform_its_config_names() -> None:
    registry = FakeRegistry()
    mid_ref, leaf_ref = human_ref("mid"), human_ref("leaf")
    first = registry.push_image(mid_ref, {"linux/arm64": [sha("m1")]})
    registry.push_image(mid_ref, {"linux/arm64": [sha("m2")]})  # mid rebuilt since
    for platforms, lone in (({"linux/arm64": ""}, "linux/arm64"),  # the stack's platforms, the config's
                            (dict.fromkeys(PLATFORMS, ""), "linux/arm64"),
                            (dict.fromkeys(PLATFORMS, ""), "linux/arm64/v8")):  # docker build writes v8
        leaf = registry.push_single_image(leaf_ref, [sha("m1"), sha("l")], lone)  # no index
        registry.labels[leaf] = {BASE_NAME_LABEL: mid_ref, BASE_DIGEST_LABEL: sha("another index")}
        child = LockEntry("leaf", leaf_ref, "", "", platforms, parent=mid_ref)
        entry = LockEntry("mid", mid_ref, "f", first, {"linux/arm64": ""}, parent="")
        now = {mid_ref: registry.refs[mid_ref]}
        assert verify_rollback([entry], now, set(), [child], registry, registry) == {leaf_ref: leaf}
        leaf = registry.push_single_image(leaf_ref, [sha("m2"), sha("l")], lone)
        registry.labels[leaf] = {BASE_NAME_LABEL: mid_ref, BASE_DIGEST_LABEL: sha("another index")}
        with pytest.raises(LayerPrefixError, match=r"node leaf .* on linux/arm64 was built on"):
            verify_rollback([entry], now, set(), [child], registry, registry)
