"""The clobber guard: a human tag pointing at an image this project never built is not moved."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from engine.run import api, publishing
from engine.run.layers import LayerPrefixError
from engine.run.ownership import STACK_LABEL, ForeignTagsRefused, KnownDigests, TagGuard, known_digests
from engine.run.promote import promote
from engine.state.history import History, NodeRecord
from engine.state.lockfile import LockEntry, read_lockfile, write_lockfile
from engine.state.report import RunReport
from graph.errors import StackError
from tests.engine.engine_fakes import (
    NODES,
    REGISTRY,
    FakeBuilder,
    FakeRegistry,
    human_ref,
    human_tags,
    sha,
    write_stack,
)
from tests.engine.run import builds


def run_build(root: Path, registry: FakeRegistry, **settings: object) -> RunReport:
    return builds.run_build(root, FakeBuilder(registry), registry, **settings)


def foreign_at(registry: FakeRegistry, name: str) -> str:
    """Someone else's image (no labels of ours) pushed straight to a node's human tag."""
    return registry.push(human_ref(name), f"foreign {name}")


# --- TagGuard -----------------------------------------------------------------------------------


def guard(known: tuple[str, ...] = (), adopt: bool = False, registry: FakeRegistry | None = None) -> TagGuard:
    return TagGuard(set(known), {"mid": "t"}, lambda node: adopt, registry)


ENTRY = LockEntry("mid", human_ref("mid"), "f" * 64, sha("ours"), {})


def test_absent_tag_or_the_same_digest_is_never_refused() -> None:
    checker = guard()
    assert not checker.refuses(ENTRY, None)
    assert not checker.refuses(ENTRY, ENTRY.digest)
    assert checker.refused == []


def test_a_digest_we_built_before_is_ours() -> None:
    checker = guard(known=(sha("older build"),))
    assert not checker.refuses(ENTRY, sha("older build"))


def test_an_unknown_digest_is_refused_with_node_tag_digest_and_how_to_adopt() -> None:
    checker = guard()
    with capture_logs() as events:
        assert checker.refuses(ENTRY, sha("theirs"))
    (foreign,) = checker.refused
    assert (foreign.node, foreign.ref, foreign.digest) == ("mid", human_ref("mid"), sha("theirs"))
    message = foreign.message()
    for part in ("mid", human_ref("mid"), sha("theirs"), "--adopt", "adopt: true"):
        assert part in message
    assert [(e["event"], e["node"], e["foreign_digest"]) for e in events] == [
        ("foreign_tag_refused", "mid", sha("theirs"))]


def test_adopting_takes_a_foreign_tag_over() -> None:
    checker = guard(adopt=True)
    with capture_logs() as events:
        assert not checker.refuses(ENTRY, sha("theirs"))
    assert checker.refused == []
    assert [e["event"] for e in events] == ["foreign_tag_adopted"]


def test_an_image_with_our_stack_label_is_ours_another_stacks_label_is_not() -> None:
    registry = FakeRegistry()
    ours = registry.push(f"{REGISTRY}/mid:old", "old build elsewhere")
    registry.labels[ours] = {STACK_LABEL: "t"}
    other = registry.push(f"{REGISTRY}/mid:other", "other stack")
    registry.labels[other] = {STACK_LABEL: "someone-else"}
    checker = guard(registry=registry)
    assert not checker.refuses(ENTRY, ours)
    assert checker.refuses(ENTRY, other)


def test_known_digests_come_from_history_and_every_lockfile(tmp_path: Path) -> None:
    state = tmp_path / "state"
    platforms = {"linux/amd64": sha("a1")}
    write_lockfile(state / "latest.lock.json", "r1", [LockEntry("a", "x.io/a:1", "f", sha("a"), platforms)])
    write_lockfile(state / "runs" / "r0" / "lock.json", "r0", [LockEntry("b", "x.io/b:1", "f", sha("b"), {})])
    (state / "runs" / "broken").mkdir()
    (state / "runs" / "broken" / "lock.json").write_text("{", encoding="utf-8")
    assert known_digests(state, None) == {sha("a"), sha("a1"), sha("b")}


def test_known_digests_are_read_on_the_first_question_only(tmp_path: Path) -> None:
    state = tmp_path / "state"
    write_lockfile(state / "runs" / "r0" / "lock.json", "r0", [LockEntry("b", "x.io/b:1", "f", sha("b"), {})])
    known = KnownDigests(state, None)
    write_lockfile(state / "runs" / "r1" / "lock.json", "r1", [LockEntry("c", "x.io/c:1", "f", sha("c"), {})])
    assert sha("c") in known and sha("b") in known  # read at the first `in`, r1 included
    write_lockfile(state / "runs" / "r2" / "lock.json", "r2", [LockEntry("d", "x.io/d:1", "f", sha("d"), {})])
    assert sha("d") not in known  # read once, not per question


# --- promote with a guard -----------------------------------------------------------------------


def test_promote_leaves_a_refused_tag_alone_and_moves_the_others() -> None:
    registry = FakeRegistry()
    theirs = foreign_at(registry, "mid")
    mine = registry.push(f"{REGISTRY}/mid:sb-x", "mid")
    base = registry.push(f"{REGISTRY}/base:sb-x", "base")
    checker = TagGuard(set(), {}, lambda node: False, registry)
    moved = promote([LockEntry("base", human_ref("base"), "f", base, {}),
                     LockEntry("mid", human_ref("mid"), "f", mine, {})], registry, checker)
    assert moved == [human_ref("base")]
    assert registry.refs[human_ref("mid")] == theirs
    assert [f.node for f in checker.refused] == ["mid"]


# --- a whole build ------------------------------------------------------------------------------


def test_build_refuses_the_foreign_tag_promotes_the_rest_and_fails(root: Path) -> None:
    registry = FakeRegistry()
    theirs = foreign_at(registry, "mid")
    report = run_build(root, registry)
    assert report.status == "failed"
    assert report.nodes["mid"].status == "failed"
    assert theirs in report.nodes["mid"].error and "--adopt" in report.nodes["mid"].error
    assert human_tags(registry)[human_ref("mid")] == theirs  # not clobbered
    assert sorted(report.promoted) == sorted(human_ref(n) for n in NODES if n != "mid")
    locked = json.loads(Path(report.lockfile).read_text(encoding="utf-8"))["nodes"]
    assert "mid" not in locked and locked["leaf"]["ref"] == human_ref("leaf")


def test_the_next_build_still_refuses_then_adopt_takes_it_over(root: Path) -> None:
    registry = FakeRegistry()
    theirs = foreign_at(registry, "mid")
    assert run_build(root, registry).status == "failed"
    again = run_build(root, registry)
    assert again.status == "failed" and again.buildx_invocations == 0  # nothing to build, still refused
    assert human_tags(registry)[human_ref("mid")] == theirs
    adopted = run_build(root, registry, adopt=True)
    assert adopted.status == "succeeded"
    assert adopted.promoted == [human_ref("mid")]
    assert human_tags(registry)[human_ref("mid")] == adopted.nodes["mid"].digest != theirs


def test_adopt_true_in_the_stack_file_takes_it_over(root: Path) -> None:
    stack_file = root / "stacks" / "t" / "stack.yaml"
    stack_file.write_text(stack_file.read_text(encoding="utf-8").replace("nodes:", "adopt: true\nnodes:", 1),
                          encoding="utf-8")
    registry = FakeRegistry()
    foreign_at(registry, "mid")
    report = run_build(root, registry)
    assert report.status == "succeeded"
    assert human_tags(registry)[human_ref("mid")] == report.nodes["mid"].digest


def test_adopt_in_the_stack_file_must_be_true_or_false(root: Path) -> None:
    stack_file = root / "stacks" / "t" / "stack.yaml"
    stack_file.write_text(stack_file.read_text(encoding="utf-8").replace("nodes:", "adopt: maybe\nnodes:", 1),
                          encoding="utf-8")
    with pytest.raises(StackError, match="'adopt' must be true or false"):
        api.load(builds.options_of(root))


def test_a_tag_on_an_older_build_of_ours_is_promoted_over(root: Path) -> None:
    registry = FakeRegistry()
    first = run_build(root, registry)
    write_stack(root, arg="2")
    second = run_build(root, registry)
    assert second.status == "succeeded"
    assert human_tags(registry)[human_ref("mid")] == second.nodes["mid"].digest != first.nodes["mid"].digest


def test_an_older_build_of_ours_without_history_is_known_by_its_labels(root: Path) -> None:
    registry = FakeRegistry()
    first = run_build(root, registry)
    shutil.rmtree(root.parent / "state")  # another machine: no history, no lockfiles
    write_stack(root, arg="2")
    second = run_build(root, registry)
    assert second.status == "succeeded"
    assert human_tags(registry)[human_ref("mid")] == second.nodes["mid"].digest != first.nodes["mid"].digest


def test_history_records_built_digests_but_not_external_bases(tmp_path: Path) -> None:
    history = History(tmp_path / "h.db")
    history.start_run("r", "2026", "incremental")
    for node, action in (("a", "build"), ("b", "retag"), ("e", "external")):
        record = NodeRecord("r", node, "x", "f", sha(node), action, "", "succeeded", 0.0, {}, {}, "t")
        history.record_node(record)
    assert history.built_digests() == {sha("a"), sha("b")}  # an external base is not ours
    history.close()


# --- stackbuild promote LOCKFILE ----------------------------------------------------------------


def test_a_rollback_leaves_a_foreign_tag_alone_unless_adopted(root: Path) -> None:
    registry = FakeRegistry()
    first = run_build(root, registry)
    write_stack(root, arg="2")
    assert run_build(root, registry).status == "succeeded"
    theirs = foreign_at(registry, "mid")
    tags = dict(registry.refs)
    # leaf would go back onto the first mid while mid's tag keeps the foreign image: nothing moves, and
    # no event says a tag was refused or adopted
    with pytest.raises(LayerPrefixError, match=f"node leaf .* but that tag would point at {theirs} "
                       r"\(an image this project never built, left alone: promote --adopt takes it over\)"), \
            capture_logs() as events:
        publishing.promote_lockfile(builds.options_of(root), Path(first.lockfile), registry)
    assert registry.refs == tags
    assert not [event for event in events if event["event"].startswith("foreign_tag")]
    side = [entry for entry in read_lockfile(Path(first.lockfile)) if entry.node != "leaf"]
    with pytest.raises(ForeignTagsRefused, match=f"tag {human_ref('mid')} points to {theirs}.*"
                       r"\(3 other tag\(s\) promoted\)"), capture_logs() as events:
        publishing.promote_lockfile(builds.options_of(root), write_lockfile(root / "l.json", "r", side),
                                    registry)
    assert registry.refs[human_ref("mid")] == theirs
    assert [event["event"] for event in events if event["event"].startswith("foreign_tag")] == [
        "foreign_tag_refused"]
    with capture_logs() as events:
        moved = publishing.promote_lockfile(builds.options_of(root), Path(first.lockfile), registry,
                                            adopt=True)
    assert human_ref("mid") in moved and registry.refs[human_ref("mid")] == first.nodes["mid"].digest
    assert [event["event"] for event in events if event["event"].startswith("foreign_tag")] == [
        "foreign_tag_adopted"]
