"""Bases are inputs: a run builds FROM the base's digest, records it, and rebuilds exactly its subtree when
the base moves under the same tag (fake builder and registry: no Docker, no network)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import commands
from engine.cli.main import main
from engine.errors import RegistryError
from engine.run import api
from engine.run.settings import BuildSettings
from engine.state.lockfile import read_lockfile
from engine.state.report import RunReport
from tests.engine.base_fakes import ALPINE, ALPINE_DIGEST, MOVED_DIGEST, WithBases, write_stack_on_alpine
from tests.engine.engine_fakes import FakeBuilder, sha
from tests.engine.run.builds import options_of

ON_BASE = ("onext", "onext-child")  # the subtree built on the external base
OURS = ("base", "other", "mid", "side", "leaf")  # built on nodes of ours only


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The tiny stack plus ext (alpine, external) → onext → onext-child."""
    write_stack_on_alpine(tmp_path / "repo")
    return tmp_path / "repo"


def run(root: Path, registry: WithBases) -> tuple[FakeBuilder, RunReport]:
    builder = FakeBuilder(registry)
    report = api.build(options_of(root), builder, BuildSettings(), registry)
    assert report.status == "succeeded", {n.node: n.error for n in report.nodes.values() if n.error}
    return builder, report


def test_a_build_uses_the_base_by_digest_and_records_it(root: Path) -> None:
    registry = WithBases()
    builder, report = run(root, registry)
    assert dict(builder.requests["onext"].build_contexts) == {
        "parent": f"docker-image://docker.io/library/alpine@{ALPINE_DIGEST}"}
    pinned = f"{ALPINE}@{ALPINE_DIGEST}"
    locked = {entry.node: entry.base for entry in read_lockfile(Path(report.lockfile))}
    assert locked == {**dict.fromkeys(OURS, ""), **dict.fromkeys(ON_BASE, pinned)}  # no entry for ext
    data = json.loads((Path(report.folder) / "report.json").read_text(encoding="utf-8"))
    assert {name: node["base"] for name, node in data["nodes"].items()} == {
        **dict.fromkeys(OURS, ""), **dict.fromkeys((*ON_BASE, "ext"), pinned)}
    assert data["nodes"]["ext"]["digest"] == ALPINE_DIGEST
    assert registry.asked == [ALPINE]  # once per run


def test_a_base_moved_under_its_tag_rebuilds_exactly_its_subtree(root: Path) -> None:
    registry = WithBases()
    run(root, registry)
    registry.bases[ALPINE] = MOVED_DIGEST  # a new image pushed under the same tag
    moved = f"base_updated: {ALPINE} {ALPINE_DIGEST} → {MOVED_DIGEST}"
    entries = api.plan(options_of(root), registry)
    assert {e.node: (e.action, e.reason) for e in entries} == {
        **dict.fromkeys(OURS, ("skip", "up_to_date")), "ext": ("external", moved),
        "onext": ("build", moved), "onext-child": ("build", "parent_rebuilt: onext")}
    builder, report = run(root, registry)
    assert sorted(builder.order) == sorted(ON_BASE)
    assert dict(builder.requests["onext"].build_contexts) == {
        "parent": f"docker-image://docker.io/library/alpine@{MOVED_DIGEST}"}
    assert report.nodes["onext"].reason == moved
    locked = {entry.node: entry.base for entry in read_lockfile(Path(report.lockfile))}
    assert locked["onext-child"] == f"{ALPINE}@{MOVED_DIGEST}"
    builder, _ = run(root, registry)
    assert builder.order == []  # the new base is recorded: nothing left to rebuild


def test_explain_says_the_base_moved(root: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    registry = WithBases()
    run(root, registry)
    registry.bases[ALPINE] = MOVED_DIGEST
    monkeypatch.setattr(commands, "RegistryClient", lambda: registry)
    argv = ["explain", "stacks/t", "--root", str(root), "--state-dir", str(root.parent / "state")]
    assert main([*argv, "--node", "onext"]) == 0
    out = capsys.readouterr().out
    assert f"  base        {MOVED_DIGEST}\n" in out
    assert "changed:      base, parent\n" in out
    verdict = f"verdict:      base_updated: {ALPINE} {ALPINE_DIGEST} → {MOVED_DIGEST}\n"
    assert verdict in out
    assert main([*argv, "--node", "ext"]) == 0
    assert verdict in capsys.readouterr().out


def test_a_base_nobody_can_resolve_fails_its_subtree_with_what_to_do(root: Path) -> None:
    registry = WithBases({})
    builder = FakeBuilder(registry)
    report = api.build(options_of(root), builder, BuildSettings(keep_going=True), registry)
    assert report.status == "failed"
    assert report.nodes["ext"].reason == "base_unresolved"
    assert report.nodes["onext"].status == "failed"
    assert report.nodes["onext"].error == (
        f"base {ALPINE} cannot be resolved to a digest "
        "(check the image name, or set STACKBUILD_DOCKERHUB_MIRROR for a Docker Hub mirror)")
    assert sorted(builder.order) == sorted(OURS)


class LateBase(WithBases):
    """The plan's lookup of alpine fails (a registry fault); every later one finds it pushed again."""

    def digest(self, reference: str) -> str | None:
        if reference == ALPINE and not self.asked:
            self.asked.append(reference)
            raise RegistryError("alpine: the registry timed out")
        digest = super().digest(reference)
        if reference == ALPINE:
            self.bases[ALPINE] = sha(f"alpine 3.20, push number {len(self.asked) + 1}")
        return digest


def test_a_base_the_plan_left_unresolved_is_resolved_once_for_all_its_children(root: Path) -> None:
    with (root / "stacks/t/stack.yaml").open("a", encoding="utf-8") as stack:
        stack.write('  onext2: {kind: sdk, parent: ext, tag: "8", dockerfile: onext/Dockerfile}\n')
    registry = LateBase()
    builder = FakeBuilder(registry)
    report = api.build(options_of(root), builder, BuildSettings(), registry)
    assert report.nodes["ext"].reason == "base_unresolved"
    assert report.status == "succeeded"
    first = dict(builder.requests["onext"].build_contexts)["parent"]
    assert first.startswith("docker-image://docker.io/library/alpine@sha256:")
    assert dict(builder.requests["onext2"].build_contexts)["parent"] == first  # one digest for both
    assert registry.asked == [ALPINE, ALPINE]  # the plan's failed try, then one more for the run
