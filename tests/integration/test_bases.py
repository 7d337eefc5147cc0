"""Bases are inputs, on a real engine: a Docker Hub base served by a loopback mirror, moved under its tag.

A second dockerd (own data-root, exec-root and socket; `registry-mirrors` naming a throwaway
registry) builds, so the shared engine is not reconfigured. The stand-in `openeuler/openeuler:<tag>`
is pushed to the mirror as repository `openeuler/openeuler`; stackbuild resolves it through
STACKBUILD_DOCKERHUB_MIRROR, the engine pulls `openeuler/openeuler@sha256:…` through its mirror.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from engine.build.builder import BuildxBuilder
from engine.registry.bases import MIRROR_ENV
from engine.registry.client import RegistryClient, split_reference
from engine.run import api
from engine.run.settings import BuildSettings
from engine.state.lockfile import read_lockfile
from engine.state.report import RunReport
from tests.integration.conftest import start_registry
from tests.integration.engines import second_dockerd

PLATFORMS = ["linux/amd64", "linux/arm64"]
TAG = f"sb-{uuid.uuid4().hex[:8]}"
BASE = f"openeuler/openeuler:{TAG}"
ON_BASE = ("sdk", "app")  # sdk is built FROM the base, app FROM sdk
STACK = """\
stack: bases
registry: {registry}
platforms: [linux/amd64, linux/arm64]
nodes:
  euler: {{kind: os, from: "{base}"}}
  sdk: {{kind: sdk, parent: euler, tag: "1"}}
  app: {{kind: framework, parent: sdk, tag: "2"}}
  lone: {{kind: os, tag: "3"}}
"""
DOCKERFILES = {"sdk": "FROM parent\nCOPY sdk.txt /sdk.txt\n", "app": "FROM parent\nCOPY app.txt /app.txt\n",
               "lone": "FROM scratch\nCOPY lone.txt /lone.txt\n"}


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory, builder: BuildxBuilder) -> Iterator[str]:
    """A throwaway registry acting as the Docker Hub mirror: `127.0.0.1:PORT`."""
    process, address = start_registry(tmp_path_factory.mktemp("mirror"))
    yield address.replace("localhost:", "127.0.0.1:", 1)
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def engine(mirror: str) -> Iterator[DockerClient]:
    """A second dockerd with the containerd image store and the mirror; its client (by --host)."""
    with second_dockerd({"registry-mirrors": [f"http://{mirror}"]}) as second:
        yield second.docker


def push_stand_in(docker: DockerClient, mirror: str, folder: Path, content: str) -> str:
    """Build a tiny two-platform stand-in for openeuler/openeuler:TAG into the mirror; its digest."""
    folder.mkdir(parents=True, exist_ok=True)
    dockerfile = "FROM scratch\nCOPY release /etc/openEuler-release\n"
    (folder / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    (folder / "release").write_text(content, encoding="utf-8")
    for attempt in range(3):  # Debian's registry 2.8 sometimes answers a HEAD during a push with 500
        try:
            docker.buildx.build(folder, platforms=PLATFORMS, tags=[f"{mirror}/{BASE}"], push=True,
                                progress=False)
            break
        except DockerException as exc:
            if attempt == 2 or "500 Internal Server Error" not in str(exc.stderr):
                raise
    digest = RegistryClient().digest(f"{mirror}/{BASE}")
    assert digest and digest.startswith("sha256:")
    return digest


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, registry: str) -> Path:
    """A repository with one stack: euler (the external base) → sdk → app, and lone on its own."""
    root = tmp_path_factory.mktemp("bases-repo")
    folder = root / "stacks" / "bases"
    for name, dockerfile in DOCKERFILES.items():
        (folder / name).mkdir(parents=True)
        (folder / name / "Dockerfile").write_text(dockerfile, encoding="utf-8")
        (folder / name / f"{name}.txt").write_text(f"{name}\n", encoding="utf-8")
    prefix = f"{registry}/sbbases-{uuid.uuid4().hex[:8]}"
    (folder / "stack.yaml").write_text(STACK.format(registry=prefix, base=BASE), encoding="utf-8")
    return root


def options(repo: Path) -> api.Options:
    return api.Options(root=repo, targets=(Path("stacks/bases"),), state_dir=repo / ".state")


def plan(repo: Path) -> dict[str, tuple[str, str]]:
    return {entry.node: (entry.action, entry.reason) for entry in api.plan(options(repo), RegistryClient())}


def build(repo: Path, docker: DockerClient) -> RunReport:
    report = api.build(options(repo), BuildxBuilder(docker), BuildSettings(test=False, cache="none"),
                       RegistryClient())
    assert report.status == "succeeded", {name: node.error for name, node in report.nodes.items()}
    return report


def amd64_layers(client: RegistryClient, reference: str) -> list[str]:
    index = client.manifest(reference)
    assert index is not None and index.is_index
    host, repository, _ = split_reference(reference)
    image = client.manifest(f"{host}/{repository}@{index.platforms()['linux/amd64']}")
    assert image is not None
    return image.layers()


def assert_built_from(report: RunReport, mirror: str, digest: str) -> None:
    """sdk was built FROM the base by digest: its build argv, its labels and its first layers say so."""
    client = RegistryClient()
    sdk = report.nodes["sdk"]
    argv_line = Path(sdk.log).read_text(encoding="utf-8").splitlines()[0]
    assert f"parent=docker-image://openeuler/openeuler@{digest}" in argv_line
    image = f"{sdk.ref.rsplit(':', 1)[0]}@{sdk.digest}"
    config = client.image_config(image)
    assert config is not None
    assert config["config"]["Labels"]["org.opencontainers.image.base.digest"] == digest
    base_layers = amd64_layers(client, f"{mirror}/openeuler/openeuler@{digest}")
    assert amd64_layers(client, image)[:len(base_layers)] == base_layers


def test_a_docker_hub_base_through_a_mirror_is_built_by_digest_and_its_move_rebuilds_its_subtree(
        repo: Path, mirror: str, engine: DockerClient, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MIRROR_ENV, f"http://{mirror}")
    first = push_stand_in(engine, mirror, tmp_path / "stand-in", "openEuler stand-in, first push\n")
    assert plan(repo) == {"euler": ("external", "base image"), "sdk": ("build", "not_in_registry"),
                          "app": ("build", "not_in_registry"), "lone": ("build", "not_in_registry")}

    report = build(repo, engine)
    assert report.builds == 3
    assert_built_from(report, mirror, first)
    pinned = f"{BASE}@{first}"
    assert {entry.node: entry.base for entry in read_lockfile(Path(report.lockfile))} == {
        "sdk": pinned, "app": pinned, "lone": ""}
    assert {name: node.base for name, node in report.nodes.items()} == {
        "euler": pinned, "sdk": pinned, "app": pinned, "lone": ""}

    second = push_stand_in(engine, mirror, tmp_path / "stand-in", "openEuler stand-in, pushed again\n")
    assert second != first
    moved = f"base_updated: {BASE} {first} → {second}"
    assert plan(repo) == {"euler": ("external", moved), "sdk": ("build", moved),
                          "app": ("build", "parent_rebuilt: sdk"), "lone": ("skip", "up_to_date")}

    report = build(repo, engine)
    assert report.builds == 2
    assert {name for name, node in report.nodes.items() if node.action == "build"} == set(ON_BASE)
    assert_built_from(report, mirror, second)
    assert {entry.node: entry.base for entry in read_lockfile(Path(report.lockfile))}["app"] == (
        f"{BASE}@{second}")
    assert set(plan(repo).values()) == {("external", "base image"), ("skip", "up_to_date")}
