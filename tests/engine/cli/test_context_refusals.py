"""cli: a build context that would send what no build may (git's own files, a CI step's credential file) is
refused by every command that reads the contexts, at the node's line, with the same message, before anything
is built or written."""

from __future__ import annotations

from pathlib import Path

import pytest

import engine.build.builder
from engine.cli import commands as cli_commands
from engine.cli import draw
from engine.cli.main import main
from engine.run import api, publishing
from tests.engine.engine_fakes import FakeBuilder, FakeRegistry, write_stack

COMMANDS = ["plan", "explain", "build", "graph", "export meta", "export bake"]


def commands(root: Path, out: Path) -> dict[str, list[str]]:
    common = ["--root", str(root), "--state-dir", str(out / "state"), "--log-format", "json"]
    return {
        "plan": ["plan", *common],
        "explain": ["explain", "--node", "leaf", *common],
        "build": ["build", "--no-test", *common],
        "graph": ["graph", "--format", "mermaid", "--out", str(out / "graph.mmd"), *common],
        "export meta": ["export", "meta", "--out", str(out / "meta"), *common],
        "export bake": ["export", "bake", "--out", str(out / "bake.json"), *common],
    }


class CheckedBuilder(FakeBuilder):
    """The fake builder with the engine check the build command runs first."""

    def check(self) -> str:
        return "github.com/docker/buildx v0.0.0-fake"


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> FakeRegistry:
    """Every RegistryClient the CLI makes is this in-memory registry."""
    fake = FakeRegistry()
    for module in (cli_commands, draw, api, publishing):
        monkeypatch.setattr(module, "RegistryClient", lambda: fake)
    return fake


@pytest.fixture
def builder(monkeypatch: pytest.MonkeyPatch, registry: FakeRegistry) -> CheckedBuilder:
    fake = CheckedBuilder(registry)
    monkeypatch.setattr(engine.build.builder, "BuildxBuilder", lambda: fake)
    return fake


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_refuses_a_context_sending_git_metadata_at_the_nodes_line(
        tmp_path: Path, command: str, builder: CheckedBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    # export bake wrote a file whose build sent .git/config; export meta named no stack file
    root = tmp_path / "repo"
    write_stack(root)
    (root / "stacks/t/side/.git").mkdir()
    (root / "stacks/t/side/.git/config").write_text("[http]\n", encoding="utf-8")
    assert main(commands(root, tmp_path / "out")[command]) == 2
    assert capsys.readouterr().err.startswith(
        f"error: stacks/t/stack.yaml:8: node side: build context {root / 'stacks/t/side'} would send .git/ ")
    assert builder.order == []
