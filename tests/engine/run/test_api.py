"""api: plan and build with a fake builder and an in-memory registry: no Docker, no network.

The build tests use a tiny stack of FROM scratch Dockerfiles (engine_fakes.write_stack):
base → mid → leaf, base → side, and other on its own.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.build.request import cache_flags
from engine.run import api
from engine.run.settings import BuildSettings
from engine.state.folder import StateLocked, run_lock
from engine.state.history import History
from engine.state.lockfile import read_lockfile
from engine.state.report import RunReport
from graph.expand.dag import StackGraph
from tests.engine.engine_fakes import (
    LOCAL,
    NODES,
    PARENTS,
    REGISTRY,
    STACK,
    TESTS,
    FakeBuilder,
    FakeRegistry,
    commit_all,
    expected_platform_durations,
    git,
    human_ref,
    human_tags,
    is_content_ref,
    record_file_reads,
    sha,
    trust_fresh_files,
    write_stack,
)
from tests.engine.run.builds import options_of, run_build

ROOT = Path(__file__).resolve().parents[3]
DEMO = (Path("stacks/demo"),)
MIRROR = "mirror.example:5000/ci"
CANDIDATE_REF = re.compile(r"^(?P<repository>.+):sb-(?P<fingerprint>[0-9a-f]{64})-candidate$")
ALL = set(NODES)


@pytest.fixture(scope="module")
def demo() -> StackGraph:
    return api.load(api.Options(root=ROOT, targets=DEMO))


@pytest.fixture
def registry() -> FakeRegistry:
    return FakeRegistry()


def requests_during(registry: FakeRegistry, builder: FakeBuilder, root: Path,
                    **settings: object) -> tuple[RunReport, dict[str, int]]:
    """Build once; return the report and the registry requests this build made."""
    before = Counter(registry.requests)
    report = run_build(root, builder, registry, **settings)
    return report, dict(registry.requests - before)


def read_report(report: RunReport) -> dict[str, object]:
    data: dict[str, object] = json.loads((Path(report.folder) / "report.json").read_text(encoding="utf-8"))
    return data


def actions(report: RunReport) -> dict[str, tuple[str, str]]:
    return {name: (node.action, node.reason) for name, node in report.nodes.items()}


def built(root: Path, registry: FakeRegistry) -> tuple[FakeBuilder, RunReport]:
    """A first, successful build of the tiny stack."""
    builder = FakeBuilder(registry)
    report = run_build(root, builder, registry)
    assert report.status == "succeeded"
    return builder, report


# --- plan ---------------------------------------------------------------------------------------


def test_plan_is_in_topological_order(demo: StackGraph) -> None:
    entries = api.plan(api.Options(root=ROOT, targets=DEMO))
    names = [entry.node for entry in entries]
    assert sorted(names) == sorted(demo.nodes)
    assert len(names) == len(set(names))
    position = {name: index for index, name in enumerate(names)}
    for entry in entries:
        assert entry.parent == demo.nodes[entry.node].parent
        if entry.parent:
            assert position[entry.parent] < position[entry.node]
        for parent in demo.graph.predecessors(entry.node):
            assert position[parent] < position[entry.node]


def test_plan_without_registry_describes_every_node_as_not_checked(demo: StackGraph) -> None:
    entries = api.plan(api.Options(root=ROOT, targets=DEMO))
    assert sorted(entry.node for entry in entries) == sorted(demo.nodes)
    for entry in entries:
        node = demo.nodes[entry.node]
        assert (entry.stack, entry.kind, entry.ref, entry.platforms) == (
            node.stack, node.kind, node.ref, node.platforms)
        assert (entry.action, entry.reason, entry.fingerprint, entry.digest) == (
            "build", "not_checked", "", "")
        assert entry.platforms


def test_plan_without_registry_full_is_forced(root: Path) -> None:
    entries = api.plan(options_of(root), full=True)
    assert [(e.node, e.action, e.reason) for e in entries] == [(n, "build", "forced") for n in NODES]


def test_plan_registry_override_changes_every_ref(demo: StackGraph) -> None:
    plain = api.plan(api.Options(root=ROOT, targets=DEMO))
    moved = api.plan(api.Options(root=ROOT, targets=DEMO, registry=MIRROR))
    assert [e.node for e in moved] == [e.node for e in plain] == list(demo.order)
    for entry in moved:
        node = demo.nodes[entry.node]
        assert entry.ref == f"{MIRROR}/{node.image}:{node.tag}"
        assert not entry.ref.startswith(node.registry + "/")
    assert {e.ref for e in moved}.isdisjoint({e.ref for e in plain})


def test_load_without_override_keeps_the_stack_registry(demo: StackGraph) -> None:
    assert all(node.registry != MIRROR for node in demo.nodes.values())
    moved = api.load(api.Options(root=ROOT, targets=DEMO, registry=MIRROR))
    assert all(node.registry == MIRROR for node in moved.nodes.values())
    assert moved.order == demo.order


def test_state_is_below_root_unless_absolute(tmp_path: Path) -> None:
    assert api.Options(root=tmp_path).state == tmp_path / ".state"
    assert api.Options(root=tmp_path, state_dir=Path("s/t")).state == tmp_path / "s" / "t"
    assert api.Options(root=tmp_path, state_dir=Path("/abs/s")).state == Path("/abs/s")


def test_plan_with_an_empty_registry_builds_everything_and_writes_no_state(
        root: Path, registry: FakeRegistry) -> None:
    entries = api.plan(options_of(root), registry)
    assert [(e.node, e.action, e.reason, e.digest) for e in entries] == [
        (name, "build", "not_in_registry", "") for name in NODES]
    assert all(re.fullmatch(r"[0-9a-f]{64}", e.fingerprint) for e in entries)
    assert len({e.fingerprint for e in entries}) == len(NODES)
    assert dict(registry.requests) == {"HEAD": 2 * len(NODES)}  # human tag and content tag each
    assert not (root.parent / "state").exists()


def test_plan_after_a_build_skips_everything_with_one_head_per_node(root: Path,
                                                                     registry: FakeRegistry) -> None:
    builder, report = built(root, registry)
    before = Counter(registry.requests)
    entries = api.plan(options_of(root), registry)
    assert [(e.node, e.action, e.reason, e.digest) for e in entries] == [
        (name, "skip", "up_to_date", builder.digests[name]) for name in NODES]
    assert [e.fingerprint for e in entries] == [report.nodes[name].fingerprint for name in NODES]
    assert dict(registry.requests - before) == {"HEAD": len(NODES)}


def test_plan_full_with_a_registry_asks_it_nothing(root: Path, registry: FakeRegistry) -> None:
    entries = api.plan(options_of(root), registry, full=True)
    assert {(e.action, e.reason) for e in entries} == {("build", "forced")}
    assert sum(registry.requests.values()) == 0


# --- build: the first run -----------------------------------------------------------------------


@pytest.mark.parametrize("jobs", [1, 3])
def test_first_build_builds_every_node_under_its_content_tag(root: Path, registry: FakeRegistry,
                                                             jobs: int) -> None:
    builder = FakeBuilder(registry)
    report, asked = requests_during(registry, builder, root, jobs=jobs)
    assert report.status == "succeeded"
    assert report.mode == "incremental"
    assert actions(report) == dict.fromkeys(NODES, ("build", "not_in_registry"))
    assert sorted(builder.order) == sorted(NODES)
    assert report.buildx_invocations == len(NODES)
    position = {name: index for index, name in enumerate(builder.order)}
    for name in NODES:
        node = report.nodes[name]
        (tag,) = builder.requests[name].tags
        match = CANDIDATE_REF.match(tag)  # pushed under its candidate tag, content tag once tested
        assert match is not None, tag
        assert match["repository"] == f"{REGISTRY}/{name}"
        assert match["fingerprint"] == node.fingerprint
        assert registry.digest(f"{REGISTRY}/{name}:sb-{node.fingerprint}") == builder.digests[name]
        assert dict(builder.requests[name].labels)["org.stackbuild.fingerprint"] == node.fingerprint
        assert (node.status, node.digest, node.error, node.duration_s) == (
            "succeeded", builder.digests[name], "", 0.12)
        assert node.ref == human_ref(name)
        assert node.platform_durations == expected_platform_durations(("linux/amd64", "linux/arm64"))
        assert node.platform_digests == registry.platforms(human_ref(name))
        parent = PARENTS[name]
        if parent:
            assert position[parent] < position[name]
    assert Path(report.folder).parent == root.parent / "state" / "runs"
    # per node: HEAD human tag + HEAD content tag to plan; GET + PUT of its content tag once tested;
    # GET index for the lockfile; HEAD (where the tag pointed, for a rollback) + GET + PUT to promote;
    # the layer check reads index + 2 platform manifests of mid, side, leaf and their parent base once
    assert asked == {"HEAD": 3 * len(NODES), "GET": 3 * len(NODES) + 4 * 3, "PUT": 2 * len(NODES)}
    assert report.registry_requests == asked


def test_first_build_moves_human_tags_only_after_every_node_succeeded(root: Path,
                                                                      registry: FakeRegistry) -> None:
    builder, report = built(root, registry)
    assert builder.tagged_before_build == []
    human = [(at, ref) for at, (kind, ref) in enumerate(registry.events)
             if kind == "tag" and not is_content_ref(ref)]
    pushes = [at for at, (kind, _) in enumerate(registry.events) if kind == "push"]
    assert len(pushes) == len(NODES) and min(at for at, _ in human) > max(pushes)
    assert [ref for _, ref in human] == [human_ref(n) for n in NODES]
    assert human_tags(registry) == {human_ref(name): builder.digests[name] for name in NODES}
    assert report.promoted == [human_ref(name) for name in NODES]


def test_first_build_writes_the_run_lockfile_and_the_latest_one(root: Path,
                                                                registry: FakeRegistry) -> None:
    builder, report = built(root, registry)
    lockfile = Path(report.folder) / "lock.json"
    latest = root.parent / "state" / "latest.lock.json"
    assert report.lockfile == str(lockfile)
    assert lockfile.read_text(encoding="utf-8") == latest.read_text(encoding="utf-8")
    data = json.loads(lockfile.read_text(encoding="utf-8"))
    assert (data["version"], data["run"]) == (1, report.run_id)
    entries = read_lockfile(lockfile)
    assert [entry.node for entry in entries] == sorted(NODES)
    for entry in entries:
        assert entry.ref == human_ref(entry.node)
        assert entry.digest == builder.digests[entry.node]
        assert entry.fingerprint == report.nodes[entry.node].fingerprint
        assert entry.platforms == registry.platforms(human_ref(entry.node))
        assert set(entry.platforms) == {"linux/amd64", "linux/arm64"}


def test_first_build_records_the_run_in_history(root: Path, registry: FakeRegistry) -> None:
    builder, report = built(root, registry)
    with History(root.parent / "state" / "history.db") as history:
        (run,) = history.runs()
        assert (run.run_id, run.status, run.mode, run.nodes, run.built, run.failed) == (
            report.run_id, "succeeded", "incremental", len(NODES), len(NODES), 0)
        assert run.finished == report.finished
        records = {record.node: record for record in history.nodes_of(report.run_id)}
        assert set(records) == ALL
        for name, record in records.items():
            assert (record.action, record.reason, record.status, record.digest, record.fingerprint) == (
                "build", "not_in_registry", "succeeded", builder.digests[name],
                report.nodes[name].fingerprint)
            assert record.platform_digests == registry.platforms(human_ref(name))
            assert record.duration_s == 0.12
            assert record.inputs["file:Dockerfile"].startswith("644:sha256:")
            assert history.digest_for(name, record.fingerprint) == builder.digests[name]


def test_child_requests_carry_the_parent_digest(root: Path, registry: FakeRegistry) -> None:
    builder, _ = built(root, registry)
    for name in NODES:
        request = builder.requests[name]
        parent = PARENTS[name]
        if parent is None:
            assert request.build_contexts == ()
            assert "org.opencontainers.image.base.digest" not in dict(request.labels)
            continue
        assert request.build_contexts == (
            ("parent", f"docker-image://{REGISTRY}/{parent}@{builder.digests[parent]}"),)
        labels = dict(request.labels)
        assert labels["org.opencontainers.image.base.digest"] == builder.digests[parent]
        assert labels["org.opencontainers.image.base.name"] == human_ref(parent)


def test_registry_override_pushes_and_promotes_below_it(root: Path, registry: FakeRegistry) -> None:
    builder = FakeBuilder(registry)
    report = api.build(options_of(root, registry=MIRROR), builder, registry=registry)
    assert report.status == "succeeded"
    for name in NODES:
        (tag,) = builder.requests[name].tags
        assert tag.startswith(f"{MIRROR}/{name}:sb-")
        parent = PARENTS[name]
        if parent:
            assert dict(builder.requests[name].build_contexts)["parent"] == (
                f"docker-image://{MIRROR}/{parent}@{builder.digests[parent]}")
    assert report.promoted == [human_ref(name, MIRROR) for name in NODES]
    assert human_tags(registry) == {}


def test_a_local_registry_is_built_straight_and_published_as_itself(tmp_path: Path) -> None:
    """The retry proxy is there for repeats after a registry fault (test_runner); a first build talks to
    the registry itself, so its attestations name the registry and need no renaming."""
    root = tmp_path / "local"
    write_stack(root, registry=LOCAL)
    registry = FakeRegistry()
    builder = FakeBuilder(registry, proxied="localhost:5000")
    report = api.build(api.Options(root=root, targets=STACK, state_dir=tmp_path / "state"), builder,
                       registry=registry)
    assert report.status == "succeeded", {n.node: n.error for n in report.nodes.values() if n.error}
    graph = api.load(api.Options(root=root, targets=STACK))
    for name in NODES:
        request = builder.requests[name]
        assert request.tags == (f"{LOCAL}/{name}:sb-{report.nodes[name].fingerprint}-candidate",)
        assert (request.cache_from, request.cache_to) == cache_flags(graph.nodes[name], "registry")
        parent = PARENTS[name]
        if parent:
            assert request.build_contexts == (
                ("parent", f"docker-image://{LOCAL}/{parent}@{builder.digests[parent]}"),)
            assert dict(request.labels)["org.opencontainers.image.base.name"] == human_ref(parent, LOCAL)
    assert report.promoted == [human_ref(name, LOCAL) for name in NODES]
    assert registry.tags({human_ref(name, LOCAL) for name in NODES}) == {
        human_ref(name, LOCAL): builder.digests[name] for name in NODES}
    assert [entry.ref for entry in read_lockfile(Path(report.lockfile))] == [
        human_ref(name, LOCAL) for name in sorted(NODES)]


def test_smoke_tests_run_on_every_platform_of_the_pushed_digest(root: Path,
                                                                registry: FakeRegistry) -> None:
    builder, report = built(root, registry)
    expected = [(name, f"{REGISTRY}/{name}@{builder.digests[name]}", platform, TESTS[name])
                for name in TESTS for platform in ("linux/amd64", "linux/arm64")]
    assert sorted(builder.tests) == sorted(expected)
    for name in NODES:
        assert report.nodes[name].tests == (
            {"linux/amd64": "passed", "linux/arm64": "passed"} if name in TESTS else {})


def test_no_test_setting_runs_no_smoke_test(root: Path, registry: FakeRegistry) -> None:
    builder = FakeBuilder(registry)
    report = run_build(root, builder, registry, test=False)
    assert report.status == "succeeded"
    assert builder.tests == []
    assert all(node.tests == {} for node in report.nodes.values())


def test_build_writes_report_json(root: Path, registry: FakeRegistry) -> None:
    builder, report = built(root, registry)
    data = read_report(report)
    assert (data["status"], data["run_id"], data["mode"], data["buildx_invocations"]) == (
        "succeeded", report.run_id, "incremental", len(NODES))
    assert data["finished"]
    assert data["promoted"] == [human_ref(name) for name in NODES]
    assert data["lockfile"] == str(Path(report.folder) / "lock.json")
    assert data["registry_requests"] == {"HEAD": 15, "GET": 27, "PUT": 10}
    nodes = data["nodes"]
    assert isinstance(nodes, dict)
    assert list(nodes) == list(NODES)
    for name in NODES:
        entry = nodes[name]
        assert entry["status"] == "succeeded"
        assert entry["digest"] == builder.digests[name]
        assert entry["ref"] == human_ref(name)
        assert entry["fingerprint"] == report.nodes[name].fingerprint
        assert entry["platform_digests"] == registry.platforms(human_ref(name))
        assert entry["log"] == str(Path(report.folder) / "logs" / f"{name}.log")
        assert Path(entry["log"]) == builder.log_paths[name]
        assert Path(entry["log"]).read_text(encoding="utf-8").startswith("#0 building with")


def test_relative_state_dir_is_below_root(root: Path, registry: FakeRegistry) -> None:
    builder = FakeBuilder(registry)
    report = api.build(api.Options(root=root, targets=STACK), builder, registry=registry)
    assert Path(report.folder).parent == root / ".state" / "runs"
    assert (root / ".state" / "history.db").is_file()
    assert (root / ".state" / "latest.lock.json").is_file()
    assert report.status == "succeeded"


def test_build_refuses_while_another_run_holds_the_state(root: Path, registry: FakeRegistry) -> None:
    builder = FakeBuilder(registry)
    with run_lock(root.parent / "state"), pytest.raises(StateLocked, match=r"another stackbuild run"):
        run_build(root, builder, registry)
    assert builder.order == []
    assert sum(registry.requests.values()) == 0


# --- build: the second run ----------------------------------------------------------------------


def test_second_build_of_an_unchanged_stack_builds_nothing_with_one_head_per_node(
        root: Path, registry: FakeRegistry) -> None:
    builder, first = built(root, registry)
    tags = human_tags(registry)
    second, asked = requests_during(registry, builder, root)
    assert second.status == "succeeded"
    assert actions(second) == dict.fromkeys(NODES, ("skip", "up_to_date"))
    assert second.buildx_invocations == 0
    assert len(builder.order) == len(NODES)  # nothing more was built
    assert asked == {"HEAD": len(NODES)}
    assert second.promoted == []
    assert human_tags(registry) == tags
    assert {name: node.digest for name, node in second.nodes.items()} == builder.digests
    assert {name: node.status for name, node in second.nodes.items()} == dict.fromkeys(NODES, "succeeded")
    assert read_lockfile(Path(second.lockfile)) == read_lockfile(Path(first.lockfile))
    with History(root.parent / "state" / "history.db") as history:
        assert [(run.run_id, run.built) for run in history.runs()] == [
            (second.run_id, 0), (first.run_id, len(NODES))]


def test_report_counts_only_the_registry_requests_of_its_run(root: Path, registry: FakeRegistry) -> None:
    builder, _ = built(root, registry)
    second, asked = requests_during(registry, builder, root)
    assert second.registry_requests == asked == {"HEAD": len(NODES)}


def test_a_deleted_human_tag_is_retagged_without_a_build(root: Path, registry: FakeRegistry) -> None:
    builder, _ = built(root, registry)
    del registry.refs[human_ref("side")]
    report, asked = requests_during(registry, builder, root)
    assert actions(report) == {**dict.fromkeys(NODES, ("skip", "up_to_date")),
                               "side": ("retag", "tag_missing")}
    assert len(builder.order) == len(NODES)
    assert report.buildx_invocations == 0
    assert report.promoted == [human_ref("side")]
    assert registry.refs[human_ref("side")] == builder.digests["side"]
    assert report.nodes["side"].digest == builder.digests["side"]
    # side: HEAD human tag (absent), HEAD content tag; then HEAD (still absent) + GET + PUT to tag it;
    # the layer check: index + 2 platform manifests of side and of its parent base
    assert asked == {"HEAD": len(NODES) + 2, "GET": 1 + 2 * 3, "PUT": 1}


def test_a_human_tag_moved_elsewhere_is_retagged_without_a_build(root: Path,
                                                                  registry: FakeRegistry) -> None:
    builder, _ = built(root, registry)
    other = registry.push(f"{REGISTRY}/leaf:sb-other", "another leaf")  # another build of ours:
    registry.labels[other] = {"org.stackbuild.stack": "t"}  # a foreign one is refused (test_ownership)
    registry.tag(f"{REGISTRY}/leaf@{other}", human_ref("leaf"))
    report = run_build(root, builder, registry)
    assert actions(report)["leaf"] == ("retag", "tag_elsewhere")
    assert report.buildx_invocations == 0
    assert registry.refs[human_ref("leaf")] == builder.digests["leaf"]


def test_a_changed_build_arg_rebuilds_that_node_and_its_descendants(root: Path,
                                                                    registry: FakeRegistry) -> None:
    builder, first = built(root, registry)
    write_stack(root, arg="2")
    report, asked = requests_during(registry, builder, root)
    assert actions(report) == {"base": ("skip", "up_to_date"), "other": ("skip", "up_to_date"),
                               "side": ("skip", "up_to_date"), "mid": ("build", "args_changed"),
                               "leaf": ("build", "parent_rebuilt: mid")}
    assert builder.order[len(NODES):] == ["mid", "leaf"]
    assert report.buildx_invocations == 2
    assert builder.requests["mid"].build_args == (("V", "2"),)
    assert dict(builder.requests["mid"].build_contexts)["parent"] == (
        f"docker-image://{REGISTRY}/base@{first.nodes['base'].digest}")
    assert dict(builder.requests["leaf"].build_contexts)["parent"] == (
        f"docker-image://{REGISTRY}/mid@{builder.digests['mid']}")
    assert report.nodes["mid"].fingerprint != first.nodes["mid"].fingerprint
    assert report.nodes["leaf"].fingerprint != first.nodes["leaf"].fingerprint
    assert report.promoted == [human_ref("mid"), human_ref("leaf")]
    assert human_tags(registry) == {human_ref(name): builder.digests[name] for name in NODES}
    assert builder.digests["mid"] != first.nodes["mid"].digest
    # 3 vouched skips: 1 HEAD each; 2 builds: 2 HEADs each, GET + PUT of the content tag, GET for the
    # lockfile, HEAD + GET + PUT to promote; the layer check: index + 2 platform manifests of mid, leaf, base
    assert asked == {"HEAD": 3 + 2 * 2 + 2, "GET": 3 * 2 + 3 * 3, "PUT": 2 * 2}


@pytest.mark.parametrize(("edit", "reason"), [
    ("dockerfile", "dockerfile_changed"),
    ("context", "context_changed: notes.txt"),
])
def test_a_changed_file_names_what_changed(root: Path, registry: FakeRegistry, edit: str,
                                           reason: str) -> None:
    builder, _ = built(root, registry)
    folder = root / "stacks" / "t" / "mid"
    if edit == "dockerfile":
        (folder / "Dockerfile").write_text("FROM scratch\nLABEL node=mid edited=1\n", encoding="utf-8")
    else:
        (folder / "notes.txt").write_text("new\n", encoding="utf-8")
    report = run_build(root, builder, registry)
    assert {name: entry for name, entry in actions(report).items() if entry[0] == "build"} == {
        "mid": ("build", reason), "leaf": ("build", "parent_rebuilt: mid")}


def test_reverting_a_change_reuses_the_old_image_and_only_retags(root: Path,
                                                                  registry: FakeRegistry) -> None:
    builder, first = built(root, registry)
    write_stack(root, arg="2")
    run_build(root, builder, registry)
    write_stack(root, arg="1")
    report = run_build(root, builder, registry)
    assert actions(report) == {**dict.fromkeys(NODES, ("skip", "up_to_date")),
                               "mid": ("retag", "tag_elsewhere"), "leaf": ("retag", "tag_elsewhere")}
    assert report.buildx_invocations == 0
    assert human_tags(registry)[human_ref("mid")] == first.nodes["mid"].digest
    assert human_tags(registry)[human_ref("leaf")] == first.nodes["leaf"].digest


def test_pr_mode_builds_only_what_the_change_touched(root: Path, registry: FakeRegistry) -> None:
    builder, first = built(root, registry)
    commit_all(root, "built")
    (root / "stacks" / "t" / "mid" / "Dockerfile").write_text("FROM scratch\n# edited\n", encoding="utf-8")
    report = run_build(root, builder, registry, changed_since="HEAD")
    assert report.mode == "pr"
    assert actions(report) == {**dict.fromkeys(("base", "other", "side"), ("skip", "unchanged_since_ref")),
                               "mid": ("build", "dockerfile_changed"),
                               "leaf": ("build", "parent_rebuilt: mid")}
    assert builder.order[len(NODES):] == ["mid", "leaf"]
    assert dict(builder.requests["mid"].build_contexts)["parent"] == (
        f"docker-image://{REGISTRY}/base@{first.nodes['base'].digest}")  # looked up: PR mode skips base
    assert report.promoted == [human_ref("mid"), human_ref("leaf")]


def test_a_second_run_reads_no_context_file_the_first_one_hashed(root: Path, registry: FakeRegistry,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    trust_fresh_files(monkeypatch)
    built(root, registry)
    reads = record_file_reads(monkeypatch)
    report = run_build(root, FakeBuilder(registry), registry)
    assert report.status == "succeeded" and report.buildx_invocations == 0
    assert reads == []
    changed = root / "stacks" / "t" / "mid" / "Dockerfile"
    changed.write_text(changed.read_text(encoding="utf-8") + "LABEL changed=1\n", encoding="utf-8")
    again = run_build(root, FakeBuilder(registry), registry)
    assert {name for name, (action, _) in actions(again).items() if action == "build"} == {"mid", "leaf"}
    assert reads == [str(changed)]


# --- build: full --------------------------------------------------------------------------------


def test_full_rebuilds_every_node_without_cache_import_and_with_pull(root: Path,
                                                                     registry: FakeRegistry) -> None:
    builder, first = built(root, registry)
    cache = {name: f"type=registry,ref={REGISTRY}/{name}:sbcache-{sha(name)[7:23]}" for name in NODES}
    first_tags = {}
    for name in NODES:  # an incremental build imports the registry cache
        request = builder.requests[name]
        assert (request.cache_from, request.no_cache, request.pull) == (cache[name], False, False)
        first_tags[name] = request.tags
    report, asked = requests_during(registry, builder, root, full=True)
    assert report.mode == "full"
    assert actions(report) == dict.fromkeys(NODES, ("build", "forced"))
    assert builder.order[len(NODES):] and sorted(builder.order[len(NODES):]) == sorted(NODES)
    for name in NODES:
        request = builder.requests[name]
        assert (request.cache_from, request.no_cache, request.pull) == ("", True, True)
        assert request.cache_to == f"{cache[name]},mode=max,ignore-error=true"
        assert request.tags == first_tags[name]  # the same inputs: pushed under the same candidate tag
        assert report.nodes[name].digest == builder.digests[name] != first.nodes[name].digest
    assert human_tags(registry) == {human_ref(name): builder.digests[name] for name in NODES}
    assert report.promoted == [human_ref(name) for name in NODES]
    # nothing observed: HEADs for promotion only; GET + PUT of each content tag; the layer check reads 3
    # manifests of mid, side, leaf, base
    assert asked == {"HEAD": len(NODES), "GET": 3 * len(NODES) + 4 * 3, "PUT": 2 * len(NODES)}


def test_cache_none_and_local(root: Path, registry: FakeRegistry, tmp_path: Path) -> None:
    builder = FakeBuilder(registry)
    run_build(root, builder, registry, cache="none")
    assert {(r.cache_from, r.cache_to) for r in builder.requests.values()} == {("", "")}
    write_stack(root, arg="2")
    run_build(root, builder, registry, cache="local", cache_dir=tmp_path / "cache")
    request = builder.requests["mid"]
    key = sha("mid")[7:23]
    assert (request.cache_from, request.cache_to) == (
        f"type=local,src={tmp_path / 'cache' / key}",
        f"type=local,dest={tmp_path / 'cache' / key},mode=max,ignore-error=true")


# --- build: failures ----------------------------------------------------------------------------


@pytest.mark.parametrize("jobs", [1, 3])
def test_a_failing_node_skips_its_subtree_and_moves_no_tag(root: Path, registry: FakeRegistry,
                                                           jobs: int) -> None:
    builder = FakeBuilder(registry, fail=["mid"])
    report, asked = requests_during(registry, builder, root, jobs=jobs, keep_going=True)
    assert report.status == "failed"
    assert report.nodes["mid"].status == "failed"
    assert "node mid: build failed with exit code 1" in report.nodes["mid"].error
    assert report.nodes["mid"].digest == ""
    assert report.nodes["leaf"].status == "skipped"
    assert report.nodes["leaf"].error == "parent failed: mid"
    assert "leaf" not in builder.requests
    for name in ("base", "other", "side"):
        assert report.nodes[name].status == "succeeded"
        assert report.nodes[name].digest == builder.digests[name]
    assert report.count("succeeded") == 3
    # no human tag moved at all: promotion needs every node to succeed
    assert human_tags(registry) == {}
    # each node that succeeded gets its content tag after its push (the jobs may interleave them)
    assert sorted(kind for kind, _ in registry.events) == ["push"] * 3 + ["tag"] * 3
    assert all(is_content_ref(ref) for kind, ref in registry.events if kind == "tag")
    # side is checked against base as soon as it is pushed: index + 2 platform manifests of each; GET + PUT
    # of each content tag
    assert asked == {"HEAD": 2 * len(NODES), "GET": 2 * 3 + 3, "PUT": 3}
    assert report.promoted == []
    assert report.lockfile == ""
    assert not (Path(report.folder) / "lock.json").exists()
    assert not (root.parent / "state" / "latest.lock.json").exists()
    data = read_report(report)
    assert data["status"] == "failed"
    nodes = data["nodes"]
    assert isinstance(nodes, dict)
    assert {name: entry["status"] for name, entry in nodes.items()} == {
        name: report.nodes[name].status for name in NODES}
    with History(root.parent / "state" / "history.db") as history:
        (run,) = history.runs()
        assert (run.status, run.built, run.failed) == ("failed", 3, 1)


def test_a_failure_after_a_good_build_leaves_every_published_tag_alone(root: Path,
                                                                        registry: FakeRegistry) -> None:
    builder, first = built(root, registry)
    tags = human_tags(registry)
    latest = (root.parent / "state" / "latest.lock.json").read_text(encoding="utf-8")
    write_stack(root, arg="2")
    (root / "stacks" / "t" / "other" / "Dockerfile").write_text("FROM scratch\nLABEL v=2\n", encoding="utf-8")
    builder.fail = {"mid"}
    report, asked = requests_during(registry, builder, root, keep_going=True)
    assert report.status == "failed"
    assert report.nodes["other"].status == "succeeded"  # rebuilt and pushed under its content tag ...
    assert report.nodes["other"].digest != first.nodes["other"].digest
    assert human_tags(registry) == tags  # ... but its human tag was not moved
    assert asked["PUT"] == 1  # other's content tag, no human tag
    assert report.promoted == []
    assert (root.parent / "state" / "latest.lock.json").read_text(encoding="utf-8") == latest


def test_the_run_after_a_failure_retags_what_the_failed_run_built(root: Path,
                                                                   registry: FakeRegistry) -> None:
    failing = FakeBuilder(registry, fail=["mid"])
    failed = run_build(root, failing, registry, keep_going=True)
    assert failed.status == "failed"
    builder = FakeBuilder(registry)
    report = run_build(root, builder, registry)
    assert report.status == "succeeded"
    assert actions(report) == {"base": ("retag", "tag_missing"), "other": ("retag", "tag_missing"),
                               "side": ("retag", "tag_missing"), "mid": ("build", "not_in_registry"),
                               "leaf": ("build", "not_in_registry")}
    assert builder.order == ["mid", "leaf"]
    assert dict(builder.requests["mid"].build_contexts)["parent"] == (
        f"docker-image://{REGISTRY}/base@{failing.digests['base']}")
    assert human_tags(registry) == {human_ref(name): {**failing.digests, **builder.digests}[name]
                                    for name in NODES}


def test_fail_fast_starts_nothing_new(root: Path, registry: FakeRegistry) -> None:
    builder = FakeBuilder(registry, fail=["base"])
    report = run_build(root, builder, registry, jobs=1, keep_going=False)
    assert report.status == "failed"
    assert builder.order == ["base"]  # base comes first: longest remaining path
    statuses = {name: node.status for name, node in report.nodes.items()}
    assert statuses == {"base": "failed", "mid": "skipped", "side": "skipped", "leaf": "skipped",
                        "other": "not_started"}
    assert report.nodes["other"].error == "stopped after base failed"
    assert human_tags(registry) == {}


def test_a_smoke_test_failure_fails_the_node(root: Path, registry: FakeRegistry) -> None:
    builder = FakeBuilder(registry, fail_test=["mid"])
    report = run_build(root, builder, registry, jobs=2, keep_going=True)
    assert report.status == "failed"
    assert report.nodes["mid"].status == "failed"
    assert report.nodes["mid"].tests == {"linux/amd64": "failed"}
    assert report.nodes["mid"].error == (
        "node mid: smoke test ['sh', '-c', 'exit 0'] failed on linux/amd64 "
        "(run the image and fix the test or the image)")
    assert report.nodes["mid"].digest == builder.digests["mid"]  # it was pushed, then failed
    assert report.nodes["leaf"].status == "skipped"
    assert human_tags(registry) == {}


def test_an_unexpected_builder_error_is_reported(root: Path, registry: FakeRegistry) -> None:
    builder = FakeBuilder(registry, fail=["side"], error=RuntimeError)
    report = run_build(root, builder, registry, jobs=2, keep_going=True)
    assert report.status == "failed"
    assert report.nodes["side"].status == "failed"
    assert report.nodes["side"].error == "side exploded"
    assert read_report(report)["status"] == "failed"
    assert human_tags(registry) == {}


def test_labels_and_source_date_epoch_come_from_the_commit_and_a_public_remote(tmp_path: Path) -> None:
    write_stack(tmp_path)
    commit_all(tmp_path, "built")
    git(tmp_path, "remote", "add", "origin", "https://bot:SB_TOKEN_9@git.example/org/r.git")
    epoch = int(git(tmp_path, "log", "-1", "--format=%ct").strip())
    provenance = api.source_provenance(tmp_path, "run time")
    assert (provenance.source, provenance.epoch) == ("https://git.example/org/r.git", epoch)
    assert provenance.created == datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")
    registry = FakeRegistry()
    builder = FakeBuilder(registry)
    api.build(api.Options(root=tmp_path, targets=STACK, state_dir=tmp_path / "state"), builder,
              BuildSettings(jobs=1, test=False), registry)
    request = builder.requests["base"]
    assert ("SOURCE_DATE_EPOCH", str(epoch)) in request.build_args
    assert dict(request.labels)["org.opencontainers.image.created"] == provenance.created
    assert "SB_TOKEN_9" not in repr(builder.requests)
    outside = api.source_provenance(tmp_path / "not-a-repo", "run time")
    assert (outside.source, outside.created, outside.epoch) == ("", "run time", None)


def test_an_image_that_failed_its_smoke_test_is_built_and_tested_again_by_the_next_run(
        root: Path, registry: FakeRegistry) -> None:
    first = run_build(root, FakeBuilder(registry, fail_test=["mid"]), registry, jobs=2, keep_going=True)
    mid = first.nodes["mid"]
    assert registry.digest(f"{REGISTRY}/mid:sb-{mid.fingerprint}-candidate") == mid.digest  # pushed
    assert registry.digest(f"{REGISTRY}/mid:sb-{mid.fingerprint}") is None  # but never given its content tag
    again = FakeBuilder(registry, fail_test=["mid"])
    report = run_build(root, again, registry, jobs=2, keep_going=True)
    assert actions(report)["mid"] == ("build", "not_in_registry")  # not retagged: built and tested again
    assert [test[0] for test in again.tests] == ["mid"]
    assert (report.status, report.nodes["mid"].status) == ("failed", "failed")
    assert human_ref("mid") not in human_tags(registry)
    fixed = FakeBuilder(registry)
    assert run_build(root, fixed, registry).status == "succeeded"
    assert registry.digest(f"{REGISTRY}/mid:sb-{mid.fingerprint}") == human_tags(registry)[human_ref("mid")]
