"""CI shards through the api with the fakes: build --only (exactly those nodes, no promotion), publish."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest

from engine.cli.commands import shard_command
from engine.cli.options import OptionError
from engine.errors import EngineError
from engine.run import api
from engine.run.settings import BuildSettings
from engine.state.lockfile import read_lockfile
from graph.errors import StackError
from graph.model.secrets import SecretPolicy
from tests.engine.engine_fakes import NODES, REGISTRY, STACK, FakeBuilder, FakeRegistry, human_ref


def _options(root: Path, runner: str = "a", **kwargs: object) -> api.Options:
    return api.Options(root=root, targets=STACK, state_dir=root.parent / f"state-{runner}",
                       **kwargs)  # type: ignore[arg-type]


def _shard(root: Path, registry: FakeRegistry, *nodes: str, settings: BuildSettings | None = None
           ) -> FakeBuilder:
    builder = FakeBuilder(registry)
    options = _options(root, runner="-".join(nodes), only=nodes)
    report = api.build(options, builder, settings or BuildSettings(), registry)
    assert report.status == "succeeded"
    assert report.promoted == []
    return builder


SHARDS = (("base", "other"), ("mid", "side"), ("leaf",))  # the tiny stack's shard jobs, in order


def _every_shard(root: Path, registry: FakeRegistry, settings: BuildSettings | None = None) -> None:
    """Run each shard job of SHARDS on a runner of its own."""
    for shard in SHARDS:
        _shard(root, registry, *shard, settings=settings)


def _content_ref(registry: FakeRegistry, name: str) -> str:
    """Node name's one content tag in the registry (its candidate tag left out)."""
    (ref,) = [ref for ref in registry.refs
              if ref.startswith(f"{REGISTRY}/{name}:sb-") and not ref.endswith("-candidate")]
    return ref


def test_shards_in_order_build_each_node_once_then_publish_moves_every_human_tag(root: Path) -> None:
    registry = FakeRegistry()
    built = [name for shard in (("base",), ("mid", "side"), ("leaf",), ("other",))
             for name in _shard(root, registry, *shard).order]
    assert sorted(built) == sorted(NODES)
    assert registry.tags({human_ref(name) for name in NODES}) == {}  # shards promote nothing
    moved = api.publish(_options(root, runner="publish"), registry)
    assert sorted(moved) == sorted(human_ref(name) for name in NODES)
    published = registry.tags({human_ref(name) for name in NODES})
    assert set(published) == {human_ref(name) for name in NODES}
    lockfile = root.parent / "state-publish" / "latest.lock.json"
    locked = {entry.ref: entry.digest for entry in read_lockfile(lockfile)}
    assert locked == published


def test_publish_no_secrets_publishes_what_shards_built_without_the_secrets(root: Path) -> None:
    # shards of a fork's pull request run `build --only X --no-secrets`: base declares a secret, so it and
    # what is built on it have the withheld fingerprints; publish --no-secrets looks for those tags
    stack = root / "stacks" / "t" / "stack.yaml"
    text = stack.read_text(encoding="utf-8")
    stack.write_text(text.replace('test: "true"}', 'test: "true", secrets: [{id: tok, env: TOK}]}'),
                     encoding="utf-8")
    registry = FakeRegistry()
    withheld = BuildSettings(secrets=SecretPolicy(withhold=True))
    _every_shard(root, registry, withheld)
    with pytest.raises(EngineError, match="no content tag in the registry"):
        api.publish(_options(root, runner="publish"), registry)
    moved = api.publish(_options(root, runner="publish"), registry, withheld=True)
    assert sorted(moved) == sorted(human_ref(name) for name in NODES)


def test_a_shard_whose_work_is_done_builds_nothing(root: Path) -> None:
    registry = FakeRegistry()
    _shard(root, registry, "base")
    assert _shard(root, registry, "base").order == []


def test_a_shard_refuses_when_a_parent_is_not_in_the_registry(root: Path) -> None:
    registry = FakeRegistry()
    builder = FakeBuilder(registry)
    with pytest.raises(EngineError, match="--only: not in the registry yet: base, mid"):
        api.build(_options(root, only=("leaf",)), builder, BuildSettings(), registry)
    assert builder.order == []


def test_only_an_unknown_node_is_an_error(root: Path) -> None:
    with pytest.raises(StackError, match="no node named 'nothing'"):
        api.plan(_options(root, only=("nothing", "base")))


def test_publish_refuses_naming_the_missing_nodes_and_moves_nothing(root: Path) -> None:
    registry = FakeRegistry()
    _shard(root, registry, "base")
    _shard(root, registry, "mid")
    missing = r"not built and tested \(no content tag in the registry\): "
    with pytest.raises(EngineError, match=missing) as refused:
        api.publish(_options(root, runner="publish"), registry)
    named = str(refused.value).split(": ", 1)[1].split(" (")[0].split(", ")
    assert sorted(named) == ["leaf", "other", "side"]
    assert registry.tags({human_ref(name) for name in NODES}) == {}


def _args(**kwargs: object) -> argparse.Namespace:
    values: dict[str, object] = {"targets": ["stacks/t"], "registry": "", "select": [], "platform": None}
    values.update(kwargs)
    return argparse.Namespace(**values)


def test_shard_command_repeats_targets_registry_and_select() -> None:
    assert shard_command(_args(registry="r:5000/x", select=["a*"])) == [
        "stacks/t", "--registry", "r:5000/x", "--select", "a*"]


def test_shard_command_repeats_no_secrets() -> None:
    assert shard_command(_args(no_secrets=True)) == ["stacks/t", "--no-secrets"]


def test_shard_command_refuses_platform() -> None:
    with pytest.raises(OptionError, match="--platform"):
        shard_command(_args(platform=[("linux/amd64",)]))


def test_full_shards_rebuild_their_nodes_each_on_its_parents_new_build(root: Path) -> None:
    # a nightly's shards (`plan --emit --full`): each job forces its own node only; its parent, already
    # rebuilt by its job, is found by its content tag (the new build)
    registry = FakeRegistry()
    _every_shard(root, registry)
    base_content = _content_ref(registry, "base")
    stale = registry.push(base_content, "what an older build left under this content tag")
    full = BuildSettings(full=True)
    assert _shard(root, registry, "base", settings=full).order == ["base"]
    rebuilt = registry.refs[base_content]
    assert rebuilt != stale
    builder = _shard(root, registry, "mid", settings=full)
    assert builder.order == ["mid"]
    assert dict(builder.requests["mid"].build_contexts)["parent"] == f"docker-image://{REGISTRY}/base@{rebuilt}"
    moved = api.publish(_options(root, runner="publish"), registry)
    assert set(moved) == {human_ref(name) for name in NODES}


def test_full_shards_on_runners_that_keep_their_state_build_on_and_publish_the_new_builds(root: Path) -> None:
    # self-hosted runners keep their state folder: its history knows the published builds, whose human
    # tags a --full shard leaves where they are while it moves the content tags to its new builds
    registry = FakeRegistry()
    builder = FakeBuilder(registry)  # one builder for every runner: a rebuild pushes a new digest
    assert api.build(_options(root, runner="a"), builder, BuildSettings(), registry).status == "succeeded"
    shutil.copytree(root.parent / "state-a", root.parent / "state-b")
    published = registry.tags({human_ref(name) for name in NODES})
    for runner, shard in zip(("a", "b", "a"), SHARDS, strict=True):
        options = _options(root, runner=runner, only=shard)
        assert api.build(options, builder, BuildSettings(full=True), registry).status == "succeeded"
    base_content = _content_ref(registry, "base")
    assert dict(builder.requests["mid"].build_contexts)["parent"] == (
        f"docker-image://{REGISTRY}/base@{registry.refs[base_content]}")  # not the published base
    moved = api.publish(_options(root, runner="a"), registry)
    assert sorted(moved) == sorted(human_ref(name) for name in NODES)
    now = registry.tags({human_ref(name) for name in NODES})
    assert all(now[ref] != published[ref] for ref in now)


def test_a_full_shard_naming_an_external_base_uses_it(root: Path) -> None:
    stack = root / "stacks" / "t" / "stack.yaml"
    stack.write_text(stack.read_text(encoding="utf-8").replace(
        '  base: {kind: os, tag: "1", test: "true"}',
        '  ext: {kind: os, from: "docker.io/library/debian:12"}\n'
        '  base: {kind: os, parent: ext, tag: "1", test: "true"}'), encoding="utf-8")
    registry = FakeRegistry()
    registry.push("docker.io/library/debian:12", "debian")
    planned = api.plan(_options(root, only=("ext", "base")), registry, full=True)
    assert [(entry.node, entry.action) for entry in planned] == [("ext", "external"), ("base", "build")]


def test_publish_refuses_a_child_that_does_not_rest_on_its_parents_image(root: Path) -> None:
    # a later build moved base's content tag (a --full shard of base alone): mid's image, built on the
    # build before, would be published beside a base it does not rest on
    registry = FakeRegistry()
    _every_shard(root, registry)
    base_content = _content_ref(registry, "base")
    registry.push(base_content, "another build of base")
    with pytest.raises(EngineError, match=r"not published: node mid on linux/amd64: layer 1 is") as refused:
        api.publish(_options(root, runner="publish"), registry)
    assert "node side on" in str(refused.value) and "node leaf" not in str(refused.value)  # leaf rests on mid
    assert registry.tags({human_ref(name) for name in NODES}) == {}


def test_publish_refuses_to_move_a_parent_away_from_the_children_published_on_it(root: Path) -> None:
    # every tag published; then base's content tag moves (a --full job of base alone, its children's jobs
    # failed): moving base:1 would leave mid:2 and side:4 on layers base:1 no longer has
    registry = FakeRegistry()
    _every_shard(root, registry)
    api.publish(_options(root, runner="publish"), registry)
    published = registry.tags({human_ref(name) for name in NODES})
    base_content = _content_ref(registry, "base")
    registry.push(base_content, "another build of base")
    with pytest.raises(EngineError, match="not published: node mid on linux/amd64") as refused:
        api.publish(_options(root, runner="publish"), registry)
    assert "node side on" in str(refused.value)
    assert registry.tags({human_ref(name) for name in NODES}) == published
