"""Per-platform requests: the builder and the staging push in the buildx command line, context builders."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from python_on_whales import DockerClient

from engine.build import dockercmd
from engine.build.buildx_args import buildx_argv, buildx_kwargs, platform_push
from engine.build.request import BuildRequest, UnsafeBuildValue, build_request, cache_flags
from graph.model.spec import Node

NODE = Node(name="os", stack="s", kind="os", parent=None, registry="localhost:5000/s", image="os", tag="1",
            dockerfile=Path("os/Dockerfile"), context=Path("os"), platforms=("linux/amd64", "linux/arm64"))
STAGING = "localhost:5000/s/os:sb-" + "ab" * 32 + "-linux-arm64"


def one_platform() -> BuildRequest:
    request = replace(build_request(NODE, Path("/repo")), platforms=("linux/arm64",))
    return platform_push(request, STAGING, "arm-1")


def test_a_platform_push_names_its_builder_and_pushes_its_staging_tag_only() -> None:
    argv = buildx_argv(one_platform())
    assert argv[:5] == ["docker", "buildx", "build", "--builder", "arm-1"]
    assert argv[argv.index("--output") + 1] == f"type=image,name={STAGING},push=true"
    assert "--tag" not in argv and "--push" not in argv
    assert argv[argv.index("--platform") + 1] == "linux/arm64"


def test_a_platform_push_refuses_a_reference_that_would_split_the_output_spec() -> None:
    with pytest.raises(UnsafeBuildValue, match="contains ','"):
        platform_push(build_request(NODE, Path("/repo")), STAGING + ",push=false", "arm-1")


def test_the_platforms_of_a_node_keep_separate_caches() -> None:
    amd, arm, whole = (cache_flags(NODE, "registry", None, p)[1] for p in ("linux/amd64", "linux/arm64", ""))
    assert len({amd, arm, whole}) == 3
    assert whole == cache_flags(NODE, "registry")[1]  # a whole-node build keeps its cache ref


def commands_with(contexts: dict[str, bool]) -> dockercmd.DockerCommands:
    commands = dockercmd.DockerCommands(lambda: DockerClient(client_call=["docker"]))
    commands._contexts.update(contexts)  # no `docker context inspect` in a unit test
    return commands


def test_a_docker_contexts_builder_runs_on_docker_context_without_builder_flag(tmp_path: Path) -> None:
    commands = commands_with({"arm-1": True})
    argv = commands.argv(one_platform(), tmp_path / "m.json")
    assert Path(argv[0]).name == "docker" and argv[1:5] == ["--context", "arm-1", "buildx", "build"]
    assert "--builder" not in argv
    assert commands.shown(one_platform())[:5] == ["docker", "--context", "arm-1", "buildx", "build"]


def test_a_buildx_builder_is_named_with_builder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dockercmd, "find_buildx", lambda docker: "")  # no plugin program found
    argv = commands_with({"arm-1": False}).argv(one_platform(), tmp_path / "m.json")
    assert Path(argv[0]).name == "docker" and argv[1:5] == ["buildx", "build", "--builder", "arm-1"]


def test_a_found_plugin_program_runs_the_build_without_the_docker_cli(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dockercmd, "find_buildx", lambda docker: "/plugins/docker-buildx")
    commands = commands_with({"arm-1": False, "ctx-1": True})
    argv = commands.argv(one_platform(), tmp_path / "m.json")
    assert argv[:4] == ["/plugins/docker-buildx", "build", "--builder", "arm-1"]
    assert argv[-1] == "/repo/os" and argv[argv.index("--metadata-file") + 1] == str(tmp_path / "m.json")
    assert commands.shown(one_platform())[:3] == ["docker", "buildx", "build"]  # the equivalent command
    on_context = commands.argv(replace(one_platform(), builder="ctx-1"), tmp_path / "m.json")
    assert Path(on_context[0]).name == "docker"
    assert on_context[1:5] == ["--context", "ctx-1", "buildx", "build"]


def test_python_on_whales_keywords_carry_the_builder_and_the_output(tmp_path: Path) -> None:
    kwargs = buildx_kwargs(one_platform(), tmp_path / "m.json")
    assert kwargs["builder"] == "arm-1" and kwargs["push"] is False
    assert kwargs["output"] == {"type": "image", "name": STAGING, "push": "true"}
