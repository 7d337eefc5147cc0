"""cli: a credential file an environment variable names is refused by the commands that read the build
contexts, as a credential file's well-known name is (builds send them; plan, graph, explain, the exports,
publish and prune fingerprint them); `lint`, `check`, `sign` and `verify` read none and refuse neither."""

from __future__ import annotations

from pathlib import Path

import pytest

import engine.build.localstore
from engine.cli import commands as cli_commands
from engine.cli import draw, signing
from engine.cli import prune as prune_cli
from engine.cli.main import main
from engine.run import api, publishing, reproduce
from tests.engine.cli.clifakes import CheckedBuilder, installed_builder
from tests.engine.engine_fakes import write_stack
from tests.engine.run.prunable import Prunable

LOGIN = '{"auths": {"registry.example": {"auth": "dXNlcjpzZWNyZXQ="}}}\n'
SENT = ("would send config.json, docker's configuration folder, with its registry logins and TLS private "
        "keys, named by DOCKER_CONFIG")


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Prunable:
    """The in-memory registry every command uses."""
    fake = Prunable()
    fake.close = lambda: None  # type: ignore[method-assign]
    for module in (cli_commands, draw, api, publishing, signing, prune_cli, reproduce):
        monkeypatch.setattr(module, "RegistryClient", lambda: fake)
    return fake


@pytest.fixture
def builder(monkeypatch: pytest.MonkeyPatch, registry: Prunable) -> CheckedBuilder:
    """The builder of every command (and of `build --load`, over a local store it never reaches)."""
    fake = installed_builder(monkeypatch, registry)
    fake.for_local_store = lambda: fake  # type: ignore[attr-defined]
    fake.docker = None  # type: ignore[attr-defined]
    monkeypatch.setattr(engine.build.localstore, "LocalStore", lambda docker: registry)
    return fake


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, builder: CheckedBuilder) -> Path:
    """The tiny stack, built and published with a config.json in mid's context (a file like any other);
    then DOCKER_CONFIG names mid's context (`docker login` would write there)."""
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    repo = tmp_path / "repo"
    write_stack(repo)
    (repo / "stacks/t/mid/config.json").write_text(LOGIN, encoding="utf-8")
    assert main(["build", "--no-test", *common(repo)]) == 0
    assert builder.order
    builder.order.clear()
    monkeypatch.setenv("DOCKER_CONFIG", str(repo / "stacks/t/mid"))
    return repo


def common(root: Path) -> list[str]:
    return ["--root", str(root), "--state-dir", str(root.parent / "state"), "--log-format", "json"]


def key(root: Path, name: str, mode: int) -> str:
    path = root.parent / name
    path.write_text("key\n", encoding="utf-8")
    path.chmod(mode)
    return str(path)


@pytest.mark.parametrize("command", ["lint", "check"])
def test_a_command_reading_no_context_does_not_refuse_it(
        root: Path, command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, *common(root)]) == 0, capsys.readouterr().err
    assert SENT not in capsys.readouterr().err


def test_sign_does_not_refuse_it(root: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    signed: list[str] = []
    monkeypatch.setattr(signing, "sign_nodes", lambda nodes, path: signed.extend(n.name for n in nodes) or [])
    assert main(["sign", "--key", key(root, "cosign.key", 0o600), *common(root)]) == 0, \
        capsys.readouterr().err
    assert sorted(signed) == ["base", "leaf", "mid", "other", "side"]


def test_verify_does_not_refuse_it(root: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(signing.supply, "verify", lambda graph, nodes, *rest: [])
    assert main(["verify", "--key", key(root, "cosign.pub", 0o644), *common(root)]) == 0, \
        capsys.readouterr().err
    assert capsys.readouterr().out == "0 verified, 0 failed\n"


@pytest.mark.parametrize("command", [
    ["build", "--load", "--no-test"], ["build", "--check-reproducible", "mid"], ["publish"], ["prune"]])
def test_the_commands_reading_the_contexts_still_refuse_it(
        root: Path, command: list[str], builder: CheckedBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command, *common(root)]) == 2
    assert SENT in capsys.readouterr().err
    assert builder.order == []
