"""PR mode: a touched node whose parent the change leaves alone is built on the parent's content tag
(the image its fingerprint rests on), never on whatever the parent's human tag names."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.run.api import load
from engine.run.planner import content_ref, plan_build
from graph.model.secrets import SecretPolicy
from tests.engine.engine_fakes import REGISTRY, FakeBuilder, FakeRegistry, commit_all, human_ref
from tests.engine.run.builds import options_of, run_build


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



WITHHELD = SecretPolicy(withhold=True)  # a fork's pull request: build --changed-since REF --no-secrets


def _base_declares_a_secret(root: Path) -> None:
    stack = root / "stacks" / "t" / "stack.yaml"
    stack.write_text(stack.read_text(encoding="utf-8").replace(
        'test: "true"}', 'test: "true", secrets: [{id: tok, env: TOK}]}'), encoding="utf-8")


def _trusted_base(root: Path, registry: FakeRegistry) -> str:
    """Base declares a secret; a run passing it builds the stack: base's content tag, as main publishes it."""
    _base_declares_a_secret(root)
    commit_all(root, "tiny stack, base with a secret")
    trusted = run_build(root, FakeBuilder(registry), registry, secrets=SecretPolicy(envs=("TOK",)))
    assert trusted.status == "succeeded"
    return f"{REGISTRY}/base:sb-{trusted.nodes['base'].fingerprint}"


def _parent_of(builder: FakeBuilder, name: str) -> str:
    return dict(builder.requests[name].build_contexts)["parent"]


def test_a_no_secrets_pr_builds_on_the_trusted_content_tag_of_a_parent_declaring_a_secret(
        root: Path, registry: FakeRegistry) -> None:
    trusted_ref = _trusted_base(root, registry)
    _edit(root, "mid")
    builder = FakeBuilder(registry)
    report = run_build(root, builder, registry, changed_since="HEAD", secrets=WITHHELD)
    base = report.nodes["base"]
    assert (base.action, base.reason) == ("skip", "unchanged_since_ref")
    assert f"{REGISTRY}/base:sb-{base.fingerprint}" not in registry.refs  # no withheld build of base
    assert report.status == "succeeded" and builder.order == ["mid", "leaf"]
    assert _parent_of(builder, "mid") == f"docker-image://{REGISTRY}/base@{registry.refs[trusted_ref]}"


def test_a_no_secrets_pr_prefers_the_parents_content_tag_under_the_runs_fingerprint(
        root: Path, registry: FakeRegistry) -> None:
    _trusted_base(root, registry)
    _edit(root, "mid")
    planned = plan_build(load(options_of(root)), root, None, None, withheld=True)
    withheld_ref = content_ref(planned.graph.nodes["base"], planned.fingerprints["base"])
    withheld_digest = registry.push(withheld_ref, "base built without its secret")
    builder = FakeBuilder(registry)
    report = run_build(root, builder, registry, changed_since="HEAD", secrets=WITHHELD)
    assert report.status == "succeeded" and builder.order == ["mid", "leaf"]
    assert _parent_of(builder, "mid") == f"docker-image://{REGISTRY}/base@{withheld_digest}"


def test_a_no_secrets_pr_refuses_when_neither_content_tag_of_the_parent_exists(
        root: Path, registry: FakeRegistry) -> None:
    trusted_ref = _trusted_base(root, registry)
    _edit(root, "base")
    commit_all(root, "base changed: merged, not built yet")
    _edit(root, "mid")
    builder = FakeBuilder(registry)
    report = run_build(root, builder, registry, changed_since="HEAD", secrets=WITHHELD)
    assert report.status == "failed" and builder.order == []  # not built on the old trusted base
    error = report.nodes["mid"].error
    withheld_ref = f"{REGISTRY}/base:sb-{report.nodes['base'].fingerprint}"
    planned = plan_build(load(options_of(root)), root, None, None)  # a run passing the secrets
    trusted_now = content_ref(planned.graph.nodes["base"], planned.fingerprints["base"])
    assert len({withheld_ref, trusted_now, trusted_ref}) == 3
    assert withheld_ref in error and trusted_now in error  # both looked up, neither found
    assert "build base first" in error and "--changed-since" in error
