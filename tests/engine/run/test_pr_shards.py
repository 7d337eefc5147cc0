"""CI shards of a PR (`plan --emit --changed-since REF`): each job and publish plan in PR mode, so a job
builds its node even when it lies outside the change, publish moves only the change's human tags, and
what a --no-secrets PR builds on a build made with the secrets goes in one job with its parent."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import EngineError
from engine.run import api
from engine.run.planner import NEEDED_BY_CHANGE
from engine.run.settings import BuildSettings
from engine.state.lockfile import read_lockfile
from engine.state.report import RunReport
from graph.model.secrets import SecretPolicy
from graph.plan.entries import BUILD, PlanEntry, plan_json, plan_table
from graph.present.ci import build_units
from tests.engine.engine_fakes import NODES, REGISTRY, STACK, FakeBuilder, FakeRegistry, commit_all, human_ref
from tests.engine.run.builds import run_build, scanned_options
from tests.engine.run.prsamples import (
    WITHHELD,
    base_declares_a_secret,
    base_merged_not_built_then_mid_edited,
    edit,
    parent_of,
    trusted_base,
)

PR = "HEAD"  # the tests' changes are uncommitted: PR mode compares the working tree with REF


def _options(root: Path, runner: str, only: tuple[str, ...] = (), targets: tuple[Path, ...] = STACK
             ) -> api.Options:
    return api.Options(root=root, targets=targets, state_dir=root.parent / f"state-{runner}", only=only)


def _pr_plan(root: Path, registry: FakeRegistry, withheld: bool = False, targets: tuple[Path, ...] = STACK
             ) -> tuple[PlanEntry, ...]:
    """What `plan --emit --changed-since` emits jobs from."""
    return api.plan(_options(root, "plan", targets=targets), registry, changed_since=PR,
                    secrets=SecretPolicy(withhold=True) if withheld else None)


def _job(root: Path, registry: FakeRegistry, nodes: tuple[str, ...], withheld: bool = False,
         builder: FakeBuilder | None = None, targets: tuple[Path, ...] = STACK) -> RunReport:
    """One emitted build job on a runner of its own: `build --only NODE... --changed-since REF`."""
    settings = BuildSettings(changed_since=PR, secrets=WITHHELD if withheld else SecretPolicy())
    return api.build(_options(root, "-".join(nodes), nodes, targets), builder or FakeBuilder(registry),
                     settings, registry)


def _run_jobs(root: Path, registry: FakeRegistry, plan: tuple[PlanEntry, ...]) -> None:
    for nodes, _ in build_units(plan).values():  # plan order: a unit after the one it waits for
        report = _job(root, registry, nodes)
        assert report.status == "succeeded", {n: r.error for n, r in report.nodes.items() if r.error}


def _built(plan: tuple[PlanEntry, ...]) -> list[str]:
    return [entry.node for entry in plan if entry.action == BUILD]


def test_a_prs_shards_and_publish_move_only_the_changes_human_tags(root: Path) -> None:
    registry = FakeRegistry()
    commit_all(root, "tiny stack")
    assert run_build(root, FakeBuilder(registry), registry).status == "succeeded"
    before = registry.tags({human_ref(name) for name in NODES})
    for ref in [ref for ref in registry.refs if ref.startswith(f"{REGISTRY}/other:sb-")]:
        del registry.refs[ref]  # pruned since: a publish outside PR mode would want it built
    edit(root, "mid")
    plan = _pr_plan(root, registry)
    assert _built(plan) == ["mid", "leaf"]
    _run_jobs(root, registry, plan)
    with pytest.raises(EngineError, match=r"no content tag in the registry\): other"):
        api.publish(_options(root, "publish"), registry)
    moved = api.publish(_options(root, "publish"), registry, changed_since=PR)
    assert sorted(moved) == [human_ref("leaf"), human_ref("mid")]
    after = registry.tags({human_ref(name) for name in NODES})
    assert {name for name in NODES if after[human_ref(name)] != before[human_ref(name)]} == {"mid", "leaf"}
    latest = read_lockfile(root.parent / "state-publish" / "latest.lock.json")
    assert {entry.node: entry.digest for entry in latest} == {"mid": after[human_ref("mid")],
                                                               "leaf": after[human_ref("leaf")]}


def test_the_job_of_a_parent_the_change_needs_builds_it_and_publish_leaves_its_human_tag(root: Path) -> None:
    registry = FakeRegistry()
    old_base = base_merged_not_built_then_mid_edited(root, registry)
    plan = _pr_plan(root, registry)
    assert _built(plan) == ["base", "mid", "leaf"]
    builder = FakeBuilder(registry)
    report = _job(root, registry, ("base",), builder=builder)  # outside the change: built all the same
    assert report.status == "succeeded" and builder.order == ["base"]
    assert report.nodes["base"].reason.startswith(f"{NEEDED_BY_CHANGE}: ")
    new_base = registry.refs[f"{REGISTRY}/base:sb-{report.nodes['base'].fingerprint}"]
    builder = FakeBuilder(registry)
    assert _job(root, registry, ("mid",), builder=builder).status == "succeeded"
    assert parent_of(builder, "mid") == f"docker-image://{REGISTRY}/base@{new_base}"
    assert _job(root, registry, ("leaf",)).status == "succeeded"
    moved = api.publish(_options(root, "publish"), registry, changed_since=PR)
    assert sorted(moved) == [human_ref("leaf"), human_ref("mid")]
    assert registry.refs[human_ref("base")] == old_base  # main's to move


def test_a_job_is_refused_while_a_parent_the_change_needs_has_no_image(root: Path) -> None:
    registry = FakeRegistry()
    base_merged_not_built_then_mid_edited(root, registry)
    builder = FakeBuilder(registry)
    with pytest.raises(EngineError, match="--only: not in the registry yet: base"):
        _job(root, registry, ("mid",), builder=builder)
    assert builder.order == []


def test_a_no_secrets_prs_nodes_built_on_a_trusted_parent_go_in_one_job_and_get_no_content_tag(
        root: Path) -> None:
    registry = FakeRegistry()
    trusted_ref = trusted_base(root, registry)
    edit(root, "mid")
    plan = _pr_plan(root, registry, withheld=True)
    assert [(entry.node, entry.borrowed) for entry in plan if entry.action == BUILD] == [
        ("mid", True), ("leaf", True)]
    assert build_units(plan) == {"mid": (("mid", "leaf"), ())}
    builder = FakeBuilder(registry)
    report = _job(root, registry, ("mid", "leaf"), withheld=True, builder=builder)
    assert report.status == "succeeded" and builder.order == ["mid", "leaf"]
    assert parent_of(builder, "mid") == f"docker-image://{REGISTRY}/base@{registry.refs[trusted_ref]}"
    for name in ("mid", "leaf"):
        assert f"{REGISTRY}/{name}:sb-{report.nodes[name].fingerprint}" not in registry.refs
    with pytest.raises(EngineError, match="never published from --no-secrets shards: mid, leaf"):
        api.publish(_options(root, "publish"), registry, withheld=True, changed_since=PR)


def test_a_no_secrets_prs_child_job_alone_cannot_find_its_borrowed_parent(root: Path) -> None:
    registry = FakeRegistry()
    trusted_base(root, registry)
    edit(root, "mid")
    assert _job(root, registry, ("mid",), withheld=True).status == "succeeded"
    never = "--only: not in the registry yet: mid; mid never will be"
    with pytest.raises(EngineError, match=never) as refused:
        _job(root, registry, ("leaf",), withheld=True)  # why emit puts them in one job
    assert refused.value.hint.startswith("build it in this job: add --only mid")


def test_the_plan_says_which_nodes_get_no_content_tag(root: Path) -> None:
    registry = FakeRegistry()
    trusted_base(root, registry)
    edit(root, "mid")
    plan = _pr_plan(root, registry, withheld=True)
    rows = {line.split()[1]: line for line in plan_table(plan).splitlines()[1:-1]}
    assert "no content tag" in rows["mid"] and "no content tag" in rows["leaf"]
    assert "no content tag" not in rows["base"] and "no content tag" not in rows["side"]
    assert '"borrowed": true' in plan_json(plan)
    trusted_plan = _pr_plan(root, registry)
    assert not any(entry.borrowed for entry in trusted_plan)
    assert "no content tag" not in plan_table(trusted_plan)


def test_a_no_secrets_prs_node_scanned_by_a_borrowed_generator_goes_in_the_generators_job(
        root: Path) -> None:
    # app (stack u) is scanned by side's image: side, built on base's trusted build, gets no content tag,
    # so app's job could never find it; they are one job
    registry = FakeRegistry()
    targets = scanned_options(root).targets
    base_declares_a_secret(root)
    commit_all(root, "tiny stack and u, base with a secret")
    trusted = api.build(_options(root, "main", targets=targets), FakeBuilder(registry),
                        BuildSettings(secrets=SecretPolicy(envs=("TOK",))), registry)
    assert trusted.status == "succeeded"
    edit(root, "side")
    app = root / "stacks/u/app/Dockerfile"
    app.write_text(app.read_text(encoding="utf-8") + "LABEL edited=1\n", encoding="utf-8")
    plan = _pr_plan(root, registry, withheld=True, targets=targets)
    assert [(entry.node, entry.borrowed) for entry in plan if entry.action == BUILD] == [
        ("side", True), ("app", True)]
    assert build_units(plan) == {"side": (("side", "app"), ())}
    builder = FakeBuilder(registry)
    report = _job(root, registry, ("side", "app"), withheld=True, builder=builder, targets=targets)
    assert report.status == "succeeded" and builder.order == ["side", "app"]


def test_publish_names_only_the_changes_nodes_it_never_publishes(root: Path) -> None:
    # mid: merged, not built yet (needed by the change, on base's trusted build); leaf: the change
    registry = FakeRegistry()
    trusted_base(root, registry)
    edit(root, "mid")
    commit_all(root, "mid changed: merged, not built yet")
    edit(root, "leaf")
    plan = _pr_plan(root, registry, withheld=True)
    assert build_units(plan) == {"mid": (("mid", "leaf"), ())}
    assert _job(root, registry, ("mid", "leaf"), withheld=True).status == "succeeded"
    with pytest.raises(EngineError, match=r"never published from --no-secrets shards: leaf \("):
        api.publish(_options(root, "publish"), registry, withheld=True, changed_since=PR)
