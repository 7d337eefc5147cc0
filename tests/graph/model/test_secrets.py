"""graph.model.secrets: the operator's policy decides which host files and variables a build gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.errors import Location, StackError
from graph.model.secrets import SecretPolicy, check_secrets, passed_secrets
from graph.model.spec import Node, Secret

WHERE = Location("stacks/s/stack.yaml", 7)


def node(*secrets: Secret) -> Node:
    return Node(name="app", stack="s", kind="os", parent=None, dockerfile="stacks/s/Dockerfile",
                context="stacks/s", registry="localhost:5000/s", image="app", tag="1",
                platforms=("linux/amd64",), secrets=secrets)


@pytest.fixture
def places(tmp_path: Path) -> tuple[Path, Path]:
    """(a repository holding stacks/s/ca.pem, a host folder outside it holding token and ca.pem)."""
    root, host = tmp_path / "repo", tmp_path / "host"
    (root / "stacks/s").mkdir(parents=True)
    host.mkdir()
    for path in (root / "stacks/s/ca.pem", host / "token", host / "ca.pem"):
        path.write_text("x\n", encoding="utf-8")
    return root, host


def test_a_file_inside_the_repository_is_passed_by_its_resolved_path(places: tuple[Path, Path]) -> None:
    root, _ = places
    secret = Secret("ca", src=str(root / "stacks/s/ca.pem"), location=WHERE)
    assert passed_secrets(node(secret), root, SecretPolicy()) == (
        Secret("ca", src=str(root / "stacks/s/ca.pem")),)


def test_a_host_file_outside_the_repository_is_refused_unless_allowed(places: tuple[Path, Path]) -> None:
    root, host = places
    secret = Secret("tok", src=str(host / "token"), location=WHERE)
    with pytest.raises(StackError) as caught:
        passed_secrets(node(secret), root, SecretPolicy())
    assert caught.value.location == WHERE
    assert str(caught.value) == (
        f"stacks/s/stack.yaml:7: node app: secret 'tok' reads the host file {host / 'token'}, which lies "
        "outside the repository and outside every path the operator allowed (if this run may hand that "
        f"file to builds, allow it with --secret-src-allow {host / 'token'} (or its folder; env "
        "STACKBUILD_SECRET_DIRS, ':'-separated); or build with --no-secrets)")


@pytest.mark.parametrize("allowed", ["host", "host/token"])
def test_an_allowed_folder_or_file_lets_the_host_file_through(places: tuple[Path, Path],
                                                               allowed: str) -> None:
    root, host = places
    secret = Secret("tok", src=str(host / "token"))
    policy = SecretPolicy(allowed=(host.parent / allowed,))
    assert passed_secrets(node(secret), root, policy) == (Secret("tok", src=str(host / "token")),)


def test_allowing_one_file_allows_no_other_beside_it(places: tuple[Path, Path]) -> None:
    root, host = places
    policy = SecretPolicy(allowed=(host / "token",))
    with pytest.raises(StackError, match="secret 'ca' reads the host file"):
        passed_secrets(node(Secret("ca", src=str(host / "ca.pem"))), root, policy)


def test_a_symlink_in_the_repository_to_a_host_file_is_refused(places: tuple[Path, Path]) -> None:
    root, host = places
    (root / "stacks/s/innocent.pem").symlink_to(host / "token")
    secret = Secret("ca", src="innocent.pem", location=WHERE)
    with pytest.raises(StackError, match=r"host file innocent.pem \(resolved: .*/host/token\)"):
        passed_secrets(node(secret), root, SecretPolicy())


def test_dot_dot_out_of_an_allowed_folder_is_refused(places: tuple[Path, Path]) -> None:
    root, host = places
    secret = Secret("tok", src=f"{root}/stacks/../../host/token")
    with pytest.raises(StackError, match="outside the repository"):
        passed_secrets(node(secret), root, SecretPolicy())
    passed = passed_secrets(node(secret), root, SecretPolicy(allowed=(host,)))
    assert passed[0].src == str(host / "token")


def test_a_symlinked_allowed_folder_counts_by_its_target(places: tuple[Path, Path], tmp_path: Path) -> None:
    root, host = places
    (tmp_path / "link").symlink_to(host, target_is_directory=True)
    secret = Secret("tok", src=str(host / "token"))
    assert passed_secrets(node(secret), root, SecretPolicy(allowed=(tmp_path / "link",)))


def test_a_relative_src_is_read_from_its_stack_files_folder(places: tuple[Path, Path]) -> None:
    root, _ = places  # WHERE is stacks/s/stack.yaml, beside stacks/s/ca.pem
    assert passed_secrets(node(Secret("ca", src="ca.pem", location=WHERE)), root, SecretPolicy()) == (
        Secret("ca", src=str(root / "stacks/s/ca.pem")),)
    with pytest.raises(StackError, match="outside the repository"):
        passed_secrets(node(Secret("tok", src="../../../host/token", location=WHERE)), root, SecretPolicy())


def test_a_resolved_path_with_a_comma_is_refused_at_the_secret(places: tuple[Path, Path]) -> None:
    root, _ = places
    (root / "stacks/s/a,b").mkdir()
    (root / "stacks/s/a,b/ca.pem").write_text("x\n", encoding="utf-8")
    (root / "stacks/s/link").symlink_to(root / "stacks/s/a,b", target_is_directory=True)
    with pytest.raises(StackError, match="cannot carry") as caught:
        passed_secrets(node(Secret("ca", src="link/ca.pem", location=WHERE)), root, SecretPolicy())
    assert caught.value.location == WHERE


def test_an_env_secret_the_operator_did_not_allow_is_refused_at_the_secret(places: tuple[Path, Path]) -> None:
    # a pull request's stack file could name any variable of the CI job (AWS_SECRET_ACCESS_KEY, a token)
    root, _ = places
    secret = Secret("tok", env="AWS_SECRET_ACCESS_KEY", location=WHERE)
    with pytest.raises(StackError) as caught:
        passed_secrets(node(secret), root, SecretPolicy())
    assert caught.value.location == WHERE
    assert str(caught.value) == (
        "stacks/s/stack.yaml:7: node app: secret 'tok' reads the environment variable AWS_SECRET_ACCESS_KEY, "
        "which the operator did not allow (if this run may hand that variable to builds, allow it with "
        "--secret-env-allow AWS_SECRET_ACCESS_KEY (or env STACKBUILD_SECRET_ENVS, ':'-separated); or build "
        "with --no-secrets)")


def test_an_allowed_env_secret_passes_as_it_is(places: tuple[Path, Path]) -> None:
    root, _ = places
    secret = Secret("tok", env="PIP_TOKEN")
    assert passed_secrets(node(secret), root, SecretPolicy(envs=("PIP_TOKEN",))) == (secret,)


@pytest.mark.parametrize("allowed", ["pip_token", "PIP", "PIP_TOKEN_2", "*"])
def test_an_env_secret_is_allowed_by_its_exact_name_only(places: tuple[Path, Path], allowed: str) -> None:
    root, _ = places
    with pytest.raises(StackError, match="reads the environment variable PIP_TOKEN"):
        passed_secrets(node(Secret("tok", env="PIP_TOKEN")), root, SecretPolicy(envs=(allowed,)))


def test_withheld_secrets_pass_nothing_and_refuse_nothing(places: tuple[Path, Path]) -> None:
    root, host = places
    secrets = (Secret("tok", env="PIP_TOKEN"), Secret("ca", src=str(host / "ca.pem")))
    assert passed_secrets(node(*secrets), root, SecretPolicy(withhold=True)) == ()
    check_secrets([node(*secrets)], root, SecretPolicy(withhold=True))


def test_check_secrets_refuses_the_first_node_with_a_host_file(places: tuple[Path, Path]) -> None:
    root, host = places
    fine = node(Secret("ca", src="stacks/s/ca.pem"))
    with pytest.raises(StackError, match="secret 'tok'"):
        check_secrets([fine, node(Secret("tok", src=str(host / "token")))], root, SecretPolicy())
    check_secrets([fine], root, SecretPolicy())


def test_check_secrets_refuses_the_first_node_with_a_variable_not_allowed(places: tuple[Path, Path]) -> None:
    root, _ = places
    allowed = SecretPolicy(envs=("PIP_TOKEN",))
    fine = node(Secret("pip", env="PIP_TOKEN"), Secret("ca", src="stacks/s/ca.pem"))
    with pytest.raises(StackError, match="secret 'gh' reads the environment variable GITHUB_TOKEN"):
        check_secrets([fine, node(Secret("gh", env="GITHUB_TOKEN"))], root, allowed)
    check_secrets([fine], root, allowed)


@pytest.mark.parametrize("src", ["../../.git/config", "../../sub/.git/config"])
def test_git_metadata_inside_the_repository_is_refused(places: tuple[Path, Path], src: str) -> None:
    # actions/checkout keeps the job's token in .git/config: a fork's stack file could mount it
    root, _ = places
    for folder in (root / ".git", root / "sub/.git"):
        folder.mkdir(parents=True)
        (folder / "config").write_text("[http]\n\textraheader = AUTHORIZATION: basic x\n", encoding="utf-8")
    with pytest.raises(StackError, match=r"git's own files \(\.git\)") as caught:
        passed_secrets(node(Secret("tok", src=src, location=WHERE)), root, SecretPolicy())
    assert caught.value.location == WHERE


@pytest.mark.parametrize("src", ["../../gha-creds-3f9c2b1a.json", "../../.docker/config.json", "../.netrc"])
def test_a_credential_file_a_ci_step_left_is_passed_as_a_secret(places: tuple[Path, Path], src: str) -> None:
    # a build context may not send it (a `COPY .` would publish it), but a secret mount is how to use it
    root, _ = places
    path = (root / "stacks/s" / src).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}\n", encoding="utf-8")
    secret = Secret("creds", src=src, location=WHERE)
    assert passed_secrets(node(secret), root, SecretPolicy()) == (Secret("creds", src=str(path)),)
