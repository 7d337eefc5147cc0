"""engine.registry.endpoints and transport: scheme, certs.d, insecure registries, mirrors, redaction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.registry.endpoints import Endpoint, endpoint_for, is_loopback, mirror_endpoint, mirrors
from engine.registry.failures import redact


@pytest.fixture(autouse=True)
def docker_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty certs.d and no daemon.json, unless a test writes one."""
    (tmp_path / "certs.d").mkdir()
    monkeypatch.setenv("STACKBUILD_CERTS_D", str(tmp_path / "certs.d"))
    monkeypatch.setenv("STACKBUILD_DAEMON_JSON", str(tmp_path / "daemon.json"))
    monkeypatch.delenv("STACKBUILD_INSECURE_REGISTRIES", raising=False)
    return tmp_path


@pytest.mark.parametrize(("host", "url"), [
    ("localhost:5000", "http://localhost:5000"),
    ("localhost", "http://localhost"),
    ("127.0.0.1:5000", "http://127.0.0.1:5000"),
    ("[::1]:5000", "http://[::1]:5000"),
    ("registry.example.com", "https://registry.example.com"),
    ("10.0.0.1:5000", "https://10.0.0.1:5000"),
    ("localhost.example.com", "https://localhost.example.com"),
])
def test_plain_http_only_for_loopback(host: str, url: str) -> None:
    assert endpoint_for(host).base_url == url


@pytest.mark.parametrize(("host", "expected"), [
    ("localhost:1", True), ("127.0.0.5", True), ("[::1]:5000", True), ("::1", True),
    ("10.0.0.1:5000", False), ("example.com", False)])
def test_is_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


def test_certs_d_makes_even_loopback_https_with_its_ca_and_client_cert(docker_files: Path) -> None:
    folder = docker_files / "certs.d" / "localhost:5443"
    folder.mkdir()
    for name in ("ca.crt", "client.cert", "client.key", "README"):
        (folder / name).write_text("x")
    assert endpoint_for("localhost:5443") == Endpoint(
        "localhost:5443", "https", (str(folder / "ca.crt"),),
        (str(folder / "client.cert"), str(folder / "client.key")))


def test_a_client_cert_without_its_key_is_not_used(docker_files: Path) -> None:
    folder = docker_files / "certs.d" / "r.example"
    folder.mkdir()
    (folder / "client.cert").write_text("x")
    assert endpoint_for("r.example").client_cert is None


def test_insecure_registries_from_daemon_json_and_env(docker_files: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    (docker_files / "daemon.json").write_text(json.dumps(
        {"insecure-registries": ["r.example:5000", "10.1.0.0/16"]}))
    assert endpoint_for("r.example:5000").scheme == "http"
    assert endpoint_for("r.example").scheme == "https"
    assert endpoint_for("10.1.2.3:5000").scheme == "http"
    assert endpoint_for("10.2.0.1:5000").scheme == "https"
    monkeypatch.setenv("STACKBUILD_INSECURE_REGISTRIES", "a.example, b.example:80")
    assert endpoint_for("b.example:80").scheme == "http"


def test_mirrors_from_daemon_json(docker_files: Path) -> None:
    assert mirrors() == ()
    (docker_files / "daemon.json").write_text(json.dumps(
        {"registry-mirrors": ["https://mirror.example.com/", "http://127.0.0.1:5001"]}))
    assert mirrors() == ("https://mirror.example.com", "http://127.0.0.1:5001")
    assert mirror_endpoint("https://mirror.example.com").base_url == "https://mirror.example.com"
    assert mirror_endpoint("http://127.0.0.1:5001").base_url == "http://127.0.0.1:5001"


@pytest.mark.parametrize(("text", "expected"), [
    ("GET https://ann:s3cret@r.example/v2/", "GET https://***@r.example/v2/"),
    ("Authorization: Bearer abc.def.ghi", "Authorization: ***"),
    ("sent Bearer abc.def.ghi to x", "sent Bearer *** to x"),
    ("Basic YW5uOnMzY3JldA== refused", "Basic *** refused"),
    ("https://auth.example/token?scope=x&access_token=abc&password=pw",
     "https://auth.example/token?scope=x&access_token=***&password=***"),
    ("nothing secret here", "nothing secret here"),
])
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected
