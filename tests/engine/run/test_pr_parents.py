"""PR mode: a touched node whose parent the change leaves alone is built on the parent's content tag
(the image its fingerprint rests on), never on whatever the parent's human tag names."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.engine_fakes import REGISTRY, FakeBuilder, FakeRegistry, commit_all, human_ref
from tests.engine.run.builds import run_build


@pytest.fixture
def registry() -> FakeRegistry:
    return FakeRegistry()


def _edit(root: Path, name: str) -> None:
    dockerfile = root / "stacks" / "t" / name / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text(encoding="utf-8") + "LABEL edited=1\n", encoding="utf-8")


def _built_then_base_changed(root: Path, registry: FakeRegistry) -> str:
    """Build the tiny stack, then commit a change to base that no run has built; base's old digest."""
    assert run_build(root, FakeBuilder(registry), registry).status == "succeeded"
    old_base = registry.refs[human_ref("base")]
    _edit(root, "base")
    commit_all(root, "base changed: merged, not built yet")
    return old_base


def test_pr_mode_builds_on_the_parents_content_tag_when_its_parent_is_unchanged(
        root: Path, registry: FakeRegistry) -> None:
    commit_all(root, "tiny stack")
    assert run_build(root, FakeBuilder(registry), registry).status == "succeeded"
    content = {ref: digest for ref, digest in registry.refs.items()
               if ref.startswith(f"{REGISTRY}/base:sb-") and not ref.endswith("-candidate")}
    registry.refs[human_ref("base")] = registry.push(f"{REGISTRY}/base:foreign", "someone else's base")
    _edit(root, "mid")
    builder = FakeBuilder(registry)
    report = run_build(root, builder, registry, changed_since="HEAD", publish=False)
    assert report.status == "succeeded" and builder.order == ["mid", "leaf"]
    (base_digest,) = content.values()
    assert dict(builder.requests["mid"].build_contexts)["parent"] == (
        f"docker-image://{REGISTRY}/base@{base_digest}")  # the content tag's, not the moved human tag's


def test_pr_mode_refuses_to_build_on_a_parents_human_tag_when_its_content_tag_is_missing(
        root: Path, registry: FakeRegistry) -> None:
    commit_all(root, "tiny stack")
    old_base = _built_then_base_changed(root, registry)
    _edit(root, "mid")
    builder = FakeBuilder(registry)
    report = run_build(root, builder, registry, changed_since="HEAD", publish=False)
    base = report.nodes["base"]
    assert (base.action, base.reason) == ("skip", "unchanged_since_ref")
    content_ref = f"{REGISTRY}/base:sb-{base.fingerprint}"
    assert content_ref not in registry.refs and registry.refs[human_ref("base")] == old_base
    assert report.status == "failed" and builder.order == []  # mid is not built on the old base
    error = report.nodes["mid"].error
    assert content_ref in error and "build base first" in error and "--changed-since" in error
    mid_content = f"{REGISTRY}/mid:sb-{report.nodes['mid'].fingerprint}"
    assert mid_content not in registry.refs  # no content tag vouches for mid over a base it was not built on

