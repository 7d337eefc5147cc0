"""api: plan and build the demo stack with a fake builder: no Docker, no registry."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from engine import api
from engine.builder import BuildResult
from engine.buildx_args import BuildRequest
from engine.errors import BuildError, SmokeTestError
from engine.registry import Manifest
from engine.report import RunReport
from graph.dag import StackGraph

ROOT = Path(__file__).resolve().parents[2]
DEMO = (Path("stacks/demo"),)
MIRROR = "mirror.example:5000/ci"


def fake_digest(node: str) -> str:
    return "sha256:" + hashlib.sha256(node.encode()).hexdigest()


class FakeBuilder:
    """Records every call; "pushes" a digest derived from the node name."""

    def __init__(self, fail: Sequence[str] = (), fail_test: Sequence[str] = (),
                 error: type[Exception] = BuildError) -> None:
        self.fail, self.fail_test, self.error = set(fail), set(fail_test), error
        self.lock = threading.Lock()
        self.requests: dict[str, BuildRequest] = {}
        self.log_paths: dict[str, Path] = {}
        self.order: list[str] = []
        self.tests: list[tuple[str, str, str, tuple[str, ...]]] = []

    def build(self, request: BuildRequest, log_path: Path) -> BuildResult:
        with self.lock:
            self.requests[request.node] = request
            self.log_paths[request.node] = log_path
            self.order.append(request.node)
        if request.node in self.fail:
            if self.error is BuildError:
                raise BuildError(request.node, ["docker", "buildx", "build"], 1, "step 3 failed",
                                 str(log_path))
            raise self.error(f"{request.node} exploded")
        return BuildResult(request.node, fake_digest(request.node), 0.123, str(log_path))

    def smoke_test(self, node: str, image: str, platform: str, command: Sequence[str]) -> str:
        with self.lock:
            self.tests.append((node, image, platform, tuple(command)))
        if node in self.fail_test:
            raise SmokeTestError(node, platform, command, "exit 1")
        return f"ok {platform}\n"


class NoRegistry:
    """Every parent is built in the run: the registry must never be asked."""

    def manifest(self, reference: str) -> Manifest | None:
        raise AssertionError(f"registry asked for {reference}")


@pytest.fixture(scope="module")
def demo() -> StackGraph:
    return api.load(api.Options(root=ROOT, targets=DEMO))


def run_build(tmp_path: Path, builder: FakeBuilder, **kwargs: object) -> RunReport:
    options = api.Options(root=ROOT, targets=DEMO, state_dir=tmp_path)
    return api.build(options, builder, registry=NoRegistry(), **kwargs)  # type: ignore[arg-type]


def read_report(report: RunReport) -> dict[str, object]:
    return json.loads((Path(report.folder) / "report.json").read_text(encoding="utf-8"))


def pick_failing(demo: StackGraph) -> str:
    """A node with a parent, descendants, and some independent nodes."""
    for name in demo.order:
        if demo.nodes[name].parent and demo.descendants(name):
            return name
    raise AssertionError("the demo stack has no mid-tree node")


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


def test_plan_entries_describe_their_nodes(demo: StackGraph) -> None:
    for entry in api.plan(api.Options(root=ROOT, targets=DEMO)):
        node = demo.nodes[entry.node]
        assert (entry.stack, entry.kind, entry.ref, entry.platforms) == (
            node.stack, node.kind, node.ref, node.platforms)
        assert entry.action == "build"
        assert entry.reason == "full"
        assert entry.platforms


def test_plan_registry_override_changes_every_ref(demo: StackGraph) -> None:
    plain = api.plan(api.Options(root=ROOT, targets=DEMO))
    moved = api.plan(api.Options(root=ROOT, targets=DEMO, registry=MIRROR))
    assert [e.node for e in moved] == [e.node for e in plain]
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


def test_run_targets() -> None:
    assert api.run_targets([]) == (Path("stacks"),)
    assert api.run_targets(["stacks/demo", "x/stack.yaml"]) == (
        Path("stacks/demo"), Path("x/stack.yaml"))


# --- build: success -----------------------------------------------------------------------------


@pytest.mark.parametrize("jobs", [1, 3])
def test_build_all_nodes_succeed(tmp_path: Path, demo: StackGraph, jobs: int) -> None:
    builder = FakeBuilder()
    report = run_build(tmp_path, builder, jobs=jobs)
    assert report.status == "succeeded"
    assert set(report.nodes) == set(demo.nodes)
    assert sorted(builder.order) == sorted(demo.nodes)
    position = {name: index for index, name in enumerate(builder.order)}
    for name, node in demo.nodes.items():
        node_report = report.nodes[name]
        assert node_report.status == "succeeded"
        assert node_report.digest == fake_digest(name)
        assert node_report.error == ""
        assert node_report.ref == node.ref
        assert node_report.duration_s == 0.12
        if node.parent:
            assert position[node.parent] < position[name]
    assert Path(report.folder).parent == tmp_path / "runs"


def test_build_child_requests_carry_the_parent_digest(tmp_path: Path, demo: StackGraph) -> None:
    builder = FakeBuilder()
    run_build(tmp_path, builder, jobs=2)
    for name, node in demo.nodes.items():
        request = builder.requests[name]
        assert request.tags == (node.ref,)
        if node.parent is None:
            assert request.build_contexts == ()
            continue
        parent = demo.nodes[node.parent]
        assert request.build_contexts == (
            ("parent", f"docker-image://{parent.repository}@{fake_digest(parent.name)}"),)
        assert dict(request.labels)["org.opencontainers.image.base.digest"] == fake_digest(
            parent.name)


def test_build_with_registry_override_uses_it_for_parents(tmp_path: Path,
                                                          demo: StackGraph) -> None:
    builder = FakeBuilder()
    options = api.Options(root=ROOT, targets=DEMO, state_dir=tmp_path, registry=MIRROR)
    api.build(options, builder, registry=NoRegistry())  # type: ignore[arg-type]
    for name, node in demo.nodes.items():
        request = builder.requests[name]
        assert request.tags == (f"{MIRROR}/{node.image}:{node.tag}",)
        if node.parent:
            parent = demo.nodes[node.parent]
            assert dict(request.build_contexts)["parent"] == (
                f"docker-image://{MIRROR}/{parent.image}@{fake_digest(parent.name)}")


def test_build_smoke_tests_every_platform_of_the_pushed_digest(tmp_path: Path,
                                                               demo: StackGraph) -> None:
    builder = FakeBuilder()
    report = run_build(tmp_path, builder, jobs=2)
    expected = {
        (name, f"{node.repository}@{fake_digest(name)}", platform, node.test)
        for name, node in demo.nodes.items() if node.test for platform in node.platforms
    }
    assert set(builder.tests) == expected
    assert len(builder.tests) == len(expected)
    for name, node in demo.nodes.items():
        assert report.nodes[name].tests == (
            {platform: "passed" for platform in node.platforms} if node.test else {})


def test_build_writes_report_json(tmp_path: Path, demo: StackGraph) -> None:
    builder = FakeBuilder()
    report = run_build(tmp_path, builder, jobs=2)
    data = read_report(report)
    assert data["status"] == "succeeded"
    assert data["run_id"] == report.run_id
    assert data["finished"]
    nodes = data["nodes"]
    assert isinstance(nodes, dict)
    assert set(nodes) == set(demo.nodes)
    for name, node in demo.nodes.items():
        entry = nodes[name]
        assert entry["status"] == "succeeded"
        assert entry["digest"] == fake_digest(name)
        assert entry["ref"] == node.ref
        assert entry["tests"] == ({p: "passed" for p in node.platforms} if node.test else {})
        assert entry["log"] == str(Path(report.folder) / "logs" / f"{name}.log")
        assert Path(entry["log"]) == builder.log_paths[name]


def test_build_relative_state_dir_is_below_root(tmp_path: Path) -> None:
    stack_dir = tmp_path / "stacks" / "t"
    (stack_dir / "base").mkdir(parents=True)
    (stack_dir / "base" / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    (stack_dir / "stack.yaml").write_text(
        "stack: t\nregistry: localhost:5000/t\nnodes:\n"
        "  base: {kind: os, tag: '1'}\n"
        "  child: {kind: sdk, parent: base, dockerfile: base/Dockerfile, tag: '2'}\n",
        encoding="utf-8")
    builder = FakeBuilder()
    report = api.build(api.Options(root=tmp_path, targets=(Path("stacks/t"),)), builder,
                       registry=NoRegistry())  # type: ignore[arg-type]
    assert Path(report.folder).parent == tmp_path / ".state" / "runs"
    assert report.status == "succeeded"
    assert builder.order == ["base", "child"]
    assert dict(builder.requests["child"].build_contexts)["parent"] == (
        f"docker-image://localhost:5000/t/base@{fake_digest('base')}")


# --- build: failures ----------------------------------------------------------------------------


@pytest.mark.parametrize("jobs", [1, 3])
def test_build_failure_keep_going_skips_descendants(tmp_path: Path, demo: StackGraph,
                                                    jobs: int) -> None:
    failing = pick_failing(demo)
    descendants = demo.descendants(failing)
    builder = FakeBuilder(fail=[failing])
    report = run_build(tmp_path, builder, jobs=jobs, keep_going=True)

    assert report.status == "failed"
    assert report.nodes[failing].status == "failed"
    assert "build failed with exit code 1" in report.nodes[failing].error
    assert report.nodes[failing].digest == ""
    for name in descendants:
        assert report.nodes[name].status == "skipped"
        assert report.nodes[name].error == f"parent failed: {failing}"
        assert name not in builder.requests
    independent = set(demo.nodes) - descendants - {failing}
    assert independent, "the demo stack should have nodes independent of the failing one"
    for name in independent:
        assert report.nodes[name].status == "succeeded"
        assert report.nodes[name].digest == fake_digest(name)
    assert report.count("succeeded") == len(demo.nodes) - 1 - len(descendants)

    data = read_report(report)
    assert data["status"] == "failed"
    nodes = data["nodes"]
    assert isinstance(nodes, dict)
    assert {name: entry["status"] for name, entry in nodes.items()} == {
        name: report.nodes[name].status for name in demo.nodes}


def test_build_failure_fail_fast_starts_nothing_new(tmp_path: Path, demo: StackGraph) -> None:
    failing = pick_failing(demo)
    builder = FakeBuilder(fail=[failing])
    report = run_build(tmp_path, builder, jobs=1, keep_going=False)
    assert report.status == "failed"
    assert builder.order[-1] == failing
    statuses = {name: node.status for name, node in report.nodes.items()}
    assert "pending" not in statuses.values()
    assert {n for n, s in statuses.items() if s == "succeeded"} == set(builder.order) - {failing}
    for name in demo.descendants(failing):
        assert statuses[name] == "skipped"
    for name, status in statuses.items():
        if status == "not_started":
            assert report.nodes[name].error == f"stopped after {failing} failed"


def test_build_smoke_test_failure_fails_the_node(tmp_path: Path, demo: StackGraph) -> None:
    failing = next(name for name in demo.order if demo.nodes[name].test
                   and demo.descendants(name))
    node = demo.nodes[failing]
    builder = FakeBuilder(fail_test=[failing])
    report = run_build(tmp_path, builder, jobs=2, keep_going=True)
    assert report.status == "failed"
    assert report.nodes[failing].status == "failed"
    assert report.nodes[failing].tests == {node.platforms[0]: "failed"}
    assert "smoke test" in report.nodes[failing].error
    assert report.nodes[failing].digest == fake_digest(failing)  # it was pushed, then failed
    for name in demo.descendants(failing):
        assert report.nodes[name].status == "skipped"


def test_build_unexpected_builder_error_is_reported(tmp_path: Path, demo: StackGraph) -> None:
    failing = pick_failing(demo)
    builder = FakeBuilder(fail=[failing], error=RuntimeError)
    report = run_build(tmp_path, builder, jobs=2, keep_going=True)
    assert report.status == "failed"
    assert report.nodes[failing].status == "failed"
    assert report.nodes[failing].error == f"{failing} exploded"
    assert read_report(report)["status"] == "failed"
