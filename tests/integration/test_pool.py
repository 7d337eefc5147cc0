"""A builder pool on a real engine: two dockerds stand in for a fleet, each a buildx builder through its
docker context. amd64 is built on the main engine, arm64 on the second; then the second is killed
mid-run and its builds move to a fallback arm64 builder.
"""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from engine.build.builder import BuildxBuilder
from engine.build.pool import Pool, parse_pool
from engine.registry.client import RegistryClient
from engine.run import api
from engine.run.settings import BuildSettings
from engine.state.report import RunReport
from tests.integration.engines import SecondEngine, docker_context, second_dockerd

PLATFORMS = {"linux/amd64", "linux/arm64"}
PARENTS = {"root": None, "mid": "root", "leaf": "mid"}
STACK = """\
stack: pool
registry: {registry}/pool-{uid}
platforms: [linux/amd64, linux/arm64]
nodes:
  root: {{kind: os, tag: "1"}}
  mid: {{kind: sdk, parent: root, tag: "2"}}
  leaf: {{kind: framework, parent: mid, tag: "3"}}
"""


def write_repo(folder: Path, registry: str, uid: str) -> Path:
    """A tiny stack: root FROM scratch, mid and leaf FROM parent; each COPYs a file named by uid and arch."""
    stack = folder / "stacks" / "pool"
    for name, parent in PARENTS.items():
        (stack / name / "amd64").mkdir(parents=True)
        (stack / name / "arm64").mkdir()
        for arch in ("amd64", "arm64"):
            (stack / name / arch / f"{uid}-{name}.txt").write_text(f"{name} {arch} {uid}\n", encoding="utf-8")
        (stack / name / "Dockerfile").write_text(
            f"FROM {'parent' if parent else 'scratch'}\nARG TARGETARCH\n"
            f"COPY ${{TARGETARCH}}/{uid}-{name}.txt /{name}.txt\n", encoding="utf-8")
    (stack / "stack.yaml").write_text(STACK.format(registry=registry, uid=uid), encoding="utf-8")
    return folder


@pytest.fixture
def second() -> Iterator[SecondEngine]:
    with second_dockerd() as engine:
        yield engine


def build(repo: Path, pool: Pool) -> RunReport:
    options = api.Options(root=repo, targets=(Path("stacks/pool"),), state_dir=repo / ".state")
    return api.build(options, BuildxBuilder(), BuildSettings(jobs=2, cache="none", test=False, pool=pool))


def cache_steps(context: str, uid: str) -> list[str]:
    """The descriptions of the build cache records of context's engine that belong to this test's COPYs."""
    done = subprocess.run(["docker", "--context", context, "buildx", "du", "--verbose"],
                          check=True, capture_output=True, text=True, timeout=120)
    # "Description: [1/2] COPY ..." → "COPY ..."
    return [line.split("] ", 1)[1].strip() for line in done.stdout.splitlines()
            if line.startswith("Description:") and uid in line]


def assert_published(report: RunReport) -> None:
    """Every tag is an index of exactly the planned platforms; each child rests on its parent per platform."""
    client = RegistryClient()
    assert report.status == "succeeded", {n: r.error for n, r in report.nodes.items()}
    layers: dict[str, dict[str, list[str]]] = {}
    for name, node in report.nodes.items():
        index = client.manifest(node.ref)
        assert index is not None and index.is_index, node.ref
        assert set(index.platforms()) == PLATFORMS, (node.ref, index.platforms())
        repository = node.ref.rsplit(":", 1)[0]
        layers[name] = {}
        for platform, digest in index.platforms().items():
            image = client.manifest(f"{repository}@{digest}")
            assert image is not None
            layers[name][platform] = image.layers()
    for name, parent in PARENTS.items():
        for platform in PLATFORMS if parent else ():
            assert layers[name][platform][:len(layers[parent][platform])] == layers[parent][platform]
            assert len(layers[name][platform]) == len(layers[parent][platform]) + 1


def test_each_platform_is_built_on_its_own_engine_and_merged_by_digest(
        tmp_path: Path, registry: str, second: SecondEngine) -> None:
    uid = uuid.uuid4().hex[:10]
    repo = write_repo(tmp_path / "repo", registry, uid)
    with docker_context(f"sbpool-{uid}", second.socket) as arm:
        report = build(repo, parse_pool({"linux/amd64": ["default"], "linux/arm64": [arm]}, "test"))
        assert_published(report)
        assert report.builds == 6  # one per node and platform
        arm_steps = cache_steps(arm, uid)
        main_steps = cache_steps("default", uid)
    expected = {arch: sorted(f"COPY {arch}/{uid}-{n}.txt /{n}.txt" for n in PARENTS)
                for arch in ("amd64", "arm64")}
    assert sorted(arm_steps) == expected["arm64"], arm_steps
    assert sorted(main_steps) == expected["amd64"], main_steps
    for name in PARENTS:
        logs = Path(report.folder) / "logs"
        assert f"docker --context {arm} buildx build " in (logs / f"{name}.linux-arm64.log").read_text()
        assert "docker buildx build --builder default " in (logs / f"{name}.linux-amd64.log").read_text()


def test_a_killed_engines_builds_move_to_the_fallback_builder_and_a_rerun_builds_nothing(
        tmp_path: Path, registry: str, second: SecondEngine) -> None:
    uid = uuid.uuid4().hex[:10]
    repo = write_repo(tmp_path / "repo", registry, uid)
    with docker_context(f"sbpool-{uid}", second.socket) as arm, \
            docker_context(f"sbfall-{uid}", Path("/var/run/docker.sock")) as fallback:
        pool = parse_pool({"linux/amd64": ["default"], "linux/arm64": [arm, fallback]}, "test")
        killer = threading.Thread(target=kill_on_first_build, args=(repo / ".state", arm, second),
                                  daemon=True)
        killer.start()
        with capture_logs() as events:
            report = build(repo, pool)
        killer.join(timeout=5)
        assert second.process.poll() is not None, "the second engine was not killed during the run"
        assert_published(report)
        lost = [e for e in events if e["event"] == "builder_lost"]
        assert [(e["builder"], e["node"], e["platform"]) for e in lost] == [(arm, "root", "linux/arm64")]
        assert [e["lost"] for e in events if e["event"] == "build_moved"] == [arm]
        assert (Path(report.folder) / "logs" / "root.linux-arm64.log").read_text().startswith(
            f"$ docker --context {fallback} buildx build ")  # the retry ran on the fallback
        rerun = build(repo, pool)
    assert rerun.status == "succeeded" and rerun.buildx_invocations == 0


def kill_on_first_build(state: Path, builder: str, engine: SecondEngine, timeout_s: float = 120) -> None:
    """SIGKILL engine as soon as a build on builder has started (its log names the builder)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for log in state.glob("runs/*/logs/*.linux-arm64.log"):
            if f"--context {builder} " in log.read_text(errors="replace").split("\n", 1)[0]:
                engine.kill()
                return
        time.sleep(0.02)
