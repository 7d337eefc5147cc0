"""engine.run.contracts with fakes: the ymir-executor contract per platform, selection, report, the CLI."""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import engine.build.builder
from engine.cli import check
from engine.cli import main as cli
from engine.errors import SmokeTestError
from engine.registry.client import Manifest
from engine.run import contractdefs, contracts
from engine.run.contracts import (
    CONTRACTS,
    YMIR_FILES,
    Contract,
    ContractError,
    FileCheck,
    check_image,
    check_nodes,
    command_problems,
    contract_nodes,
    get_contract,
    register,
    report,
)
from graph.errors import StackError
from graph.expand.dag import graph_of
from graph.model.spec import Node

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
PLATFORMS = ("linux/amd64", "linux/arm64")
REF = "localhost:5000/t/ymir:1"
DIGEST = "sha256:" + "1" * 64
START = ["bash", "/usr/bin/start.sh"]
YMIR_MISSING = {check.requirement for check in YMIR_FILES}  # the checks as declared, for the registry test


@dataclass
class FakeImages:
    """An index per ref, an image config per platform."""

    configs: dict[str, dict[str, Any]] = field(default_factory=dict)  # platform → `config` object
    present: bool = True
    asked: list[tuple[str, str]] = field(default_factory=list)

    def manifest(self, reference: str) -> Manifest | None:
        if not self.present:
            return None
        entries = [{"digest": "sha256:" + hashlib.sha256(platform.encode()).hexdigest(),
                    "platform": dict(zip(("os", "architecture"), platform.split("/"), strict=True))}
                   for platform in self.configs]
        return Manifest(DIGEST, INDEX, {"manifests": entries})

    def image_config(self, reference: str, platform: str = "linux/amd64") -> dict[str, Any] | None:
        self.asked.append((reference, platform))
        return {"os": "linux", "architecture": platform.split("/")[1], "config": self.configs[platform]}


YMIR_IMAGE = {  # what a ymir executor image holds: path → mode
    "/bin/sh": 0o755, "/usr/bin/bash": 0o755, "/usr/bin/start.sh": 0o755,
    "/img-man/manifest.yaml": 0o644, "/img-man/training-template.yaml": 0o644,
}
SHELL_ONLY = {"/bin/sh": 0o755}


def without(image: dict[str, int], *paths: str) -> dict[str, int]:
    return {path: mode for path, mode in image.items() if path not in paths}


@dataclass
class FakeRunner:
    """Runs a probe "in an image": a real `sh` over a temporary copy of the image's file tree.

    The image is written out per platform (path → mode); the probe's absolute paths are re-rooted in
    that tree and PATH is its /usr/bin:/bin, so a probe passes only when it really finds the files.
    An image without /bin/sh cannot run `sh` at all.
    """

    images: dict[str, dict[str, int]] = field(default_factory=dict)  # platform → path → mode
    runs: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)
    entrypoints: set[str | None] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def smoke_test(self, node: str, image: str, platform: str, command: Sequence[str],
                   entrypoint: str | None = None) -> str:
        with self.lock:
            self.runs.append((image, platform, tuple(command)))
            self.entrypoints.add(entrypoint)
        files = self.images.get(platform, {})
        if command[0] != "sh" or "/bin/sh" not in files:
            raise SmokeTestError(node, platform, command,
                                 'exec: "sh": executable file not found in $PATH\n')
        with tempfile.TemporaryDirectory() as root:
            for path, mode in files.items():
                target = Path(root + path)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text("#!/bin/sh\n", encoding="utf-8")
                target.chmod(mode)
            script = re.sub(r"(^|[\s'\"])/", lambda m: f"{m.group(1)}{root}/", command[2])
            done = subprocess.run(["/bin/sh", "-c", script], env={"PATH": f"{root}/usr/bin:{root}/bin"},
                                  capture_output=True, text=True, check=False)
        if done.returncode:
            raise SmokeTestError(node, platform, command, done.stdout + done.stderr)
        return done.stdout


def good_configs(**config: Any) -> dict[str, dict[str, Any]]:
    return {platform: {"Cmd": START, **config} for platform in PLATFORMS}


YMIR = get_contract("ymir-executor")


# --- the registry of contracts ------------------------------------------------------------------


def test_ymir_contracts_are_registered() -> None:
    assert {"ymir-executor", "ymir-executor-training", "ymir-executor-infer", "ymir-executor-mining",
            "ymir-executor-tmi"} <= set(CONTRACTS)
    assert {"/img-man/manifest.yaml", "a hyper-parameter template /img-man/*-template.yaml",
            "an executable /usr/bin/start.sh", "bash (the default command runs it)"} == YMIR_MISSING
    tmi = {check.requirement for check in get_contract("ymir-executor-tmi").files} - YMIR_MISSING
    assert tmi == {"/img-man/training-template.yaml", "/img-man/mining-template.yaml",
                   "/img-man/infer-template.yaml"}
    assert get_contract("ymir-executor").default_command == ("bash", "/usr/bin/start.sh")


def test_an_unknown_contract_names_the_known_ones() -> None:
    with pytest.raises(ContractError, match="unknown image contract 'ymir'") as caught:
        get_contract("ymir")
    assert "ymir-executor" in caught.value.hint
    assert caught.value.exit_code == 2


def test_register_adds_a_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(contractdefs, "CONTRACTS", dict(CONTRACTS))
    mine = register(Contract("mine", "a test", (FileCheck("/x", ("sh", "-c", "test -f /x")),)))
    assert get_contract("mine") is mine


# --- default command ----------------------------------------------------------------------------


@pytest.mark.parametrize("config", [
    {"Cmd": START}, {"Cmd": ["/bin/bash", "/usr/bin/start.sh"]}, {"Entrypoint": START},
    {"Entrypoint": ["bash"], "Cmd": ["/usr/bin/start.sh"]},
    {"Cmd": ["/bin/sh", "-c", "bash  /usr/bin/start.sh"]},
])
def test_default_commands_that_run_start_sh(config: dict[str, Any]) -> None:
    assert command_problems(YMIR, config) == []


@pytest.mark.parametrize(("config", "found"), [
    ({"Cmd": ["bash"]}, "CMD ['bash']"), ({}, "no CMD"),
    ({"Cmd": ["bash", "/usr/bin/start.sh", "--x"]}, "CMD ['bash', '/usr/bin/start.sh', '--x']"),
    ({"Entrypoint": ["python3"], "Cmd": ["app.py"]}, "ENTRYPOINT ['python3'] CMD ['app.py']"),
    ({"Cmd": ["/bin/sh", "-c", "python3 app.py"]}, "CMD ['/bin/sh', '-c', 'python3 app.py']"),
])
def test_other_default_commands_are_reported(config: dict[str, Any], found: str) -> None:
    assert command_problems(YMIR, config) == [
        f"default command `bash /usr/bin/start.sh` (the image has {found})"]


@pytest.mark.parametrize(("config", "found"), [
    ({"Cmd": ["/bin/sh", "-c", "bash '/usr/bin/start.sh"]},
     "CMD ['/bin/sh', '-c', \"bash '/usr/bin/start.sh\"]"),
    ({"Cmd": "bash /usr/bin/start.sh"}, "CMD ['bash /usr/bin/start.sh']"),
    ({"Entrypoint": {"x": 1}}, "ENTRYPOINT [\"{'x': 1}\"] no CMD"),
])
def test_malformed_default_commands_are_reported_not_crashed_on(config: dict[str, Any], found: str) -> None:
    assert command_problems(YMIR, config) == [
        f"default command `bash /usr/bin/start.sh` (the image has {found})"]


def test_an_image_config_that_is_not_an_object_misses_the_command() -> None:
    images = FakeImages({platform: ["not", "an", "object"] for platform in PLATFORMS})  # type: ignore[arg-type]
    result = check_image(YMIR, REF, FakeRunner(dict.fromkeys(PLATFORMS, YMIR_IMAGE)), images)
    assert [p.missing for p in result.platforms] == [
        ("default command `bash /usr/bin/start.sh` (the image has no CMD)",)] * 2


def test_a_contract_without_a_default_command_accepts_any() -> None:
    assert command_problems(Contract("free", "any command"), {"Cmd": ["x"]}) == []


# --- check_image --------------------------------------------------------------------------------


def test_an_image_meeting_the_contract_is_ok_on_every_platform() -> None:
    images = FakeImages(good_configs())
    runner = FakeRunner(dict.fromkeys(PLATFORMS, YMIR_IMAGE))
    result = check_image("ymir-executor", REF, runner, images, node="ymir")
    assert result.ok
    assert [(p.platform, p.missing) for p in result.platforms] == [(p, ()) for p in PLATFORMS]
    assert result.digest == DIGEST
    assert {image for image, _, _ in runner.runs} == {f"localhost:5000/t/ymir@{DIGEST}"}
    assert {platform for _, platform, _ in runner.runs} == set(PLATFORMS)
    assert len(runner.runs) == 2 * 5  # a shell probe, then one run per file check (four)
    assert ("localhost:5000/t/ymir@" + DIGEST, "linux/arm64") in images.asked


def test_what_one_platform_misses_is_reported_for_that_platform_only() -> None:
    runner = FakeRunner({"linux/amd64": YMIR_IMAGE,
                         "linux/arm64": without(YMIR_IMAGE, "/img-man/training-template.yaml")})
    result = check_image(YMIR, REF, runner, FakeImages(good_configs()))
    assert not result.ok
    assert dict((p.platform, p.missing) for p in result.platforms) == {
        "linux/amd64": (), "linux/arm64": ("a hyper-parameter template /img-man/*-template.yaml",)}


@pytest.mark.parametrize(("image", "missing"), [
    (without(YMIR_IMAGE, "/img-man/manifest.yaml"), "/img-man/manifest.yaml"),
    ({**YMIR_IMAGE, "/usr/bin/start.sh": 0o644}, "an executable /usr/bin/start.sh"),
    (without(YMIR_IMAGE, "/usr/bin/start.sh"), "an executable /usr/bin/start.sh"),
    (without(YMIR_IMAGE, "/usr/bin/bash"), "bash (the default command runs it)"),
    ({**without(YMIR_IMAGE, "/img-man/training-template.yaml"), "/img-man/template.yaml": 0o644},
     "a hyper-parameter template /img-man/*-template.yaml"),
])
def test_each_missing_piece_of_an_image_is_found_by_its_probe(image: dict[str, int], missing: str) -> None:
    result = check_image(YMIR, REF, FakeRunner({"linux/amd64": image}), FakeImages(good_configs()),
                         platforms=("linux/amd64",))
    assert [(p.platform, p.missing) for p in result.platforms] == [("linux/amd64", (missing,))]


def test_a_tmi_image_needs_all_three_templates() -> None:
    runner = FakeRunner({"linux/amd64": {**YMIR_IMAGE, "/img-man/infer-template.yaml": 0o644}})
    result = check_image("ymir-executor-tmi", REF, runner, FakeImages(good_configs()),
                         platforms=("linux/amd64",))
    assert [p.missing for p in result.platforms] == [("/img-man/mining-template.yaml",)]


def test_a_wrong_command_and_missing_files_are_all_listed() -> None:
    images = FakeImages({platform: {"Cmd": ["bash"]} for platform in PLATFORMS})
    runner = FakeRunner(dict.fromkeys(PLATFORMS, SHELL_ONLY))
    result = check_image(YMIR, REF, runner, images)
    assert [p.platform for p in result.platforms] == list(PLATFORMS)
    for platform in result.platforms:
        assert platform.missing[0] == "default command `bash /usr/bin/start.sh` (the image has CMD ['bash'])"
        assert set(platform.missing[1:]) == {
            "/img-man/manifest.yaml", "a hyper-parameter template /img-man/*-template.yaml",
            "an executable /usr/bin/start.sh", "bash (the default command runs it)"}


def test_an_image_without_a_shell_says_so_once_per_platform() -> None:
    result = check_image(YMIR, REF, FakeRunner(), FakeImages(good_configs()))
    assert [p.platform for p in result.platforms] == list(PLATFORMS)
    for platform in result.platforms:
        assert platform.missing == ('a shell to check files with: `sh -c` does not run '
                                    '(exec: "sh": executable file not found in $PATH)',)


def test_an_entrypoint_is_skipped_for_the_file_checks() -> None:
    runner = FakeRunner(dict.fromkeys(PLATFORMS, YMIR_IMAGE))
    images = FakeImages({platform: {"Entrypoint": START} for platform in PLATFORMS})
    result = check_image(YMIR, REF, runner, images)
    assert runner.runs != []
    assert runner.entrypoints == {""}
    assert [(p.platform, p.missing) for p in result.platforms] == [(p, ()) for p in PLATFORMS]


def test_an_image_missing_from_the_registry_fails() -> None:
    result = check_image(YMIR, REF, FakeRunner(), FakeImages(present=False), node="ymir")
    assert not result.ok
    assert result.problem == contracts.NOT_PUBLISHED
    assert result.platforms == ()


def test_a_platform_the_node_wants_but_the_index_lacks_is_missing() -> None:
    images = FakeImages({"linux/amd64": {"Cmd": START}})
    runner = FakeRunner({"linux/amd64": YMIR_IMAGE})
    result = check_image(YMIR, REF, runner, images, platforms=PLATFORMS)
    assert dict((p.platform, p.missing) for p in result.platforms) == {
        "linux/amd64": (), "linux/arm64": ("the linux/arm64 image (the index has linux/amd64)",)}


# --- nodes, report, CLI -------------------------------------------------------------------------


def node(name: str, contract: str = "", parent: str | None = None) -> Node:
    return Node(name=name, stack="t", kind="llm" if parent else "os", parent=parent,
                dockerfile=f"t/{name}/Dockerfile", context=f"t/{name}", registry="localhost:5000/t",
                image=name,
                tag="1", platforms=PLATFORMS, contract=contract, definition=name.split("-")[0])


def test_contract_nodes_selects_by_name_or_definition() -> None:
    graph = graph_of([node("os"), node("ymir-a", "ymir-executor", "os"),
                      node("ymir-b", "ymir-executor", "os"),
                      node("plain", parent="os")])
    assert [n.name for n in contract_nodes(graph)] == ["ymir-a", "ymir-b"]
    assert [n.name for n in contract_nodes(graph, ["*-b", "plain"])] == ["ymir-b"]
    assert [n.name for n in contract_nodes(graph, ["ymir"])] == ["ymir-a", "ymir-b"]  # the definition
    with pytest.raises(StackError, match="no node matches 'nope'"):
        contract_nodes(graph, ["nope"])


def test_check_nodes_refuses_an_unknown_contract_before_running_anything() -> None:
    runner = FakeRunner()
    with pytest.raises(ContractError):
        check_nodes([node("a", "ymir-executor"), node("b", "nope")], runner, FakeImages(good_configs()))
    assert runner.runs == []


def test_report_lists_what_is_missing_per_platform() -> None:
    images = FakeImages(good_configs())
    good = check_image(YMIR, REF, FakeRunner(dict.fromkeys(PLATFORMS, YMIR_IMAGE)), images, node="good")
    bad = check_image(YMIR, REF, FakeRunner(dict.fromkeys(PLATFORMS, SHELL_ONLY)), images, node="bad")
    gone = check_image(YMIR, REF, FakeRunner(), FakeImages(present=False), node="gone")
    lines = report([good, bad, gone]).splitlines()
    assert lines[0] == f"good  ymir-executor  {REF}"
    assert lines[1].split() == ["linux/amd64", "ok"]
    assert lines[3] == f"bad  ymir-executor  {REF}"
    assert lines[4].split() == ["linux/amd64", "missing:"]
    assert lines[5] == "    - /img-man/manifest.yaml"
    assert lines[-2] == f"  missing: {contracts.NOT_PUBLISHED}"
    assert lines[-1] == "2 of 3 image(s) miss their contract"
    assert report([good]).splitlines()[-1] == "all 1 image(s) meet their contracts"


def write_stack(root: Path, contract: str) -> None:
    folder = root / "stacks" / "t"
    for name in ("os", "app"):
        (folder / name).mkdir(parents=True)
        (folder / name / "Dockerfile").write_text("FROM scratch\n" if name == "os" else "FROM parent\n")
    (folder / "stack.yaml").write_text(
        "stack: t\nregistry: localhost:5000/t\nnodes:\n  os: {kind: os, tag: '1'}\n"
        f"  app: {{kind: llm, parent: os, tag: '1'{', contract: ' + contract if contract else ''}}}\n")


def test_cli_check_exit_1_and_the_report_when_an_image_misses(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    write_stack(tmp_path, "ymir-executor")
    images, runner = FakeImages(good_configs()), FakeRunner({"linux/amd64": YMIR_IMAGE})

    class Builder:
        def check(self) -> str:
            return "fake"

        smoke_test = runner.smoke_test

    monkeypatch.setattr(engine.build.builder, "BuildxBuilder", Builder)
    monkeypatch.setattr(check, "RegistryClient", lambda: images)
    assert cli.main(["check", "--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "app  ymir-executor  localhost:5000/t/app:1" in out
    assert "linux/arm64  missing:" in out and "1 of 1 image(s) miss their contract" in out
    runner.images["linux/arm64"] = YMIR_IMAGE
    assert cli.main(["check", "--root", str(tmp_path), "--select", "app"]) == 0


def test_cli_check_without_contracts_runs_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_stack(tmp_path, "")
    assert check.run(argparse.Namespace(root=str(tmp_path), targets=[], registry="", state_dir=".state",
                                        select=[])) == 0
    assert capsys.readouterr().out.startswith("no selected node declares a contract")


def test_cli_check_unknown_contract_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_stack(tmp_path, "ymir")
    assert cli.main(["check", "--root", str(tmp_path)]) == 2
    assert "unknown image contract 'ymir'" in capsys.readouterr().err
