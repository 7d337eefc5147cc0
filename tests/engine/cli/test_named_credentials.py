"""cli: a credential file an environment variable names inside the repository (DOCKER_CONFIG=. writes
./config.json on `docker login`; KUBECONFIG, NETRC, ... name a file of any name) is refused from every
build context that would send it, at the node's line, naming the variable and how to fix it."""

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

VARIABLES = ("DOCKER_CONFIG", "GOOGLE_APPLICATION_CREDENTIALS", "AWS_SHARED_CREDENTIALS_FILE", "KUBECONFIG",
             "NETRC", "REGISTRY_AUTH_FILE", "AWS_CONFIG_FILE")
LOGIN = '{"auths": {"registry.example": {"auth": "dXNlcjpzZWNyZXQ="}}}\n'


@pytest.fixture
def builder(monkeypatch: pytest.MonkeyPatch) -> CheckedBuilder:
    """The builder of every command, over the in-memory registry every command uses."""
    registry = FakeRegistry()
    for module in (cli_commands, draw, api, publishing):
        monkeypatch.setattr(module, "RegistryClient", lambda: registry)
    return installed_builder(monkeypatch, registry)


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_stack(tmp_path / "repo")
    for variable in VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    return tmp_path / "repo"


def refusal(root: Path, relative: str, what: str, variable: str) -> str:
    context = root / "stacks/t/mid"
    return (f"error: stacks/t/stack.yaml:7: node mid: build context {context} would send {relative}, {what}, "
            f"named by {variable}, which a `COPY .` would put in the image (add `{relative}` to the "
            f"context's .dockerignore, or move {variable} out of the repository)\n")


@pytest.mark.parametrize("command", COMMANDS)
def test_docker_config_dot_in_a_context_refuses_its_config_json_in_every_command(
        root: Path, tmp_path: Path, command: str, builder: CheckedBuilder, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(root / "stacks/t/mid")
    monkeypatch.setenv("DOCKER_CONFIG", ".")  # `docker login` wrote ./config.json
    (root / "stacks/t/mid/config.json").write_text(LOGIN, encoding="utf-8")
    assert main(commands(root, tmp_path / "out")[command]) == 2
    assert capsys.readouterr().err == refusal(
        root, "config.json", "docker's stored registry logins (`docker login`)", "DOCKER_CONFIG")
    assert builder.order == []


@pytest.mark.parametrize("command", COMMANDS)
def test_it_is_accepted_once_the_dockerignore_excludes_it(
        root: Path, tmp_path: Path, command: str, builder: CheckedBuilder, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(root / "stacks/t/mid"))
    (root / "stacks/t/mid/config.json").write_text(LOGIN, encoding="utf-8")
    (root / "stacks/t/mid/.dockerignore").write_text("config.json\n", encoding="utf-8")
    assert main(commands(root, tmp_path / "out")[command]) == 0, capsys.readouterr().err


def test_a_config_json_where_docker_config_does_not_point_is_a_file_like_any_other(
        root: Path, tmp_path: Path, builder: CheckedBuilder, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(root))  # the repository's top: no context sends its config.json
    (root / "config.json").write_text(LOGIN, encoding="utf-8")
    (root / "stacks/t/mid/config.json").write_text('{"app": "settings"}\n', encoding="utf-8")
    assert main(commands(root, tmp_path / "out")["build"]) == 0, capsys.readouterr().err
    assert builder.order


def test_every_file_of_a_docker_config_folder_inside_a_context_is_refused(
        root: Path, tmp_path: Path, builder: CheckedBuilder, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    tls = root / "stacks/t/mid/.ci-docker/contexts/tls/3f9c"  # a docker context's TLS key, no config.json
    tls.mkdir(parents=True)
    (tls / "key.pem").write_text("-----BEGIN PRIVATE KEY-----\n", encoding="utf-8")
    monkeypatch.setenv("DOCKER_CONFIG", str(root / "stacks/t/mid/.ci-docker"))
    assert main(commands(root, tmp_path / "out")["build"]) == 2
    assert capsys.readouterr().err == refusal(
        root, ".ci-docker/contexts/tls/3f9c/key.pem", "docker's stored registry logins (`docker login`)",
        "DOCKER_CONFIG")
    assert builder.order == []


@pytest.mark.parametrize(("variable", "what"), [
    ("GOOGLE_APPLICATION_CREDENTIALS", "a Google Cloud credential"),
    ("AWS_SHARED_CREDENTIALS_FILE", "AWS access keys"),
    ("KUBECONFIG", "a Kubernetes cluster login (kubeconfig)"),
    ("NETRC", "stored logins for curl, git and pip (.netrc)"),
    ("REGISTRY_AUTH_FILE", "registry logins of podman, buildah and skopeo (auth.json)"),
    ("AWS_CONFIG_FILE", "an AWS configuration, which may hold access keys"),
])
def test_a_credential_file_a_variable_names_is_refused_whatever_its_name(
        root: Path, tmp_path: Path, builder: CheckedBuilder, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], variable: str, what: str) -> None:
    (root / "stacks/t/mid/ci-login.txt").write_text("secret\n", encoding="utf-8")
    named = str(root / "stacks/t/mid/ci-login.txt")
    monkeypatch.setenv(variable, f"{tmp_path / 'elsewhere'}:{named}" if variable == "KUBECONFIG" else named)
    assert main(commands(root, tmp_path / "out")["build"]) == 2
    assert capsys.readouterr().err == refusal(root, "ci-login.txt", what, variable)
    assert builder.order == []


def test_the_private_key_build_sign_names_is_refused_from_a_context(
        root: Path, tmp_path: Path, builder: CheckedBuilder, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # `cosign generate-key-pair` writes cosign.key in the current folder: a context sending it would put
    # the key that signs every image into the images it signs
    key = root / "stacks/t/mid/cosign.key"
    key.write_text("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n", encoding="utf-8")
    key.chmod(0o600)
    assert main([*commands(root, tmp_path / "out")["build"], "--sign", str(key)]) == 2
    assert capsys.readouterr().err == refusal(root, "cosign.key", "the cosign private key", "--sign")
    assert builder.order == []
