"""graph.context.files: a build context that would send a credential file a CI step leaves in the work tree
(a cloud login's key, docker's or git's stored logins, an SSH private key) is refused, naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.context.dockerignore import read_ignore_patterns
from graph.context.files import list_context
from graph.errors import StackError
from tests.graph.context.contexts import paths, write


def refusal(root: Path, patterns: tuple[str, ...] = ()) -> StackError:
    """The error listing the context at root raises."""
    with pytest.raises(StackError) as caught:
        list_context(root, patterns)
    return caught.value


CREDENTIALS = [
    "gha-creds-0123abcd.json",  # google-github-actions/auth: a service-account key or token
    ".docker/config.json",  # `docker login` with DOCKER_CONFIG below the work tree
    ".netrc", ".git-credentials", ".aws/credentials", ".pypirc", ".kube/config",
    "id_rsa", "id_ecdsa", "id_ed25519", "id_dsa",
]


@pytest.mark.parametrize("name", CREDENTIALS)
def test_a_context_that_would_send_a_credential_file_is_refused_naming_it(tmp_path: Path, name: str) -> None:
    write(tmp_path, {"app.py": "x\n", name: "secret\n"})
    error = refusal(tmp_path)
    assert f"build context {tmp_path} would send {name}, " in error.message
    assert f"add `{name}` to the context's .dockerignore, or move it out of the context" in (error.hint or "")


@pytest.mark.parametrize("name", CREDENTIALS)
def test_a_credential_file_in_a_folder_of_the_context_is_refused_too(tmp_path: Path, name: str) -> None:
    write(tmp_path, {"app.py": "x\n", f"ci/work/{name}": "secret\n"})
    assert f"would send ci/work/{name}, " in refusal(tmp_path).message


def test_the_message_says_what_the_file_is(tmp_path: Path) -> None:
    # a nested `.docker/config.json` (docker login with DOCKER_CONFIG=$PWD/.docker in a job's folder)
    write(tmp_path, {"Dockerfile": "FROM scratch\nCOPY . /app\n", "jobs/push/.docker/config.json": "{}\n"})
    error = refusal(tmp_path)
    assert error.message == (
        f"build context {tmp_path} would send jobs/push/.docker/config.json, docker's stored registry "
        "logins (`docker login`), which a `COPY .` would put in the image")


@pytest.mark.parametrize("ignore", ["gha-creds-*.json", "**/gha-creds-*.json", "*.json", "gha-*"])
def test_a_credential_file_the_dockerignore_excludes_is_fine(tmp_path: Path, ignore: str) -> None:
    write(tmp_path, {"Dockerfile": "FROM scratch\n", "app.py": "x\n", "gha-creds-0123abcd.json": "{}\n",
                     ".dockerignore": ignore + "\n"})
    patterns = read_ignore_patterns(tmp_path, tmp_path / "Dockerfile")
    assert paths(tmp_path, patterns) == [".dockerignore", "Dockerfile", "app.py"]


def test_the_dockerfiles_own_ignore_file_counts_as_buildkit_reads_it(tmp_path: Path) -> None:
    write(tmp_path, {"Dockerfile": "FROM scratch\n", "app.py": "x\n", ".docker/config.json": "{}\n",
                     "Dockerfile.dockerignore": ".docker\n", ".dockerignore": "*.log\n"})
    patterns = read_ignore_patterns(tmp_path, tmp_path / "Dockerfile")
    assert paths(tmp_path, patterns) == [".dockerignore", "Dockerfile", "Dockerfile.dockerignore", "app.py"]
    # the plain .dockerignore is shadowed by Dockerfile.dockerignore: it does not exclude it
    (tmp_path / "Dockerfile.dockerignore").unlink()
    assert "would send .docker/config.json" in refusal(
        tmp_path, read_ignore_patterns(tmp_path, tmp_path / "Dockerfile")).message


def test_an_exception_that_sends_the_file_again_is_refused(tmp_path: Path) -> None:
    write(tmp_path, {"app.py": "x\n", "ci/.netrc": "machine x\n"})
    assert "would send ci/.netrc" in refusal(tmp_path, ("ci", "!ci/.netrc")).message


@pytest.mark.parametrize("name", [
    "config.json", "app/config.json", "docker/config.json", ".docker/daemon.json", ".docker/config.json.bak",
    ".kube/config.yaml", "kube/config", "config", "credentials", "aws/credentials", ".aws/config",
    "id_rsa.pub", "id_ed25519.pub", "my_id_rsa", "netrc", ".netrc.example", "pypirc",
    "gha-creds.json", "gha-creds-x.yaml", "my-gha-creds-x.json",
    "tls/server.pem", "tls/server.key", "certs/ca.crt",  # legitimately in images: not refused
])
def test_a_file_merely_named_like_one_is_fine(tmp_path: Path, name: str) -> None:
    write(tmp_path, {"app.py": "x\n", name: "data\n"})
    assert name in paths(tmp_path)


@pytest.mark.parametrize("name", [
    ".NETRC", "GHA-Creds-0123.JSON", ".Docker/Config.json", ".AWS/Credentials", "ID_RSA", ".KUBE/config",
])
def test_a_credential_file_in_another_case_is_refused_too(tmp_path: Path, name: str) -> None:
    # as for .git: a case-insensitive file system (macOS) serves .NETRC when curl opens .netrc
    write(tmp_path, {"app.py": "x\n", name: "secret\n"})
    assert f"would send {name}, " in refusal(tmp_path).message


def test_a_context_that_is_the_credential_folder_is_refused(tmp_path: Path) -> None:
    # `context: .docker` sends config.json at the context's top: in the image as /app/config.json
    write(tmp_path, {".docker/config.json": "{}\n", ".docker/Dockerfile": "FROM scratch\n"})
    assert "would send config.json, docker's stored" in refusal(tmp_path / ".docker").message

