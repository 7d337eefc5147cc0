"""engine.registry.credentials: Docker's config.json, credential stores and helpers, in that order."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from engine.errors import RegistryError
from engine.registry.credentials import Credentials, config_path, credentials_for

HELPER = """#!/bin/sh
# a fake docker-credential-{name}: logs what it was asked, answers for one server URL
read server
echo "{name} $1 $server" >> "{log}"
if [ "$server" = "{server}" ]; then
  printf '{{"ServerURL":"%s","Username":"{user}","Secret":"{secret}"}}' "$server"
else
  echo "credentials not found in native keychain"; exit 1
fi
"""


def auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def helpers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder on PATH for fake helpers; returns the log every helper appends to."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return tmp_path / "helpers.log"


def helper(log: Path, name: str, server: str, user: str, secret: str) -> None:
    script = log.parent / "bin" / f"docker-credential-{name}"
    script.write_text(HELPER.format(name=name, log=log, server=server, user=user, secret=secret))
    script.chmod(0o755)


def test_config_path_follows_docker_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert config_path() == tmp_path / "config.json"
    monkeypatch.delenv("DOCKER_CONFIG")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert config_path() == tmp_path / "home" / ".docker" / "config.json"


def test_auths_entry_by_host_with_or_without_scheme() -> None:
    config = {"auths": {"https://reg.example.com/v1/": {"auth": auth("ann", "pa:ss")},
                        "localhost:5000": {"auth": auth("bob", "pw")}}}
    assert credentials_for("reg.example.com", config) == Credentials("ann", "pa:ss")
    assert credentials_for("localhost:5000", config) == Credentials("bob", "pw")
    assert credentials_for("other.example.com", config) is None


def test_docker_hub_credentials_are_under_index_docker_io() -> None:
    config = {"auths": {"https://index.docker.io/v1/": {"auth": auth("hub", "pw")}}}
    assert credentials_for("registry-1.docker.io", config) == Credentials("hub", "pw")
    assert credentials_for("docker.io", config) == Credentials("hub", "pw")


def test_identity_token_entry() -> None:
    config = {"auths": {"reg.example.com": {"identitytoken": "refresh-me"}}}
    assert credentials_for("reg.example.com", config) == Credentials(identity_token="refresh-me")


def test_secrets_stay_out_of_repr() -> None:
    assert "s3cret" not in repr(Credentials("ann", "s3cret", "tok3n"))
    assert "tok3n" not in repr(Credentials("ann", "s3cret", "tok3n"))


def test_cred_helper_beats_store_beats_auths(helpers: Path) -> None:
    helper(helpers, "test", "reg.example.com", "from-helper", "h")
    helper(helpers, "store", "reg.example.com", "from-store", "s")
    config = {"auths": {"reg.example.com": {"auth": auth("from-auths", "a")}},
              "credsStore": "store", "credHelpers": {"reg.example.com": "test"}}
    assert credentials_for("reg.example.com", config) == Credentials("from-helper", "h")
    del config["credHelpers"]
    assert credentials_for("reg.example.com", config) == Credentials("from-store", "s")
    del config["credsStore"]
    assert credentials_for("reg.example.com", config) == Credentials("from-auths", "a")
    assert helpers.read_text().splitlines() == ["test get reg.example.com", "store get reg.example.com"]


def test_a_helper_without_the_host_falls_through(helpers: Path) -> None:
    helper(helpers, "test", "elsewhere.example.com", "x", "y")
    config = {"credsStore": "test", "auths": {"reg.example.com": {"auth": auth("ann", "pw")}}}
    assert credentials_for("reg.example.com", config) == Credentials("ann", "pw")


def test_helper_token_user_means_identity_token(helpers: Path) -> None:
    helper(helpers, "test", "https://index.docker.io/v1/", "<token>", "refresh")
    config = {"credHelpers": {"docker.io": "test"}}
    assert credentials_for("registry-1.docker.io", config) == Credentials(identity_token="refresh")


def test_a_missing_helper_says_so(helpers: Path) -> None:
    with pytest.raises(RegistryError, match="docker-credential-nowhere is not on PATH"):
        credentials_for("reg.example.com", {"credsStore": "nowhere"})


def test_config_file_is_read_from_docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"r.example": {"auth": auth("u", "p")}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert credentials_for("r.example") == Credentials("u", "p")
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(RegistryError, match="cannot read the Docker client config"):
        credentials_for("r.example")
