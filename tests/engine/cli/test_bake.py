"""engine.cli.bake: a stack as docker-bake.json, the exact document for a tiny stack, escaping, names."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from engine.cli import main as cli
from engine.cli.bake import bake_json, literal, target_names
from graph.expand.dag import graph_of
from graph.model.secrets import REPOSITORY_ONLY, SecretPolicy
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

HERE = Path("/repo")
CA_ALLOWED = SecretPolicy(allowed=(Path("/etc/ssl/ca.pem"),), envs=("TOKEN",))  # py.sdk's file, base's $TOKEN
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
    assert json.loads(bake_json(TINY, HERE, CA_ALLOWED, "stacks/tiny")) == EXPECTED
    assert list(json.loads(bake_json(TINY, HERE, CA_ALLOWED))["target"]) == ["base", "app", "py_sdk"]


def test_bake_strings_are_never_interpolated() -> None:
    assert literal("${HOME} and %{if x}") == "$${HOME} and %%{if x}"
    assert literal("$HOME costs $5") == "$HOME costs $5"
    text = bake_json(graph_of([node("n", args=(("A", 'q"\n${X}'),))]), HERE, REPOSITORY_ONLY)
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


# --- secrets: the operator's policy, as for build ------------------------------------------------


def write_with_secrets(root: Path, host_file: Path) -> None:
    """The tiny stack; base reads host_file and the repository's own stacks/tiny/base/ca.pem, child $TOK."""
    write_tiny(root)
    (root / "stacks/tiny/base/ca.pem").write_text("not a real bundle\n", encoding="utf-8")
    stack = root / "stacks/tiny/stack.yaml"
    secrets = f"[{{id: host, src: {host_file}}}, {{id: ca, src: base/ca.pem}}]"
    text = stack.read_text(encoding="utf-8").replace(
        'base: {kind: os, tag: "1"}', f'base: {{kind: os, tag: "1", secrets: {secrets}}}')
    stack.write_text(text.replace('tag: "2",', 'tag: "2", secrets: [{id: tok, env: TOK}],'), encoding="utf-8")


@pytest.fixture
def host_file(tmp_path: Path) -> Path:
    path = tmp_path / "host" / "credentials.json"
    path.parent.mkdir()
    path.write_text("{}\n", encoding="utf-8")
    return path


def export_secrets(root: Path, *flags: str) -> int:
    return cli.main(["export", "bake", "--root", str(root), "--log-format", "json", *flags])


def test_export_bake_refuses_a_host_secret_file_the_operator_did_not_allow(
        tmp_path: Path, host_file: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """bake hands the file to buildx as `build` would: the same operator policy, checked before writing."""
    monkeypatch.delenv("STACKBUILD_SECRET_DIRS", raising=False)
    repo = tmp_path / "repo"
    write_with_secrets(repo, host_file)
    assert export_secrets(repo) == 2
    error = capsys.readouterr().err
    assert f"error: stacks/tiny/stack.yaml:5: node base: secret 'host' reads the host file {host_file}, " \
           "which lies outside the repository and outside every path the operator allowed (if this run " \
           f"may hand that file to builds, allow it with --secret-src-allow {host_file} (or its folder; " \
           "env STACKBUILD_SECRET_DIRS, ':'-separated); or build with --no-secrets)" in error
    assert not (repo / "build").exists()


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_export_bake_writes_an_allowed_host_file_and_repository_files_from_the_root(
        tmp_path: Path, host_file: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """A relative `src:` is read from its stack file's folder; bake runs at the repository root."""
    monkeypatch.delenv("STACKBUILD_SECRET_DIRS", raising=False)
    monkeypatch.delenv("STACKBUILD_SECRET_ENVS", raising=False)
    if how == "environment":
        monkeypatch.setenv("STACKBUILD_SECRET_DIRS", str(host_file.parent))
        monkeypatch.setenv("STACKBUILD_SECRET_ENVS", "TOK")
    repo = tmp_path / "repo"
    write_with_secrets(repo, host_file)
    flags = ["--secret-src-allow", str(host_file), "--secret-env-allow", "TOK"] if how == "flag" else []
    assert export_secrets(repo, *flags) == 0
    targets = json.loads((repo / "build/docker-bake.json").read_text(encoding="utf-8"))["target"]
    assert targets["base"]["secret"] == ["id=ca,src=stacks/tiny/base/ca.pem", f"id=host,src={host_file}"]
    assert targets["child"]["secret"] == ["id=tok,env=TOK"]


def test_export_bake_no_secrets_writes_none(tmp_path: Path, host_file: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STACKBUILD_SECRET_DIRS", raising=False)
    repo = tmp_path / "repo"
    write_with_secrets(repo, host_file)
    assert export_secrets(repo, "--no-secrets") == 0
    targets = json.loads((repo / "build/docker-bake.json").read_text(encoding="utf-8"))["target"]
    assert [name for name, target in targets.items() if "secret" in target] == []
