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
             "NETRC", "REGISTRY_AUTH_FILE", "AWS_CONFIG_FILE", "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE",
             "GIT_CONFIG_GLOBAL", "NPM_CONFIG_USERCONFIG", "npm_config_userconfig", "CLOUDSDK_CONFIG",
             "AZURE_CONFIG_DIR", "GH_CONFIG_DIR", "DOCKER_CERT_PATH", "PIP_CONFIG_FILE",
             "HELM_REGISTRY_CONFIG", "SOPS_AGE_KEY_FILE", "BUILDX_CONFIG")
GIT_GLOBAL = "git's global configuration, which may hold tokens (url.<base>.insteadOf, http.extraHeader)"
NPM_USER = "npm's user configuration, which holds registry tokens (.npmrc)"
FOLDERS = {  # variable: (what, its credential file, a file of it that is none)
    "CLOUDSDK_CONFIG": ("gcloud's configuration folder, with its stored logins and tokens", "credentials.db",
                        "active_config"),
    "AZURE_CONFIG_DIR": ("the Azure CLI's configuration folder, with its tokens and secrets",
                         "msal_token_cache.json", "azureProfile.json"),
    "GH_CONFIG_DIR": ("the GitHub CLI's configuration folder, with its tokens (hosts.yml)", "hosts.yml",
                      "config.yml"),
    "DOCKER_CERT_PATH": ("docker's TLS client certificates, with their private key", "key.pem", "ca.pem"),
}
DOCKER_FOLDER = "docker's configuration folder, with its registry logins and TLS private keys"
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
        root, "config.json", DOCKER_FOLDER, "DOCKER_CONFIG")
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


@pytest.mark.parametrize("key", [
    "contexts/tls/0123abcd/docker/key.pem",  # a docker context's TLS client key (`docker context create`)
    "buildx/certs/myreg/key.pem",  # a builder's registry keypair, from buildkitd.toml's [registry."myreg"]
])
def test_dockers_tls_keys_in_a_docker_config_at_a_contexts_top_are_refused(
        root: Path, tmp_path: Path, builder: CheckedBuilder, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], key: str) -> None:
    (root / "stacks/t/mid" / key).parent.mkdir(parents=True)
    (root / "stacks/t/mid" / key).write_text("-----BEGIN PRIVATE KEY-----\n", encoding="utf-8")
    monkeypatch.setenv("DOCKER_CONFIG", str(root / "stacks/t/mid"))  # no config.json there
    assert main(commands(root, tmp_path / "out")["plan --offline"]) == 2
    assert capsys.readouterr().err == refusal(root, key, DOCKER_FOLDER, "DOCKER_CONFIG")


def test_docker_configs_other_folders_at_a_contexts_top_are_files_like_any_other(
        root: Path, tmp_path: Path, builder: CheckedBuilder, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("contexts/meta/0123abcd/meta.json", "buildx/instances/mybuilder"):  # endpoints, no keys
        (root / "stacks/t/mid" / name).parent.mkdir(parents=True)
        (root / "stacks/t/mid" / name).write_text("{}\n", encoding="utf-8")
    monkeypatch.setenv("DOCKER_CONFIG", str(root / "stacks/t/mid"))
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
        root, ".ci-docker/contexts/tls/3f9c/key.pem", DOCKER_FOLDER, "DOCKER_CONFIG")
    assert builder.order == []


@pytest.mark.parametrize(("variable", "what"), [
    ("GOOGLE_APPLICATION_CREDENTIALS", "a Google Cloud credential"),
    ("AWS_SHARED_CREDENTIALS_FILE", "AWS access keys"),
    ("KUBECONFIG", "a Kubernetes cluster login (kubeconfig)"),
    ("NETRC", "stored logins for curl, git and pip (.netrc)"),
    ("REGISTRY_AUTH_FILE", "registry logins of podman, buildah and skopeo (auth.json)"),
    ("AWS_CONFIG_FILE", "an AWS configuration, which may hold access keys"),
    ("CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE", "a Google Cloud credential"),
    ("GIT_CONFIG_GLOBAL", GIT_GLOBAL),
    ("NPM_CONFIG_USERCONFIG", NPM_USER),
    ("npm_config_userconfig", NPM_USER),  # npm reads its variables in either case
    # a private index's token in pip.conf's `index-url = https://user:token@host/simple`
    ("PIP_CONFIG_FILE", "pip's configuration, which may hold a private index's token (index-url)"),
    ("HELM_REGISTRY_CONFIG", "helm's registry logins (`helm registry login`)"),
    ("SOPS_AGE_KEY_FILE", "an age private key, which decrypts sops files"),
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


@pytest.mark.parametrize("variable", FOLDERS)
def test_the_credential_files_of_a_folder_a_variable_names_are_refused_where_it_is_a_contexts_top(
        root: Path, tmp_path: Path, builder: CheckedBuilder, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], variable: str) -> None:
    what, credential, _ = FOLDERS[variable]
    monkeypatch.chdir(root / "stacks/t/mid")
    monkeypatch.setenv(variable, ".")
    (root / "stacks/t/mid" / credential).write_text("secret\n", encoding="utf-8")
    assert main(commands(root, tmp_path / "out")["build"]) == 2
    assert capsys.readouterr().err == refusal(root, credential, what, variable)
    assert builder.order == []


@pytest.mark.parametrize("variable", FOLDERS)
def test_the_other_files_of_a_folder_at_a_contexts_top_are_files_like_any_other(
        root: Path, tmp_path: Path, builder: CheckedBuilder, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], variable: str) -> None:
    monkeypatch.setenv(variable, str(root / "stacks/t/mid"))
    (root / "stacks/t/mid" / FOLDERS[variable][2]).write_text("settings\n", encoding="utf-8")
    assert main(commands(root, tmp_path / "out")["build"]) == 0, capsys.readouterr().err
    assert builder.order


@pytest.mark.parametrize("variable", FOLDERS)
def test_every_file_of_a_folder_a_variable_names_below_a_contexts_top_is_refused(
        root: Path, tmp_path: Path, builder: CheckedBuilder, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], variable: str) -> None:
    what, _, other = FOLDERS[variable]
    (root / "stacks/t/mid/.ci-tool").mkdir()
    (root / "stacks/t/mid/.ci-tool" / other).write_text("settings\n", encoding="utf-8")
    monkeypatch.setenv(variable, str(root / "stacks/t/mid/.ci-tool"))
    assert main(commands(root, tmp_path / "out")["build"]) == 2
    assert capsys.readouterr().err == refusal(root, f".ci-tool/{other}", what, variable)
    assert builder.order == []


def test_gclouds_legacy_credentials_folder_at_a_contexts_top_is_refused(
        root: Path, tmp_path: Path, builder: CheckedBuilder, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    account = root / "stacks/t/mid/legacy_credentials/ci@project.iam.gserviceaccount.com"
    account.mkdir(parents=True)
    (account / "adc.json").write_text('{"private_key": "not real"}\n', encoding="utf-8")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(root / "stacks/t/mid"))
    assert main(commands(root, tmp_path / "out")["build"]) == 2
    assert capsys.readouterr().err == refusal(
        root, "legacy_credentials/ci@project.iam.gserviceaccount.com/adc.json", FOLDERS["CLOUDSDK_CONFIG"][0],
        "CLOUDSDK_CONFIG")
    assert builder.order == []


def test_a_buildx_config_folders_registry_keypairs_at_a_contexts_top_are_refused(
        root: Path, tmp_path: Path, builder: CheckedBuilder, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    certs = root / "stacks/t/mid/certs/myreg"  # BUILDX_CONFIG replaces $DOCKER_CONFIG/buildx
    certs.mkdir(parents=True)
    (certs / "key.pem").write_text("not a real key\n", encoding="utf-8")
    (root / "stacks/t/mid/instances").mkdir()
    (root / "stacks/t/mid/instances/default").write_text("{}\n", encoding="utf-8")
    monkeypatch.setenv("BUILDX_CONFIG", str(root / "stacks/t/mid"))
    assert main(commands(root, tmp_path / "out")["build"]) == 2
    assert capsys.readouterr().err == refusal(
        root, "certs/myreg/key.pem",
        "buildx's configuration folder, with the registry keypairs of its builders", "BUILDX_CONFIG")
    assert builder.order == []
