"""PR-mode samples shared by the PR tests: edits of the tiny stack and what the fakes recorded."""

from __future__ import annotations

from pathlib import Path

from graph.model.secrets import SecretPolicy
from tests.engine.engine_fakes import REGISTRY, FakeBuilder, FakeRegistry, commit_all, human_ref
from tests.engine.run.builds import run_build

WITHHELD = SecretPolicy(withhold=True)  # a fork's pull request: build --changed-since REF --no-secrets


def edit(root: Path, name: str) -> None:
    """Change node name's Dockerfile (uncommitted: PR mode compares the working tree with its REF)."""
    dockerfile = root / "stacks" / "t" / name / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text(encoding="utf-8") + "LABEL edited=1\n", encoding="utf-8")


def parent_of(builder: FakeBuilder, name: str) -> str:
    """The parent image node name was built on, as its build context names it."""
    return dict(builder.requests[name].build_contexts)["parent"]


def base_merged_not_built_then_mid_edited(root: Path, registry: FakeRegistry) -> str:
    """Build the tiny stack, commit a change to base no run builds, edit mid: base's old digest."""
    commit_all(root, "tiny stack")
    assert run_build(root, FakeBuilder(registry), registry).status == "succeeded"
    old_base = registry.refs[human_ref("base")]
    edit(root, "base")
    commit_all(root, "base changed: merged, not built yet")
    edit(root, "mid")
    return old_base


def base_declares_a_secret(root: Path) -> None:
    """Base of the tiny stack reads secret tok from the variable TOK."""
    stack = root / "stacks" / "t" / "stack.yaml"
    stack.write_text(stack.read_text(encoding="utf-8").replace(
        'test: "true"}', 'test: "true", secrets: [{id: tok, env: TOK}]}'), encoding="utf-8")


def trusted_base(root: Path, registry: FakeRegistry) -> str:
    """Base declares a secret; a run passing it builds the stack: base's content tag, as main publishes it."""
    base_declares_a_secret(root)
    commit_all(root, "tiny stack, base with a secret")
    trusted = run_build(root, FakeBuilder(registry), registry, secrets=SecretPolicy(envs=("TOK",)))
    assert trusted.status == "succeeded"
    return f"{REGISTRY}/base:sb-{trusted.nodes['base'].fingerprint}"
