"""cli: a build context that would send what no build may (git's own files, a CI step's credential file) is
refused by every command that reads the contexts, at the node's line, with the same message, before anything
is built or written."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import commands as cli_commands
from engine.cli import draw
from engine.cli.main import main
from engine.run import api, publishing
from tests.engine.cli.clifakes import CheckedBuilder, installed_builder
from tests.engine.cli.contexts import COMMANDS, commands
from tests.engine.engine_fakes import FakeRegistry, write_stack

KEY = "stacks/t/mid/gha-creds-3f9c2b1a.json"  # google-github-actions/auth's service-account key


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> FakeRegistry:
    """Every RegistryClient the CLI makes is this in-memory registry."""
    fake = FakeRegistry()
    for module in (cli_commands, draw, api, publishing):
        monkeypatch.setattr(module, "RegistryClient", lambda: fake)
    return fake


@pytest.fixture
def builder(monkeypatch: pytest.MonkeyPatch, registry: FakeRegistry) -> CheckedBuilder:
    return installed_builder(monkeypatch, registry)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write_stack(tmp_path / "repo")
    (tmp_path / "repo" / KEY).write_text('{"type": "service_account"}\n', encoding="utf-8")
    return tmp_path / "repo"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_refuses_the_context_at_the_nodes_line(
        root: Path, tmp_path: Path, command: str, builder: CheckedBuilder, registry: FakeRegistry,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(commands(root, out)[command]) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        f"error: stacks/t/stack.yaml:7: node mid: build context {root / 'stacks/t/mid'} would send "
        "gha-creds-3f9c2b1a.json, a Google Cloud credential (google-github-actions/auth's key or token), "
        "which a `COPY .` would put in the image (add `gha-creds-3f9c2b1a.json` to the context's "
        ".dockerignore, or move it out of the context)\n")
    assert not [path for path in out.rglob("*") if path.is_file() and "state" not in path.parts]
    assert builder.order == [] and registry.events == []  # nothing built, nothing pushed


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_accepts_it_once_the_dockerignore_excludes_it(
        root: Path, tmp_path: Path, command: str, builder: CheckedBuilder,
        capsys: pytest.CaptureFixture[str]) -> None:
    (root / "stacks/t/mid/.dockerignore").write_text("gha-creds-*.json\n", encoding="utf-8")
    assert main(commands(root, tmp_path / "out")[command]) == 0, capsys.readouterr().err
    if command == "export meta":
        assert not list((tmp_path / "out" / "meta").rglob("gha-creds-*"))


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
