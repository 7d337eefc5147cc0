"""Real registries that want a login: TLS with a test CA and Basic users, Bearer tokens from a token
server, and a registry (behind a proxy) that omits Docker-Content-Digest. Credentials reach
stackbuild only through a real `docker login` into a test DOCKER_CONFIG."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.build.builder import BuildxBuilder
from engine.cli.main import main
from engine.errors import RegistryError
from engine.registry.client import RegistryClient
from engine.run import api
from engine.run.settings import BuildSettings
from tests.integration.registries import (
    DigestHidingProxy,
    TokenServer,
    basic_auth,
    docker_login,
    htpasswd,
    make_pki,
    secure_registry,
    serving,
    token_auth,
)

STACK = """\
stack: auth
registry: localhost:5000/auth
nodes:
  root:  {kind: os, dockerfile: root/Dockerfile, tag: "1"}
  child: {kind: sdk, parent: root, dockerfile: child/Dockerfile, tag: "1"}
"""
NODES = 2
USER = "builder"


def tiny_stack(root: Path) -> Path:
    """Two scratch images, the child FROM the root; fresh content each time (nothing cached)."""
    base = root / "stacks" / "auth"
    for folder in ("root", "child"):
        (base / folder).mkdir(parents=True)
        (base / folder / "payload.txt").write_text(f"{folder} {time.time_ns()}\n")
    (base / "stack.yaml").write_text(STACK)
    (base / "root" / "Dockerfile").write_text("FROM scratch\nCOPY payload.txt /root.txt\n")
    (base / "child" / "Dockerfile").write_text("FROM parent\nCOPY payload.txt /child.txt\n")
    return root


@pytest.fixture
def password() -> str:
    return "pw-" + secrets.token_hex(12)


@pytest.fixture
def docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DOCKER_CONFIG for stackbuild and for buildx (which hands its credentials to BuildKit)."""
    folder = tmp_path / "docker-config"
    folder.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(folder))
    return folder


@pytest.fixture
def basic_registry(tmp_path: Path, password: str, builder: BuildxBuilder) -> Iterator[str]:
    pki = make_pki(tmp_path / "pki")
    users = htpasswd(tmp_path / "htpasswd", USER, password)
    with secure_registry(tmp_path / "registry", pki, basic_auth(users)) as host:
        yield host


def cli(root: Path, *argv: str) -> int:
    return main([*argv[:1], "--root", str(root), "--state-dir", str(root / "state"), "--log-format", "json",
                 *argv[1:]])


def files_under(folder: Path) -> Iterator[Path]:
    return (path for path in folder.rglob("*") if path.is_file())


def test_tls_basic_auth_build_noop_promote_images(tmp_path: Path, basic_registry: str, password: str,
                                                  docker_config: Path, builder: BuildxBuilder,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    host, root = basic_registry, tiny_stack(tmp_path / "repo")
    login = docker_login(docker_config, host, USER, password)
    assert login.returncode == 0, login.stderr
    prefix = f"{host}/x"

    built = cli(root, "build", "--registry", prefix)
    logs = capsys.readouterr().err
    assert built == 0, logs
    options = api.Options(root=root, registry=prefix, state_dir=root / "state")
    refs = sorted(node.ref for node in api.load(options).nodes.values())
    client = RegistryClient()
    for ref in refs:
        index = client.manifest(ref)
        assert index is not None and index.is_index, ref
        assert set(index.platforms()) == {"linux/amd64", "linux/arm64"}, ref

    noop = api.build(options, builder, BuildSettings(test=False), RegistryClient())
    assert [node.action for node in noop.nodes.values()] == ["skip"] * NODES
    assert noop.buildx_invocations == 0
    assert noop.registry_requests == {"ping": 1, "HEAD": NODES}  # no 401 first: the ping learnt Basic

    logs += capsys.readouterr().err
    assert cli(root, "promote", str(root / "state" / "latest.lock.json"), "--registry", prefix) == 0
    assert cli(root, "images", "--registry", prefix, "--format", "json") == 0
    captured = capsys.readouterr()
    listed = json.loads(captured.out[captured.out.index("{"):])
    assert sorted(image["ref"] for image in listed["images"]) == refs
    assert '"event": "node_built"' in logs  # the build's log lines are among those checked
    assert_no_secret(root / "state", logs + captured.err, USER, password)


def assert_no_secret(state: Path, logs: str, user: str, password: str) -> None:
    """The password (plain or base64 in a Basic header) is in no log line and no state file."""
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    assert password not in logs and encoded not in logs
    for path in files_under(state):
        data = path.read_bytes()
        assert password.encode() not in data and encoded.encode() not in data, path


def test_a_wrong_password_is_a_clear_error(tmp_path: Path, basic_registry: str, password: str,
                                           docker_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    host, root = basic_registry, tiny_stack(tmp_path / "repo")
    wrong = "wrong-" + secrets.token_hex(8)
    entry = {"auth": base64.b64encode(f"{USER}:{wrong}".encode()).decode()}
    (docker_config / "config.json").write_text(json.dumps({"auths": {host: entry}}))
    assert cli(root, "plan", "--registry", f"{host}/x") == 2
    err = capsys.readouterr().err
    assert ("HTTP 401 unauthorized (the saved credentials were refused: "
            f"run `docker login {host}` again)") in err
    assert "Traceback" not in err
    assert_no_secret(root / "state", err, USER, wrong)


def test_token_auth_scoped_tokens_reused_and_refreshed(tmp_path: Path, password: str, docker_config: Path,
                                                       builder: BuildxBuilder,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    pki, root = make_pki(tmp_path / "pki"), tiny_stack(tmp_path / "repo")
    with serving(TokenServer(USER, password)) as tokens, secure_registry(
            tmp_path / "registry", pki, token_auth(tokens, tokens.write_root(tmp_path / "signer.crt"))
    ) as host:
        prefix = f"{host}/x"
        with pytest.raises(RegistryError, match=r"token server answered HTTP 401") as refused:
            RegistryClient().digest(f"{prefix}/anything:1")  # anonymous: no token
        assert refused.value.hint == f"run `docker login {host}`"
        login = docker_login(docker_config, host, USER, password)
        assert login.returncode == 0, login.stderr
        built = cli(root, "build", "--registry", prefix)
        logs = capsys.readouterr().err
        assert built == 0, logs

        options = api.Options(root=root, registry=prefix, state_dir=root / "state")
        repositories = {node.repository for node in api.load(options).nodes.values()}
        client, issued = RegistryClient(), len(tokens.issued)
        for _ in range(2):
            assert [e.action for e in api.plan(options, client)] == ["skip"] * NODES
        assert client.requests == {"ping": 1, "token": len(repositories), "HEAD": 2 * NODES}
        assert len(tokens.issued) - issued == len(repositories)  # one per scope, reused by later requests

        tokens.registry_lifetime_s = 2  # the registry stops accepting new tokens after 2 s
        client, issued = RegistryClient(), len(tokens.issued)
        api.plan(options, client)
        expired_at = time.time() + 2.5
        while time.time() < expired_at:  # the registry's clock, not an event: wait until it passed
            time.sleep(0.1)
        assert [e.action for e in api.plan(options, client)] == ["skip"] * NODES
        assert len(tokens.issued) - issued >= 2 * len(repositories)  # refreshed after the 401
        assert client.requests["HEAD"] >= 2 * NODES + 1
        assert_no_secret(root / "state", logs + capsys.readouterr().err, USER, password)


def test_a_registry_without_digest_headers_still_skips_every_node(tmp_path: Path, registry: str,
                                                                  builder: BuildxBuilder) -> None:
    root = tiny_stack(tmp_path / "repo")
    built = api.Options(root=root, registry=f"{registry}/nodigest", state_dir=root / "state")
    report = api.build(built, builder, BuildSettings(test=False))
    assert report.status == "succeeded", {n: r.error for n, r in report.nodes.items() if r.error}
    with DigestHidingProxy(registry.replace("localhost", "127.0.0.1")) as proxy:
        hidden = api.Options(root=root, registry=f"{proxy.host}/nodigest", state_dir=root / "state")
        client = RegistryClient()
        assert client.digest(f"{proxy.host}/nodigest/{report.nodes['root'].ref.split('/', 2)[2]}") == \
            report.nodes["root"].digest
        entries = api.plan(hidden, client)
    assert [(e.node, e.action, e.reason) for e in entries] == [
        ("root", "skip", "up_to_date"), ("child", "skip", "up_to_date")]
    assert [e.digest for e in entries] == [report.nodes["root"].digest, report.nodes["child"].digest]
