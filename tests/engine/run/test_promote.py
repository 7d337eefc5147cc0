"""promote: human tags move to content digests; lock entries with per-platform digests."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from engine.errors import RegistryError
from engine.run import api
from engine.run import promote as promote_module
from engine.run.planner import Planned, plan_build
from engine.run.promote import lock_entries, promote, to_promote
from engine.state.history import History, NodeRecord
from engine.state.lockfile import LockEntry
from graph.plan.entries import BUILD, RETAG, SKIP
from tests.engine.engine_fakes import (
    NODES,
    REGISTRY,
    STACK,
    FakeRegistry,
    RefusingTag,
    human_ref,
    sha,
)


def planned_with(root: Path, registry: FakeRegistry, actions: dict[str, str],
                 digests: dict[str, str] | None = None) -> Planned:
    """A plan of the tiny stack whose entries have the given actions (and digests unless built)."""
    planned = plan_build(api.load(api.Options(root=root, targets=STACK)), root, registry, None)
    known = digests or {}
    entries = tuple(replace(entry, action=actions[entry.node],
                            digest="" if actions[entry.node] == BUILD else known.get(entry.node, ""))
                    for entry in planned.entries)
    return replace(planned, entries=entries)


def entry(name: str, digest: str) -> LockEntry:
    return LockEntry(name, human_ref(name), "f" * 64, digest, {})


# --- promote ------------------------------------------------------------------------------------


def test_promote_points_each_human_tag_at_its_digest() -> None:
    registry = FakeRegistry()
    base = registry.push(f"{REGISTRY}/base:sb-x", "base")
    mid = registry.push(f"{REGISTRY}/mid:sb-x", "mid")
    registry.requests.clear()
    moved = promote([entry("base", base), entry("mid", mid)], registry)
    assert moved == [human_ref("base"), human_ref("mid")]  # in the entries' order, though moved side by side
    assert sorted(registry.events[-2:]) == [("tag", human_ref("base")), ("tag", human_ref("mid"))]
    assert registry.tags({human_ref("base"), human_ref("mid")}) == {human_ref("base"): base,
                                                                   human_ref("mid"): mid}
    assert dict(registry.requests) == {"HEAD": 2, "GET": 2, "PUT": 2}


def test_promote_tags_from_repository_at_digest() -> None:
    sources: list[tuple[str, str]] = []

    class Spy(FakeRegistry):
        def tag(self, source: str, target: str) -> str:
            sources.append((source, target))
            return super().tag(source, target)

    registry = Spy()
    base = registry.push(f"{REGISTRY}/base:sb-x", "base")
    promote([entry("base", base)], registry)
    assert sources == [(f"{REGISTRY}/base@{base}", human_ref("base"))]


def test_promote_nothing_moves_nothing() -> None:
    registry = FakeRegistry()
    assert promote([], registry) == []
    assert sum(registry.requests.values()) == 0


def test_promote_fails_on_a_digest_the_registry_lost_and_moves_the_others_back() -> None:
    registry = FakeRegistry()
    old = {name: registry.push(human_ref(name), f"old {name}") for name in ("base", "leaf")}
    base = registry.push(f"{REGISTRY}/base:sb-x", "base")
    leaf = registry.push(f"{REGISTRY}/leaf:sb-x", "leaf")
    with pytest.raises(RegistryError, match="is not in the registry"):
        promote([entry("base", base), entry("mid", sha("gone")), entry("leaf", leaf)], registry)
    assert registry.tags({human_ref("base"), human_ref("mid"), human_ref("leaf")}) == {
        human_ref("base"): old["base"], human_ref("leaf"): old["leaf"]}
    # moved side by side, so the tags after the lost one moved too: each moved once and back once
    assert Counter(ref for kind, ref in registry.events if kind == "tag") == {human_ref("base"): 2,
                                                                           human_ref("leaf"): 2}


def test_a_refused_tag_moves_the_tags_moved_before_it_back() -> None:
    registry = RefusingTag(human_ref("leaf"))
    old = {name: registry.push(human_ref(name), f"old {name}") for name in ("base", "mid", "leaf")}
    new = {name: registry.push(f"{REGISTRY}/{name}:sb-new", f"new {name}")
           for name in ("base", "mid", "leaf")}
    with pytest.raises(RegistryError, match="HTTP 403"):
        promote([entry(name, new[name]) for name in ("base", "mid", "leaf")], registry)
    assert registry.tags({human_ref(n) for n in ("base", "mid", "leaf")}) == {
        human_ref("base"): old["base"], human_ref("mid"): old["mid"], human_ref("leaf"): old["leaf"]}
    tagged = [ref for kind, ref in registry.events if kind == "tag"]
    assert sorted(tagged[:2]) == sorted(tagged[2:]) == [human_ref("base"), human_ref("mid")]  # moved, back


def test_a_tag_that_did_not_exist_before_stays_after_a_roll_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(promote_module, "log", structlog.get_logger())  # not one main() cached earlier
    registry = RefusingTag(human_ref("mid"))
    base = registry.push(f"{REGISTRY}/base:sb-new", "new base")
    mid = registry.push(f"{REGISTRY}/mid:sb-new", "new mid")
    with capture_logs() as events, pytest.raises(RegistryError):
        promote([entry("base", base), entry("mid", mid)], registry)
    assert registry.tags({human_ref("base"), human_ref("mid")}) == {human_ref("base"): base}
    assert [(e["event"], e["ref"]) for e in events if e["log_level"] == "warning"] == [
        ("tag_not_rolled_back", human_ref("base"))]


# --- to_promote ---------------------------------------------------------------------------------


def test_to_promote_keeps_built_and_retagged_nodes(root: Path) -> None:
    actions = {"base": SKIP, "other": RETAG, "mid": BUILD, "side": SKIP, "leaf": BUILD}
    planned = planned_with(root, FakeRegistry(), actions)
    locked = [entry(name, sha(name)) for name in NODES]
    assert [e.node for e in to_promote(planned, locked)] == ["other", "mid", "leaf"]
    assert to_promote(planned, []) == []


# --- lock_entries -------------------------------------------------------------------------------


def test_lock_entries_reads_platform_digests_from_one_index_get_per_node(root: Path) -> None:
    registry = FakeRegistry()
    digests = {name: registry.push(f"{REGISTRY}/{name}:sb-any", name) for name in NODES}
    digests["other"] = registry.push(f"{REGISTRY}/other:sb-one", "other", ["linux/arm64"])
    actions = {"base": SKIP, "other": RETAG, "mid": BUILD, "side": SKIP, "leaf": BUILD}
    planned = planned_with(root, registry, actions, digests)
    registry.requests.clear()
    locked = lock_entries(planned, {"mid": digests["mid"], "leaf": digests["leaf"]}, registry, None)
    assert [(e.node, e.ref, e.fingerprint, e.digest) for e in locked] == [
        (name, human_ref(name), planned.entry(name).fingerprint, digests[name]) for name in NODES]
    platforms = {e.node: e.platforms for e in locked}
    both = ["linux/amd64", "linux/arm64"]
    assert {name: sorted(known) for name, known in platforms.items()} == {
        "base": both, "other": ["linux/arm64"], "mid": both, "side": both, "leaf": both}
    assert platforms["other"] == registry.platforms(f"{REGISTRY}/other:sb-one")
    assert platforms["mid"]["linux/amd64"] != platforms["mid"]["linux/arm64"]
    assert dict(registry.requests) == {"GET": 5}


def test_lock_entries_prefers_the_platform_digests_history_recorded(root: Path, tmp_path: Path) -> None:
    registry = FakeRegistry()
    digests = {name: registry.push(f"{REGISTRY}/{name}:sb-any", name) for name in NODES}
    planned = planned_with(root, registry, dict.fromkeys(NODES, SKIP), digests)
    registry.requests.clear()
    with History(tmp_path / "history.db") as history:
        history.start_run("r1", "2026-01-01T00:00:00+00:00", "incremental")
        history.record_node(NodeRecord("r1", "mid", human_ref("mid"), "fp", digests["mid"], "build", "x",
                                       "succeeded", 1.0, {}, {}, "2026-01-01T00:00:01+00:00",
                                       {"linux/amd64": "sha256:recorded"}))
        locked = {e.node: e for e in lock_entries(planned, {}, registry, history)}
    assert locked["mid"].platforms == {"linux/amd64": "sha256:recorded"}
    assert sorted(locked["base"].platforms) == ["linux/amd64", "linux/arm64"]
    assert dict(registry.requests) == {"GET": 4}


def test_lock_entries_leave_out_nodes_without_a_digest(root: Path) -> None:
    registry = FakeRegistry()
    planned = planned_with(root, registry, dict.fromkeys(NODES, BUILD))  # nothing built yet
    base = registry.push(f"{REGISTRY}/base:sb-any", "base")
    locked = lock_entries(planned, {"base": base}, registry, None)
    assert [e.node for e in locked] == ["base"]


def test_lock_entries_without_an_index_have_no_platforms(root: Path) -> None:
    registry = FakeRegistry()  # the registry lost the image: no index to read
    planned = planned_with(root, registry, dict.fromkeys(NODES, BUILD))
    locked = lock_entries(planned, {"mid": sha("mid")}, registry, None)
    assert locked == [LockEntry("mid", human_ref("mid"), planned.entry("mid").fingerprint, sha("mid"), {},
                                parent=human_ref("base"))]  # its stack parent's tag


def test_lock_entries_read_the_index_of_the_node_repository(root: Path) -> None:
    asked: list[str] = []

    class Spy(FakeRegistry):
        def manifest(self, reference: str):  # type: ignore[no-untyped-def]
            asked.append(reference)
            return super().manifest(reference)

    registry = Spy()
    planned = planned_with(root, registry, dict.fromkeys(NODES, BUILD))
    lock_entries(planned, {"leaf": sha("leaf")}, registry, None)
    assert asked == [f"{REGISTRY}/leaf@{sha('leaf')}"]
