"""graph.present.export: meta.yml in EulerPublisher's layout (tag → folder, arch), standalone Dockerfiles."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from graph.errors import StackError
from graph.expand.dag import StackGraph, build_graph
from graph.load.stackfile import load_stack
from graph.present.export import ARCH_NAMES, meta_entries, meta_files, standalone_dockerfile

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


POWER = """  power:
    kind: sdk
    parent: os
    image: sdk
    dockerfile: sdk/power.Dockerfile
    platforms: [linux/ppc64le]
    tag: power
"""
NO_POWER = STACK.replace(POWER, "").replace("except: [os, npu, power]", "except: [os, npu]")


@pytest.fixture
def stack_graph(root: Path, write_stack: Callable[..., Path]) -> StackGraph:
    return build_graph([load_stack(root, write_stack(STACK, folder="stacks/demo"))])


@pytest.fixture
def graph(root: Path, write_stack: Callable[..., Path]) -> StackGraph:
    """The stack without its ppc64le-only node."""
    return build_graph([load_stack(root, write_stack(NO_POWER, folder="stacks/demo"))])


def test_meta_files_map_each_tag_to_its_own_folder_per_stack_and_image(graph: StackGraph) -> None:
    assert meta_files(meta_entries(graph)) == {
        "demo/osimg/meta.yml": {"12": {"path": "12/any/Dockerfile", "arch": "x86_64,aarch64"}},  # no ppc64le
        "demo/sdk/meta.yml": {
            "cpu": {"path": "cpu/any/Dockerfile", "arch": "x86_64"},
            "npu": {"path": "npu/any/Dockerfile", "arch": "aarch64"},
            "cpu-dev": {"path": "cpu-dev/any/Dockerfile", "arch": "x86_64"},
        },
        "demo/team/fw/meta.yml": {
            "fw1": {"path": "1/any/Dockerfile", "arch": "x86_64"},  # the image's name leads the tag
            "fw2": {"path": "2/any/Dockerfile", "arch": "x86_64"},
            "fw1-dev": {"path": "1-dev/any/Dockerfile", "arch": "x86_64"},
            "fw2-dev": {"path": "2-dev/any/Dockerfile", "arch": "x86_64"},
        },
    }


def test_entries_name_their_node_in_plan_order(graph: StackGraph) -> None:
    entries = meta_entries(graph)
    assert [e.node for e in entries] == [n for n in graph.order if not graph.nodes[n].external]
    assert all(graph.nodes[e.node].tag == e.tag for e in entries)


def test_the_folder_drops_the_os_part_and_names_the_release(
        root: Path, write_stack: Callable[..., Path]) -> None:
    stack = NO_POWER.replace("    from: debian:12\n", "    from: debian:12\n    attrs: {os: 2203sp4}\n")
    stack = stack.replace('tag: "fw{v}"', 'tag: "fw{v}-oe{os}"\n    attrs: {os_release: 22.03-lts-sp4}')
    graph = build_graph([load_stack(root, write_stack(stack, folder="stacks/demo"))])
    files = meta_files(meta_entries(graph))
    assert files["demo/team/fw/meta.yml"]["fw1-oe2203sp4"] == {"path": "1/22.03-lts-sp4/Dockerfile",
                                                               "arch": "x86_64"}
    assert files["demo/sdk/meta.yml"]["cpu"] == {"path": "cpu/2203sp4/Dockerfile", "arch": "x86_64"}


def test_two_tags_sharing_a_folder_are_an_error(root: Path, write_stack: Callable[..., Path]) -> None:
    stack = NO_POWER.replace("    tag: cpu\n", "    tag: '1'\n").replace("    tag: npu\n", "    tag: sdk1\n")
    graph = build_graph([load_stack(root, write_stack(stack, folder="stacks/demo"))])
    with pytest.raises(StackError, match="tags '1' and 'sdk1' of sdk would share the folder 1/any"):
        meta_entries(graph)


def test_a_node_on_platforms_eulerpublisher_cannot_build_is_an_error(stack_graph: StackGraph) -> None:
    with pytest.raises(StackError, match="node power builds for linux/ppc64le only, which EulerPublisher"):
        meta_entries(stack_graph)


def test_external_nodes_are_left_out(graph: StackGraph) -> None:
    files = meta_files(meta_entries(graph))
    tags = {tag for entries in files.values() for tag in entries}
    assert tags == {"12", "cpu", "npu", "cpu-dev", "fw1", "fw2", "fw1-dev", "fw2-dev"}
    assert all("debian" not in relative for relative in files)


def test_arch_names() -> None:
    assert ARCH_NAMES == {"linux/amd64": "x86_64", "linux/arm64": "aarch64", "linux/loong64": "loongarch64"}


DOCKERFILE = """# syntax=docker/dockerfile:1
FROM parent AS build
ARG VERSION
ARG MIRROR=https://example.org
ARG UNUSED=keep me
arg flags
COPY --from=parent /etc/os-release /tmp/
FROM --platform=$BUILDPLATFORM parent
ARG VERSION
FROM parentless
"""


def test_a_standalone_dockerfile_bakes_in_args_and_parent() -> None:
    args = {"VERSION": "2.1.0", "MIRROR": 'http://m/x y "$HOME" a\\b', "flags": "", "OTHER": "1"}
    assert standalone_dockerfile(DOCKERFILE, args, "r.example/x/sdk:cpu") == """# syntax=docker/dockerfile:1
FROM r.example/x/sdk:cpu AS build
ARG VERSION=2.1.0
ARG MIRROR="http://m/x y \\"\\$HOME\\" a\\\\b"
ARG UNUSED=keep me
arg flags=""
COPY --from=r.example/x/sdk:cpu /etc/os-release /tmp/
FROM --platform=$BUILDPLATFORM r.example/x/sdk:cpu
ARG VERSION=2.1.0
FROM parentless
"""


def test_a_dockerfile_without_a_parent_keeps_its_from() -> None:
    assert standalone_dockerfile("FROM scratch\nARG A\n", {"A": "1"}, "") == "FROM scratch\nARG A=1\n"


@pytest.mark.parametrize(("attrs", "shown"), [
    ("{os_release: ../../../../home/user}", "attr os_release '../../../../home/user'"),
    ("{os: /etc}", "attr os '/etc'"),
    ("{os_release: ..}", "attr os_release '..'"),
])
def test_a_release_that_is_not_one_folder_name_is_an_error(
        root: Path, write_stack: Callable[..., Path], attrs: str, shown: str) -> None:
    """The release names the tag's folder below the output folder: it may not climb out of it."""
    stack = NO_POWER.replace('tag: "fw{v}"', f'tag: "fw{{v}}"\n    attrs: {attrs}')
    graph = build_graph([load_stack(root, write_stack(stack, folder="stacks/demo"))])
    with pytest.raises(StackError) as caught:
        meta_entries(graph)
    assert str(caught.value) == (f"stacks/demo/stack.yaml:27: node fw-1: {shown} cannot name a folder of the "
                                 "export (use letters, digits, '_', '.' and '-' (not '.' or '..') in it)")
