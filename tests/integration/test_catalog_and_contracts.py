"""The catalogue and image contracts against images really built into the throwaway registry.

A small stack on the demo's Debian root file system (tarballs hard-linked): an SDK, four framework
images with different framework / version / scope attributes, and two ymir executor images, one
meeting the ymir-executor contract and one not, all for linux/amd64 and linux/arm64.
"""

from __future__ import annotations

import json
import os
import textwrap
import urllib.request
from pathlib import Path

import pytest

from engine.build.builder import BuildxBuilder
from engine.cli import main as cli
from engine.registry.catalog import best_image, find_images
from engine.registry.client import RegistryClient
from engine.run import api
from engine.run.contracts import check_image
from engine.run.settings import BuildSettings
from graph.present.catalog import NoImageMatches

PLATFORMS = ("linux/amd64", "linux/arm64")
STACK = """\
stack: cat
registry: localhost:5000/cat
platforms: [linux/amd64, linux/arm64]
nodes:
  debian: {kind: os, dockerfile: os/Dockerfile, image: os, tag: deb12, attrs: {os: deb12}}
  sdk:
    kind: sdk
    parent: debian
    dockerfile: marker/Dockerfile
    attrs: {sdk: cpu, python: "3.11", accelerator: cpu}
    args: {MARK: sdk}
    tag: "{sdk}-py311-{os}"
  numpy-old: &fw
    kind: framework
    parent: sdk
    dockerfile: marker/Dockerfile
    image: framework
    attrs: {framework: numpy, framework_version: "1.9.0", scope: training}
    args: {MARK: "{framework}{framework_version}-{scope}"}
    tag: "{framework}{framework_version}-{scope}-{sdk}-{os}"
  numpy-new: {<<: *fw, attrs: {framework: numpy, framework_version: "1.10.0", scope: training}}
  numpy-serve: {<<: *fw, attrs: {framework: numpy, framework_version: "1.10.0", scope: inference}}
  tinygrad: {<<: *fw, attrs: {framework: tinygrad, framework_version: "0.10.3", scope: training}}
  ymir-good:
    kind: llm
    parent: sdk
    dockerfile: ymir/good.Dockerfile
    context: ymir
    image: ymir
    tag: good
    contract: ymir-executor
  ymir-bad:
    kind: llm
    parent: sdk
    dockerfile: ymir/bad.Dockerfile
    context: ymir
    image: ymir
    tag: bad
    contract: ymir-executor
"""
FILES = {
    "marker/Dockerfile": "FROM parent\nARG MARK\nENV MARK=${MARK}\n",
    "ymir/good.Dockerfile": textwrap.dedent("""\
        FROM parent
        COPY img-man/ /img-man/
        COPY start.sh /usr/bin/start.sh
        CMD ["bash", "/usr/bin/start.sh"]
        """),
    "ymir/bad.Dockerfile": "FROM parent\nCOPY img-man/manifest.yaml /img-man/manifest.yaml\n",
    "ymir/img-man/manifest.yaml": "object_type: 2\n",
    "ymir/img-man/training-template.yaml": "epochs: 10\nbatch_size: 8\n",
    "ymir/start.sh": "#!/bin/bash\necho ymir executor\n",
}


def _rootfs(repo_root: Path, dest: Path) -> None:
    """The demo's OS Dockerfile with its root file systems hard-linked (made by `make setup`)."""
    source = repo_root / "stacks" / "demo" / "os"
    for arch in ("amd64", "arm64"):
        tarball = source / "rootfs" / f"{arch}.tar.gz"
        if not tarball.exists():
            if os.environ.get("CI"):
                pytest.fail(f"{tarball} is missing (run `make setup`)")
            pytest.skip(f"{tarball} is missing (run `make setup`)")
        (dest / "rootfs").mkdir(parents=True, exist_ok=True)
        os.link(tarball, dest / "rootfs" / f"{arch}.tar.gz")
    for name in ("Dockerfile", ".dockerignore"):
        (dest / name).write_bytes((source / name).read_bytes())


@pytest.fixture(scope="module")
def built(repo_root: Path, registry: str, builder: BuildxBuilder,
          tmp_path_factory: pytest.TempPathFactory) -> api.Options:
    """The stack built and published below <registry>/cat."""
    repo = tmp_path_factory.mktemp("catalog")
    stack = repo / "stacks" / "cat"
    _rootfs(repo_root, stack / "os")
    (stack / "stack.yaml").write_text(STACK, encoding="utf-8")
    for path, text in FILES.items():
        (stack / path).parent.mkdir(parents=True, exist_ok=True)
        (stack / path).write_text(text, encoding="utf-8")
    (stack / "ymir" / "start.sh").chmod(0o755)
    options = api.Options(root=repo, targets=(Path("stacks/cat"),), registry=f"{registry}/cat",
                          state_dir=repo / "state")
    report = api.build(options, builder, BuildSettings(jobs=3, test=False))
    assert report.status == "succeeded", {name: n.error for name, n in report.nodes.items() if n.error}
    return options


def ref_of(options: api.Options, node: str) -> str:
    return api.load(options).nodes[node].ref


# --- the catalogue ------------------------------------------------------------------------------


def test_the_catalogue_reads_labels_of_every_published_tag(built: api.Options) -> None:
    records = {record.node: record for record in find_images(built.registry)}
    assert set(records) == {"debian", "sdk", "numpy-old", "numpy-new", "numpy-serve", "tinygrad",
                            "ymir-good", "ymir-bad"}
    numpy = records["numpy-new"]
    assert numpy.ref == ref_of(built, "numpy-new")
    assert (numpy.stack, numpy.layer, numpy.framework) == ("cat", "framework", "numpy")
    assert numpy.version == "1.10.0"
    assert (numpy.sdk, numpy.python, numpy.os, numpy.accelerator) == ("cpu", "3.11", "deb12", "cpu")
    assert numpy.platforms == PLATFORMS
    assert numpy.digest == RegistryClient().digest(numpy.ref)
    assert numpy.created and numpy.source == "labels"


def test_content_and_cache_tags_stay_out_of_the_catalogue(built: api.Options) -> None:
    host, _, path = built.registry.partition("/")
    tags = []
    for image in ("os", "sdk", "framework", "ymir"):
        with urllib.request.urlopen(f"http://{host}/v2/{path}/{image}/tags/list", timeout=10) as answer:
            tags += json.load(answer)["tags"]
    assert sum(1 for tag in tags if tag.startswith("sb-") and tag.endswith("-candidate")) == 8  # pushed
    assert sum(1 for tag in tags if tag.startswith("sb-") and not tag.endswith("-candidate")) == 8  # tested
    assert any(tag.startswith("sbcache-") for tag in tags)  # (a build without layers exports no cache)
    refs = [record.ref for record in find_images(built.registry)]
    assert len(refs) == 8
    assert not any(ref.rsplit(":", 1)[1].startswith("sb") for ref in refs)


def test_filters_and_latest(built: api.Options) -> None:
    numpy = find_images(built.registry, framework="numpy", scope="training")
    assert {record.node for record in numpy} == {"numpy-old", "numpy-new"}
    newest = find_images(built.registry, layer="framework", version="latest", scope="training")
    assert {record.node for record in newest} == {"numpy-new", "tinygrad"}
    assert [r.node for r in find_images(built.registry, version="1.10", platform="linux/arm64")] == [
        "numpy-serve", "numpy-new"]  # by ref: …-inference-… before …-training-…


def test_best_match_is_the_newest_version(built: api.Options) -> None:
    best = best_image(built.registry, framework="numpy", version="latest", accelerator="cpu",
                      scope="training")
    assert best.ref == ref_of(built, "numpy-new")  # 1.10.0 > 1.9.0
    assert best_image(built.registry, framework="numpy", scope="inference").node == "numpy-serve"


def test_no_match_lists_the_available_versions(built: api.Options) -> None:
    with pytest.raises(NoImageMatches) as caught:
        best_image(built.registry, framework="numpy", version="2.0", accelerator="cpu")
    assert str(caught.value) == (f"no image in {built.registry} matches framework=numpy, version=2.0, "
                                 "accelerator=cpu (version can be 1.9.0, 1.10.0)")


def test_images_command(built: api.Options, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["images", "--root", str(built.root), "--registry", built.registry, "stacks/cat"]
    assert cli.main([*argv, "--framework", "numpy", "--version", "latest", "--accelerator", "cpu",
                     "--scope", "inference", "--best"]) == 0
    assert capsys.readouterr().out.strip() == ref_of(built, "numpy-serve")
    assert cli.main([*argv, "--framework", "pytorch", "--best"]) == 2
    assert "framework can be numpy, tinygrad" in capsys.readouterr().err


# --- contracts ----------------------------------------------------------------------------------


def test_an_image_meeting_ymir_executor_passes_on_both_platforms(built: api.Options,
                                                                 builder: BuildxBuilder) -> None:
    result = check_image("ymir-executor", ref_of(built, "ymir-good"), builder, platforms=PLATFORMS,
                         node="ymir-good")
    assert [(p.platform, p.missing) for p in result.platforms] == [(p, ()) for p in PLATFORMS]
    assert result.ok


def test_an_image_missing_ymir_executor_is_reported_per_platform(built: api.Options,
                                                                 builder: BuildxBuilder) -> None:
    result = check_image("ymir-executor", ref_of(built, "ymir-bad"), builder, platforms=PLATFORMS,
                         node="ymir-bad")
    assert not result.ok
    assert [p.platform for p in result.platforms] == list(PLATFORMS)  # found and checked, not unpublished
    for platform in result.platforms:
        assert set(platform.missing) == {
            "default command `bash /usr/bin/start.sh` (the image has CMD ['bash'])",
            "a hyper-parameter template /img-man/*-template.yaml",
            "an executable /usr/bin/start.sh",
        }, platform.platform


def test_the_check_command(built: api.Options, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["check", "--root", str(built.root), "--registry", built.registry, "stacks/cat"]
    assert cli.main(argv) == 1
    out = capsys.readouterr().out
    assert f"ymir-bad  ymir-executor  {ref_of(built, 'ymir-bad')}" in out
    assert out.count("    - an executable /usr/bin/start.sh") == 2  # once per platform
    assert out.rstrip().endswith("1 of 2 image(s) miss their contract")
    assert cli.main([*argv, "--select", "ymir-good"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("all 1 image(s) meet their contracts")
