"""graph.present.export: openEuler meta.yml files (tag → Dockerfile path, arch for single-platform images)."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from pathlib import Path

import pytest

from graph.expand.dag import StackGraph, build_graph
from graph.load.stackfile import load_stack
from graph.present.export import ARCH_NAMES, meta_files

STACK = """
stack: demo
registry: r.example/x
platforms: [linux/amd64, linux/arm64, linux/ppc64le]
nodes:
  base:
    kind: os
    from: debian:12
  os:
    kind: os
    parent: base
    image: osimg
    tag: "12"
  cpu:
    kind: sdk
    parent: os
    image: sdk
    dockerfile: sdk/cpu.Dockerfile
    platforms: [linux/amd64]
    tag: cpu
  npu:
    kind: sdk
    parent: os
    image: sdk
    dockerfile: sdk/npu.Dockerfile
    platforms: [linux/arm64]
    tag: npu
  power:
    kind: sdk
    parent: os
    image: sdk
    dockerfile: sdk/power.Dockerfile
    platforms: [linux/ppc64le]
    tag: power
  fw:
    kind: framework
    parent: cpu
    image: team/fw
    axes: {v: ["1", "2"]}
    args: {V: "{v}"}
    tag: "fw{v}"
dev:
  dockerfile: dev/Dockerfile
  except: [os, npu, power]
"""


@pytest.fixture
def stack_graph(root: Path, write_stack: Callable[..., Path]) -> StackGraph:
    return build_graph([load_stack(root, write_stack(STACK, folder="stacks/demo"))])


def test_meta_files_map_tags_to_dockerfiles_per_stack_and_image(stack_graph: StackGraph) -> None:
    up = "../../../stacks/demo"
    assert meta_files(stack_graph, "meta") == {
        "demo/osimg/meta.yml": {"12": {"path": f"{up}/os/Dockerfile"}},
        "demo/sdk/meta.yml": {
            "cpu": {"path": f"{up}/sdk/cpu.Dockerfile", "arch": "x86_64"},
            "npu": {"path": f"{up}/sdk/npu.Dockerfile", "arch": "aarch64"},
            "power": {"path": f"{up}/sdk/power.Dockerfile"},
            "cpu-dev": {"path": f"{up}/dev/Dockerfile", "arch": "x86_64"},
        },
        "demo/team/fw/meta.yml": {
            "fw1": {"path": f"../{up}/fw/Dockerfile", "arch": "x86_64"},
            "fw2": {"path": f"../{up}/fw/Dockerfile", "arch": "x86_64"},
            "fw1-dev": {"path": f"../{up}/dev/Dockerfile", "arch": "x86_64"},
            "fw2-dev": {"path": f"../{up}/dev/Dockerfile", "arch": "x86_64"},
        },
    }


def test_paths_lead_from_each_meta_file_back_to_its_dockerfile(stack_graph: StackGraph) -> None:
    for out_dir in ("meta", ".", "build/out/meta"):
        files = meta_files(stack_graph, out_dir)
        for relative, entries in files.items():
            folder = posixpath.dirname(posixpath.join(out_dir, relative))
            for tag, entry in entries.items():
                node = next(n for n in stack_graph.nodes.values() if n.tag == tag)
                assert posixpath.normpath(posixpath.join(folder, entry["path"])) == node.dockerfile


def test_an_out_dir_at_the_repository_root(stack_graph: StackGraph) -> None:
    files = meta_files(stack_graph, ".")
    assert files["demo/osimg/meta.yml"] == {"12": {"path": "../../stacks/demo/os/Dockerfile"}}


def test_external_nodes_are_left_out(stack_graph: StackGraph) -> None:
    tags = {tag for entries in meta_files(stack_graph, "meta").values() for tag in entries}
    assert tags == {"12", "cpu", "npu", "power", "cpu-dev", "fw1", "fw2", "fw1-dev", "fw2-dev"}
    assert all("debian" not in relative for relative in meta_files(stack_graph, "meta"))


def test_arch_names() -> None:
    assert ARCH_NAMES == {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}
