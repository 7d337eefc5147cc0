"""`build --load` against the real engine with no registry at all: the registry address is a closed port.

A tiny stack on a local base image (the demo's Debian rootfs, loaded under a unique name): base →
sdk → app, base → tool, each child a COPY. Everything this module creates carries its unique name
and is removed at the end.
"""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from engine.build.builder import BuildxBuilder
from engine.build.localstore import LocalStore
from engine.build.request import BuildRequest
from engine.run import api
from engine.run.local import build_local
from engine.run.settings import BuildSettings
from engine.state.loaded import read_loaded
from engine.state.report import RunReport
from tests.integration.janitor import hold_port

UNIQUE = f"sbload{uuid.uuid4().hex[:8]}"
PLATFORMS = {"linux/amd64", "linux/arm64"}
STACK = """\
stack: loc
registry: localhost:5000/unused
platforms: [linux/amd64, linux/arm64]
nodes:
  base: {{kind: os, from: "{base}"}}
  sdk:  {{kind: sdk, parent: base, tag: "1", test: "cat /sdk.txt"}}
  app:  {{kind: framework, parent: sdk, tag: "2", test: "cat /app.txt"}}
  tool: {{kind: tool, parent: base, tag: "3", test: "cat /tool.txt"}}
"""
BUILT = ("sdk", "app", "tool")


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released), held for this session: a session
    beside it that ends meanwhile leaves the images tagged for it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    hold_port(port)
    return port


@pytest.fixture(scope="module")
def docker() -> DockerClient:
    return DockerClient()


@pytest.fixture(scope="module")
def local_base(tmp_path_factory: pytest.TempPathFactory, repo_root: Path, builder: BuildxBuilder,
               docker: DockerClient) -> Iterator[str]:
    """The demo's Debian root file system as a local two-platform image (never pushed anywhere)."""
    folder = tmp_path_factory.mktemp("base")
    for arch in ("amd64", "arm64"):
        tarball = repo_root / "stacks/demo/os/rootfs" / f"{arch}.tar.gz"
        if not tarball.exists():
            pytest.fail(f"{tarball} is missing: run `make setup`")
        os.link(tarball, folder / f"{arch}.tar.gz")
    (folder / "Dockerfile").write_text("FROM scratch\nARG TARGETARCH\nADD ${TARGETARCH}.tar.gz /\n",
                                       encoding="utf-8")
    name = f"{UNIQUE}-base:1"
    builder.build(BuildRequest(node="base", context=folder, dockerfile=folder / "Dockerfile",
                               platforms=tuple(sorted(PLATFORMS)), tags=(name,), push=False, load=True),
                  folder / "build.log")
    yield name
    ours = [image for pattern in (f"localhost:*/{UNIQUE}*/*", f"{UNIQUE}-base")
            for image in docker.image.list(filters=[("reference", pattern)])]
    leftovers = sorted({tag for image in ours for tag in image.repo_tags if UNIQUE in tag})
    if leftovers:  # removing takes the engine seconds per image: let it clean up after the test
        subprocess.Popen(["docker", "image", "rm", "--force", *leftovers], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)


def write_stack(root: Path, base: str) -> None:
    folder = root / "stacks" / "loc"
    for name in BUILT:
        (folder / name).mkdir(parents=True, exist_ok=True)
        (folder / name / f"{name}.txt").write_text(f"{name} {uuid.uuid4().hex}\n", encoding="utf-8")
        (folder / name / "Dockerfile").write_text(f"FROM parent\nCOPY {name}.txt /{name}.txt\n",
                                                  encoding="utf-8")
    (folder / "stack.yaml").write_text(STACK.format(base=base), encoding="utf-8")


def run(root: Path, builder: BuildxBuilder, prefix: str) -> RunReport:
    options = api.Options(root=root, registry=prefix, state_dir=root / "state")
    report = build_local(options, builder.for_local_store(), BuildSettings(jobs=2), LocalStore())
    assert report.status == "succeeded", {n: r.error for n, r in report.nodes.items() if r.error}
    return report


def contents(docker: DockerClient, ref: str, platform: str, *paths: str) -> str:
    """The files at paths in the local image ref on platform (never pulled: there is no registry)."""
    return str(docker.run(ref, ["cat", *paths], platform=platform, remove=True, pull="never"))


def uname(docker: DockerClient, ref: str, platform: str) -> str:
    return str(docker.run(ref, ["uname", "-m"], platform=platform, remove=True, pull="never")).strip()


def test_load_builds_into_the_local_store_with_no_registry_then_only_what_changed(
        tmp_path: Path, local_base: str, builder: BuildxBuilder, docker: DockerClient) -> None:
    prefix = f"localhost:{closed_port()}/{UNIQUE}"  # nothing listens there: no registry at all
    write_stack(tmp_path, local_base)
    first = run(tmp_path, builder, prefix)
    assert {n: (r.action, r.status) for n, r in first.nodes.items()} == {
        "base": ("external", "succeeded"), **{n: ("build", "succeeded") for n in BUILT}}
    assert first.buildx_invocations == 3
    graph = api.load(api.Options(root=tmp_path, registry=prefix))
    for name in BUILT:
        assert first.nodes[name].tests == dict.fromkeys(sorted(PLATFORMS), "passed")
        ref = graph.nodes[name].ref
        assert LocalStore(docker).image_id(ref) == first.nodes[name].digest  # human tag set locally
    assert sorted(first.promoted) == sorted(graph.nodes[name].ref for name in BUILT)
    files = {name: (tmp_path / f"stacks/loc/{name}/{name}.txt").read_text(encoding="utf-8") for name in BUILT}
    app = graph.nodes["app"].ref
    for platform, machine in (("linux/amd64", "x86_64"), ("linux/arm64", "aarch64")):  # both in the store
        assert uname(docker, app, platform) == machine
        expected = (files["sdk"] + files["app"]).strip()  # app is built on this run's sdk
        assert contents(docker, app, platform, "/sdk.txt", "/app.txt") == expected
    assert {n: image.digest for n, image in read_loaded(tmp_path / "state").items()} == {
        n: first.nodes[n].digest for n in BUILT}

    again = run(tmp_path, builder, prefix)
    assert again.buildx_invocations == 0 and again.promoted == []
    assert {n: r.action for n, r in again.nodes.items() if n in BUILT} == dict.fromkeys(BUILT, "skip")

    dockerfile = tmp_path / "stacks/loc/sdk/Dockerfile"
    dockerfile.write_text(dockerfile.read_text(encoding="utf-8") + "LABEL changed=1\n", encoding="utf-8")
    changed = run(tmp_path, builder, prefix)
    assert {n: (r.action, r.reason) for n, r in changed.nodes.items() if n in BUILT} == {
        "sdk": ("build", "dockerfile_changed"), "app": ("build", "parent_rebuilt: sdk"),
        "tool": ("skip", "up_to_date")}
    assert changed.buildx_invocations == 2
    assert LocalStore(docker).image_id(graph.nodes["app"].ref) == changed.nodes["app"].digest


def test_load_with_one_platform_builds_and_tests_only_that_one(
        tmp_path: Path, local_base: str, builder: BuildxBuilder, docker: DockerClient) -> None:
    prefix = f"localhost:{closed_port()}/{UNIQUE}one"
    write_stack(tmp_path, local_base)
    options = api.Options(root=tmp_path, registry=prefix, state_dir=tmp_path / "state",
                          select=("app",), platforms=("linux/amd64",))
    report = build_local(options, builder.for_local_store(), BuildSettings(jobs=2), LocalStore())
    assert report.status == "succeeded", {n: r.error for n, r in report.nodes.items() if r.error}
    assert set(report.nodes) == {"base", "sdk", "app"}  # the selection and what it is built on
    assert report.nodes["app"].tests == {"linux/amd64": "passed"}
    ref = api.load(options).nodes["app"].ref
    assert uname(docker, ref, "linux/amd64") == "x86_64"
    with pytest.raises(DockerException):  # only the platform asked for was built
        uname(docker, ref, "linux/arm64")


def test_untag_removes_only_the_tag_the_image_stays_under_its_other_name(
        local_base: str, docker: DockerClient) -> None:
    store = LocalStore(docker)
    extra = f"{UNIQUE}-extra:1"
    store.tag(local_base, extra)
    assert store.image_id(extra) == store.image_id(local_base) is not None
    store.untag(extra)
    assert store.image_id(extra) is None
    assert store.image_id(local_base) is not None
