"""engine.cli.bake: a stack as docker-bake.json, the exact document for a tiny stack, escaping, names."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from engine.cli import main as cli
from engine.cli.bake import bake_json, literal, target_names
from graph.expand.dag import graph_of
from graph.model.spec import Node, Secret

AMD, ARM = "linux/amd64", "linux/arm64"


def node(name: str, parent: str | None = None, **fields: object) -> Node:
    values: dict[str, object] = {
        "stack": "tiny", "kind": "sdk" if parent else "os", "parent": parent,
        "dockerfile": f"stacks/tiny/{name}/Dockerfile", "context": f"stacks/tiny/{name}",
        "registry": "localhost:5000/t", "image": name, "tag": "1", "platforms": (AMD, ARM)}
    values.update(fields)
    return Node(name=name, **values)  # type: ignore[arg-type]


TINY = graph_of([
    node("base", secrets=(Secret("token", env="TOKEN"),)),
    node("py.sdk", "base", platforms=(AMD,), args=(("PY", "3.11"), ("EMPTY", "")), target="runtime",
         dockerfile="stacks/tiny/common/Dockerfile.sdk", context="stacks/tiny/py",
         secrets=(Secret("ca", src="/etc/ssl/ca.pem"),), provenance="off"),
    node("ubuntu", kind="os", dockerfile="", context="", image="", tag="", registry="",
         external="docker.io/library/ubuntu:24.04"),
    node("app", "ubuntu", kind="llm", tag="2-dev", provenance="min", sbom_generator="tools/sbom:1"),
])

EXPECTED = {
    "variable": {"STACKBUILD_EXPORT": {"default": (
        "written by `stackbuild export bake` from stacks/tiny: 3 targets; paths are relative to the "
        "repository root: docker buildx bake -f <this file> --push")}},
    "group": {"default": {"targets": ["base", "app", "py_sdk"]}},
    "target": {
        "base": {"context": "stacks/tiny/base", "dockerfile": "Dockerfile",
                 "platforms": ["linux/amd64", "linux/arm64"], "tags": ["localhost:5000/t/base:1"],
                 "secret": ["id=token,env=TOKEN"], "attest": ["type=provenance,mode=max"]},
        "app": {"context": "stacks/tiny/app", "dockerfile": "Dockerfile",
                "contexts": {"parent": "docker-image://docker.io/library/ubuntu:24.04"},
                "platforms": ["linux/amd64", "linux/arm64"], "tags": ["localhost:5000/t/app:2-dev"],
                "attest": ["type=provenance,mode=min", "type=sbom,generator=localhost:5000/t/tools/sbom:1"]},
        "py_sdk": {"context": "stacks/tiny/py", "dockerfile": "../common/Dockerfile.sdk",
                   "contexts": {"parent": "target:base"}, "platforms": ["linux/amd64"],
                   "tags": ["localhost:5000/t/py.sdk:1"], "target": "runtime",
                   "args": {"PY": "3.11", "EMPTY": ""}, "secret": ["id=ca,src=/etc/ssl/ca.pem"],
                   "attest": ["type=provenance,disabled=true"]},
    },
}


def test_a_tiny_stack_exports_to_this_exact_document() -> None:
    assert json.loads(bake_json(TINY, "stacks/tiny")) == EXPECTED
    assert list(json.loads(bake_json(TINY))["target"]) == ["base", "app", "py_sdk"]


def test_bake_strings_are_never_interpolated() -> None:
    assert literal("${HOME} and %{if x}") == "$${HOME} and %%{if x}"
    assert literal("$HOME costs $5") == "$HOME costs $5"
    text = bake_json(graph_of([node("n", args=(("A", 'q"\n${X}'),))]))
    assert json.loads(text)["target"]["n"]["args"] == {"A": 'q"\n$${X}'}


def test_target_names_are_sanitised_unique_and_never_the_group() -> None:
    graph = graph_of([node("a.b"), node("a_b", image="x"), node("a+b", image="y"),
                      node("default", image="z"), node("ok-1_2", image="w")])
    assert target_names(graph) == {"a+b": "a_b", "a.b": "a_b_2", "a_b": "a_b_3",
                                   "default": "default_2", "ok-1_2": "ok-1_2"}


# --- the command ----------------------------------------------------------------------------------


def write_tiny(root: Path) -> None:
    folder = root / "stacks" / "tiny"
    for name in ("base", "child"):
        (folder / name).mkdir(parents=True)
        (folder / name / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    (folder / "stack.yaml").write_text(textwrap.dedent("""\
        stack: tiny
        registry: localhost:5000/t
        platforms: [linux/amd64]
        nodes:
          base: {kind: os, tag: "1"}
          child: {kind: sdk, parent: base, tag: "2", args: {V: "$PATH \\"q\\""}}
        """), encoding="utf-8")


def test_export_bake_writes_build_docker_bake_json_below_the_root(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_tiny(tmp_path)
    code = cli.main(["export", "bake", "--root", str(tmp_path), "--log-format", "json",
                     "--registry", "mirror.example:5000/ci"])
    assert code == 0
    path = tmp_path / "build" / "docker-bake.json"
    assert f"wrote {path} (2 targets)" in capsys.readouterr().out
    child = json.loads(path.read_text(encoding="utf-8"))["target"]["child"]
    assert child["tags"] == ["mirror.example:5000/ci/child:2"]
    assert child["contexts"] == {"parent": "target:base"}
    assert child["args"] == {"V": '$PATH "q"'}


def test_export_bake_honours_out(tmp_path: Path) -> None:
    write_tiny(tmp_path)
    out = tmp_path / "elsewhere" / "bake.json"
    assert cli.main(["export", "bake", "stacks/tiny", "--root", str(tmp_path), "--out", str(out),
                     "--log-format", "json"]) == 0
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["variable"]["STACKBUILD_EXPORT"]["default"].startswith(
        "written by `stackbuild export bake` from stacks/tiny")
