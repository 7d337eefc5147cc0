"""build --load with the fake builder: planned from the local store, no registry asked, tags set locally."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.build import interrupt
from engine.build.buildx_args import buildx_argv
from engine.cli import main as cli
from engine.errors import EngineError
from engine.run import api
from engine.run.local import NoRegistry, build_local, plan_local
from engine.run.planner import content_ref
from engine.run.settings import BuildSettings
from engine.state.history import History
from engine.state.loaded import LOADED, read_loaded
from engine.state.report import RunReport
from graph.model.secrets import SecretPolicy
from tests.engine.engine_fakes import (
    NODES,
    FakeBuilder,
    FakeRegistry,
    human_ref,
    record_file_reads,
    trust_fresh_files,
    write_stack,
)
from tests.engine.run.builds import options_of
from tests.engine.run.tagging import FakeStore, TaggingTrouble


def load_build(root: Path, images: FakeRegistry, **settings: object) -> tuple[FakeBuilder, RunReport]:
    builder = FakeBuilder(images)
    settings_ = BuildSettings(**settings)  # type: ignore[arg-type]
    return builder, build_local(options_of(root), builder, settings_, FakeStore(images))


def test_load_builds_every_node_into_the_store_and_sets_human_tags_there(root: Path) -> None:
    images = FakeRegistry()
    builder, report = load_build(root, images)
    assert report.status == "succeeded" and report.mode == "local"
    assert report.buildx_invocations == len(NODES)
    graph = api.load(options_of(root))
    for name in NODES:
        request = builder.requests[name]
        assert (request.push, request.load) == (False, True)
        assert request.cache_from == request.cache_to == ""  # the engine's own cache: no registry
        content = f"{graph.nodes[name].repository}:sb-{report.nodes[name].fingerprint}"
        assert request.tags == (f"{content}-candidate",)  # the content tag once tested
        assert images.refs[content] == report.nodes[name].digest
        assert images.refs[human_ref(name)] == report.nodes[name].digest  # tagged locally
    assert sorted(report.promoted) == sorted(human_ref(name) for name in NODES)
    loaded = read_loaded(root.parent / "state")
    assert {name: image.digest for name, image in loaded.items()} == {
        name: report.nodes[name].digest for name in NODES}
    assert (root.parent / "state" / LOADED).is_file()


def test_a_child_is_built_from_its_parents_local_content_tag(root: Path) -> None:
    images = FakeRegistry()
    builder, _ = load_build(root, images)
    mid, base = builder.requests["mid"], builder.requests["base"]
    content = base.tags[0].removesuffix("-candidate")  # base's content tag: built and tested
    assert dict(mid.build_contexts) == {"parent": f"docker-image://{content}"}
    assert "--load" in buildx_argv(mid) and "--push" not in buildx_argv(mid)


def test_smoke_tests_run_the_local_images_by_digest(root: Path) -> None:
    images = FakeRegistry()
    builder, report = load_build(root, images)
    ran = {(node, image, platform) for node, image, platform, _ in builder.tests}
    assert ("mid", f"{human_ref('mid').rsplit(':', 1)[0]}@{report.nodes['mid'].digest}", "linux/arm64") in ran
    assert report.nodes["mid"].tests == {"linux/amd64": "passed", "linux/arm64": "passed"}


def test_a_second_load_builds_nothing(root: Path) -> None:
    images = FakeRegistry()
    load_build(root, images)
    builder, again = load_build(root, images)
    assert again.buildx_invocations == 0 and builder.requests == {}
    assert {name: (node.action, node.reason) for name, node in again.nodes.items()} == dict.fromkeys(
        NODES, ("skip", "up_to_date"))
    assert again.promoted == []


def test_a_second_load_reads_no_context_file_the_first_one_hashed(root: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    trust_fresh_files(monkeypatch)
    images = FakeRegistry()
    load_build(root, images)
    reads = record_file_reads(monkeypatch)
    _, again = load_build(root, images)
    assert again.buildx_invocations == 0 and reads == []


def test_a_change_rebuilds_that_node_and_its_descendants_only(root: Path) -> None:
    images = FakeRegistry()
    load_build(root, images)
    write_stack(root, arg="2")
    builder, changed = load_build(root, images)
    assert sorted(builder.requests) == ["leaf", "mid"]
    assert changed.nodes["mid"].reason == "args_changed"
    assert changed.nodes["leaf"].reason == "parent_rebuilt: mid"
    assert sorted(changed.promoted) == [human_ref("leaf"), human_ref("mid")]


def test_a_load_with_the_secrets_after_a_withheld_one_builds_the_node_declaring_them(root: Path) -> None:
    """The local store's content tags follow the fingerprint too: an image built there without its
    secrets is not the one a run passing them reuses."""
    stack = root / "stacks/t/stack.yaml"
    stack.write_text(stack.read_text(encoding="utf-8").replace(
        'tag: "2",', 'tag: "2", secrets: [{id: pip, env: PIP_TOKEN}],', 1), encoding="utf-8")
    images = FakeRegistry()
    load_build(root, images, secrets=SecretPolicy(withhold=True))
    builder, trusted = load_build(root, images, secrets=SecretPolicy(envs=("PIP_TOKEN",)))
    assert sorted(builder.requests) == ["leaf", "mid"]
    assert trusted.nodes["mid"].reason == "secrets_passed"
    assert trusted.nodes["leaf"].reason == "parent_rebuilt: mid"


def test_an_image_removed_from_the_store_is_built_again(root: Path) -> None:
    images = FakeRegistry()
    load_build(root, images)
    graph = api.load(options_of(root))
    planned = plan_local(graph, root, FakeStore(images), None)
    del images.refs[content_ref(graph.nodes["side"], planned.fingerprints["side"])]
    builder, again = load_build(root, images)
    assert sorted(builder.requests) == ["side"]
    assert again.nodes["side"].reason == "not_in_registry"


def test_a_failed_node_moves_no_local_tag(root: Path) -> None:
    images = FakeRegistry()
    builder = FakeBuilder(images, fail=["leaf"])
    report = build_local(options_of(root), builder, BuildSettings(), FakeStore(images))
    assert report.status == "failed"
    assert [ref for ref in images.refs if ":sb-" not in ref] == []
    assert not (root.parent / "state" / LOADED).exists()


def on_local_base(root: Path) -> None:
    """The tiny stack's base becomes an external image, local/base:1."""
    stack = root / "stacks" / "t" / "stack.yaml"
    text = stack.read_text(encoding="utf-8")
    local = text.replace('base: {kind: os, tag: "1", test: "true"}', 'base: {kind: os, from: "local/base:1"}')
    stack.write_text(local, encoding="utf-8")


def test_an_external_base_missing_from_the_store_is_a_clear_error(root: Path) -> None:
    on_local_base(root)
    with pytest.raises(EngineError, match="base image local/base:1 is not in the local image store"):
        build_local(options_of(root), FakeBuilder(FakeRegistry()), BuildSettings(), FakeStore(FakeRegistry()))


def test_an_external_base_is_pinned_by_a_local_tag_naming_its_id(root: Path) -> None:
    on_local_base(root)
    images = FakeRegistry()
    base_id = images.push("local/base:1", "a local base")
    builder, report = load_build(root, images)
    assert report.status == "succeeded", {n: r.error for n, r in report.nodes.items() if r.error}
    pinned = f"local/base:sb-{base_id.removeprefix('sha256:')}"
    assert images.refs[pinned] == base_id
    assert dict(builder.requests["mid"].build_contexts) == {"parent": f"docker-image://{pinned}"}


def test_the_registry_of_a_load_run_refuses_every_question() -> None:
    registry = NoRegistry()
    for ask in (lambda: registry.digest("r/x:1"), lambda: registry.manifest("r/x:1"),
                lambda: registry.tag("r/x@sha256:1", "r/x:1")):
        with pytest.raises(EngineError, match="--load uses no registry"):
            ask()


def test_the_cli_refuses_load_with_changed_since(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["build", "--load", "--changed-since", "main", "--log-format", "json"]) == 2
    assert "--load cannot be combined with --changed-since" in capsys.readouterr().err


def test_ctrl_c_while_local_tags_are_set_lets_them_all_be_set_and_recorded(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(interrupt, "descendant_pids", lambda _pid: [])  # no process of pytest is stopped
    images = FakeRegistry()
    try:
        report = build_local(options_of(root), FakeBuilder(images), BuildSettings(),
                             TaggingTrouble(images, interrupted_at="mid"))
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C while the local tags were set escaped the run: neither loaded.json nor the run")
    assert (report.status, report.signal) == ("succeeded", "SIGINT")  # what happened, and what arrived
    assert {human_ref(name): images.refs[human_ref(name)] for name in NODES} == {
        human_ref(name): report.nodes[name].digest for name in NODES}
    assert set(read_loaded(root.parent / "state")) == set(NODES)


def test_a_local_tag_that_cannot_be_set_moves_the_others_back_and_the_run_is_recorded(root: Path) -> None:
    images = FakeRegistry()
    _, first = load_build(root, images)
    write_stack(root, arg="2")  # mid and leaf are built again: mid's tag moves, leaf's cannot
    refusing = TaggingTrouble(images, refused="leaf")
    with pytest.raises(EngineError, match=r"cannot tag .* locally"):
        build_local(options_of(root), FakeBuilder(images), BuildSettings(), refusing)
    assert {name: images.refs[human_ref(name)] for name in NODES} == {
        name: first.nodes[name].digest for name in NODES}
    with History(root.parent / "state" / "history.db") as history:
        (run, _) = history.runs()
        assert (run.status, run.built) == ("failed", 2) and run.finished


def test_a_local_tag_that_did_not_exist_before_is_removed_when_another_cannot_be_set(root: Path) -> None:
    images = FakeRegistry()
    refusing = TaggingTrouble(images, refused="leaf")  # base and mid get new tags, leaf cannot
    with pytest.raises(EngineError, match=r"cannot tag .* locally"):
        build_local(options_of(root), FakeBuilder(images), BuildSettings(jobs=1), refusing)
    assert [name for name in NODES if human_ref(name) in images.refs] == []
