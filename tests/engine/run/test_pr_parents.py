"""PR mode: a touched node whose parent the change leaves alone is built on the parent's content tag
(the image its fingerprint rests on), never on whatever the parent's human tag names; a parent with no
image of its current inputs (a merged change main has not built, a moved base) is built in the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.run.api import load
from engine.run.planner import NEEDED_BY_CHANGE, content_ref, plan_build
from engine.state.lockfile import read_lockfile
from tests.engine.engine_fakes import REGISTRY, FakeBuilder, FakeRegistry, commit_all, human_ref
from tests.engine.run.builds import options_of, run_build
from tests.engine.run.prsamples import (
    WITHHELD,
    base_merged_not_built_then_mid_edited,
    edit,
    parent_of,
    trusted_base,
)


@pytest.fixture
def registry() -> FakeRegistry:
    return FakeRegistry()


def _content_tags(registry: FakeRegistry, name: str) -> dict[str, str]:
    return {ref: digest for ref, digest in registry.refs.items()
            if ref.startswith(f"{REGISTRY}/{name}:sb-") and not ref.endswith("-candidate")}


def test_pr_mode_builds_on_the_parents_content_tag_when_its_parent_is_unchanged(
        root: Path, registry: FakeRegistry) -> None:
    commit_all(root, "tiny stack")
    assert run_build(root, FakeBuilder(registry), registry).status == "succeeded"
    (base_digest,) = _content_tags(registry, "base").values()
    registry.refs[human_ref("base")] = registry.push(f"{REGISTRY}/base:foreign", "someone else's base")
    edit(root, "mid")
    builder = FakeBuilder(registry)
    report = run_build(root, builder, registry, changed_since="HEAD")
    assert report.status == "succeeded" and builder.order == ["mid", "leaf"]
    assert (report.nodes["base"].action, report.nodes["base"].reason) == ("skip", "unchanged_since_ref")
    # the content tag's digest, not the moved human tag's
    assert parent_of(builder, "mid") == f"docker-image://{REGISTRY}/base@{base_digest}"
    # only built on: the run published no tag of base, so its lockfile does not record base
    assert {entry.node for entry in read_lockfile(Path(report.lockfile))} == {"mid", "leaf"}


def test_pr_mode_builds_a_parent_with_no_image_of_its_current_inputs_before_the_change(
        root: Path, registry: FakeRegistry) -> None:
    old_base = base_merged_not_built_then_mid_edited(root, registry)
    builder = FakeBuilder(registry)
    report = run_build(root, builder, registry, changed_since="HEAD", publish=False)
    base = report.nodes["base"]
    assert report.status == "succeeded" and builder.order == ["base", "mid", "leaf"]
    assert base.action == "build" and base.reason.startswith(f"{NEEDED_BY_CHANGE}: ")
    new_base = registry.refs[f"{REGISTRY}/base:sb-{base.fingerprint}"]
    assert new_base != old_base and parent_of(builder, "mid") == f"docker-image://{REGISTRY}/base@{new_base}"
    assert registry.refs[human_ref("base")] == old_base  # --no-publish: no human tag moves


def test_pr_mode_builds_every_untouched_ancestor_down_to_one_with_an_image(
        root: Path, registry: FakeRegistry) -> None:
    commit_all(root, "tiny stack")
    assert run_build(root, FakeBuilder(registry), registry).status == "succeeded"
    edit(root, "mid")
    commit_all(root, "mid changed: merged, not built yet")
    edit(root, "leaf")
    builder = FakeBuilder(registry)
    report = run_build(root, builder, registry, changed_since="HEAD", publish=False)
    assert report.status == "succeeded" and builder.order == ["mid", "leaf"]  # base's image is current
    assert report.nodes["mid"].reason.startswith(NEEDED_BY_CHANGE)
    assert (report.nodes["base"].action, report.nodes["base"].reason) == ("skip", "unchanged_since_ref")
    (base_digest,) = _content_tags(registry, "base").values()
    assert parent_of(builder, "mid") == f"docker-image://{REGISTRY}/base@{base_digest}"


def test_pr_mode_plans_the_untouched_parents_it_needs(root: Path, registry: FakeRegistry) -> None:
    commit_all(root, "tiny stack")
    assert run_build(root, FakeBuilder(registry), registry).status == "succeeded"
    edit(root, "base")
    commit_all(root, "base changed: merged, not built yet")
    edit(root, "leaf")
    planned = plan_build(load(options_of(root)), root, registry, None, changed_since="HEAD")
    actions = {entry.node: (entry.action, entry.reason.split(":")[0]) for entry in planned.entries}
    assert actions["base"] == actions["mid"] == ("build", NEEDED_BY_CHANGE)  # both outside the change
    assert actions["leaf"] == ("build", "dockerfile_changed")
    assert planned.needed == {"base", "mid"} and not planned.support


def test_pr_mode_looks_up_only_the_parents_of_what_it_builds(root: Path, registry: FakeRegistry) -> None:
    commit_all(root, "tiny stack")
    assert run_build(root, FakeBuilder(registry), registry).status == "succeeded"
    edit(root, "mid")
    assert run_build(root, FakeBuilder(registry), registry, changed_since="HEAD", publish=False).status == (
        "succeeded")  # mid and leaf of this change are built: their content tags are pushed
    for ref in _content_tags(registry, "base"):
        del registry.refs[ref]  # pruned since
    builder = FakeBuilder(registry)
    report = run_build(root, builder, registry, changed_since="HEAD", publish=False)
    assert report.status == "succeeded" and builder.order == []  # nothing to build: base is not needed
    assert report.nodes["base"].action == "skip" and report.nodes["mid"].action in ("skip", "retag")


def test_a_publishing_pr_run_moves_no_human_tag_of_a_parent_it_built_only_because_the_change_needs_it(
        root: Path, registry: FakeRegistry) -> None:
    old_base = base_merged_not_built_then_mid_edited(root, registry)
    report = run_build(root, FakeBuilder(registry), registry, changed_since="HEAD")  # publishes
    assert report.status == "succeeded" and report.nodes["base"].action == "build"
    assert registry.refs[human_ref("base")] == old_base  # main moves it once it builds base
    mid_content = f"{REGISTRY}/mid:sb-{report.nodes['mid'].fingerprint}"
    assert registry.refs[human_ref("mid")] == registry.refs[mid_content]
    # the lockfiles record what is published: base as before (a promote of them moves no tag to the PR's)
    assert {entry.node for entry in read_lockfile(Path(report.lockfile))} == {"mid", "leaf"}
    assert {name for name, node in report.nodes.items() if node.published} == {"mid", "leaf"}
    latest = {entry.node: entry.digest for entry in read_lockfile(root.parent / "state/latest.lock.json")}
    assert latest["base"] == old_base and latest["mid"] == registry.refs[mid_content]


def test_a_no_secrets_pr_builds_on_the_trusted_content_tag_of_a_parent_declaring_a_secret(
        root: Path, registry: FakeRegistry) -> None:
    trusted_ref = trusted_base(root, registry)
    edit(root, "mid")
    builder = FakeBuilder(registry)
    report = run_build(root, builder, registry, changed_since="HEAD", secrets=WITHHELD)
    base = report.nodes["base"]
    assert (base.action, base.reason) == ("skip", "unchanged_since_ref")
    assert f"{REGISTRY}/base:sb-{base.fingerprint}" not in registry.refs  # no withheld build of base
    assert report.status == "succeeded" and builder.order == ["mid", "leaf"]
    assert parent_of(builder, "mid") == f"docker-image://{REGISTRY}/base@{registry.refs[trusted_ref]}"


def test_a_no_secrets_pr_prefers_the_parents_content_tag_under_the_runs_fingerprint(
        root: Path, registry: FakeRegistry) -> None:
    trusted_base(root, registry)
    edit(root, "mid")
    planned = plan_build(load(options_of(root)), root, None, None, withheld=True)
    withheld_ref = content_ref(planned.graph.nodes["base"], planned.fingerprints["base"])
    withheld_digest = registry.push(withheld_ref, "base built without its secret")
    builder = FakeBuilder(registry)
    report = run_build(root, builder, registry, changed_since="HEAD", secrets=WITHHELD)
    assert report.status == "succeeded" and builder.order == ["mid", "leaf"]
    assert parent_of(builder, "mid") == f"docker-image://{REGISTRY}/base@{withheld_digest}"


def test_a_no_secrets_pr_builds_the_parent_when_neither_of_its_content_tags_exists(
        root: Path, registry: FakeRegistry) -> None:
    trusted_ref = trusted_base(root, registry)
    old_trusted = registry.refs[trusted_ref]
    edit(root, "base")
    commit_all(root, "base changed: merged, not built yet")
    edit(root, "mid")
    builder = FakeBuilder(registry)
    report = run_build(root, builder, registry, changed_since="HEAD", secrets=WITHHELD)
    assert report.status == "succeeded" and builder.order == ["base", "mid", "leaf"]
    base = report.nodes["base"]
    assert base.action == "build" and base.reason.startswith(NEEDED_BY_CHANGE)
    assert not builder.requests["base"].secrets  # withheld, as for every node of the run
    built = registry.refs[f"{REGISTRY}/base:sb-{base.fingerprint}"]
    assert built != old_trusted and parent_of(builder, "mid") == f"docker-image://{REGISTRY}/base@{built}"


def test_a_no_secrets_pr_leaves_no_record_that_vouches_for_the_trusted_parent_under_its_own_fingerprint(
        root: Path, registry: FakeRegistry) -> None:
    trusted_base(root, registry)
    edit(root, "mid")
    pr = run_build(root, FakeBuilder(registry), registry, changed_since="HEAD", secrets=WITHHELD)
    assert pr.status == "succeeded"
    builder = FakeBuilder(registry)
    later = run_build(root, builder, registry, secrets=WITHHELD)  # not a PR: every node planned
    assert later.nodes["base"].action == "build" and "base" in builder.order  # built with the secret


def test_what_a_no_secrets_pr_builds_on_a_trusted_parent_gets_no_content_tag_a_later_run_could_reuse(
        root: Path, registry: FakeRegistry) -> None:
    trusted_base(root, registry)
    edit(root, "mid")
    builder = FakeBuilder(registry)
    pr = run_build(root, builder, registry, changed_since="HEAD", secrets=WITHHELD)
    assert pr.status == "succeeded" and builder.order == ["mid", "leaf"]
    for name in ("mid", "leaf"):  # their fingerprints say "built on base without its secret": they were not
        assert f"{REGISTRY}/{name}:sb-{pr.nodes[name].fingerprint}" not in registry.refs
    later = FakeBuilder(registry)
    report = run_build(root, later, registry, secrets=WITHHELD)  # a later --no-secrets run, not a PR
    assert report.status == "succeeded", {n: r.error for n, r in report.nodes.items() if r.error}
    assert {"base", "mid", "leaf"} <= set(later.order)  # mid is built on that run's base, not reused
