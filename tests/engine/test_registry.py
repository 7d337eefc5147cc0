"""registry: reference parsing, manifest reading, and the client against a tiny local server."""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from tenacity import wait_none

import engine.registry
from engine.errors import EngineError, RegistryError
from engine.registry import (
    ACCEPT,
    INDEX_TYPES,
    MANIFEST_TYPES,
    Manifest,
    RegistryClient,
    TransientRegistryError,
    split_reference,
)

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX_DIGEST = "sha256:" + "1" * 64


# --- split_reference ----------------------------------------------------------------------------


@pytest.mark.parametrize(("reference", "expected"), [
    ("localhost:5000/stackbuild/debian:12", ("localhost:5000", "stackbuild/debian", "12")),
    ("localhost:5000/stackbuild/debian@sha256:abc",
     ("localhost:5000", "stackbuild/debian", "sha256:abc")),
    ("127.0.0.1:5000/app:v1.2.3", ("127.0.0.1:5000", "app", "v1.2.3")),
    ("registry.example.com/team/app", ("registry.example.com", "team/app", "latest")),
    ("localhost:5000/app", ("localhost:5000", "app", "latest")),
    ("ghcr.io/org/a/b/c:tag-dev", ("ghcr.io", "org/a/b/c", "tag-dev")),
    ("localhost:5000/sdk:cpu-py311-deb12", ("localhost:5000", "sdk", "cpu-py311-deb12")),
])
def test_split_reference(reference: str, expected: tuple[str, str, str]) -> None:
    assert split_reference(reference) == expected


# --- Manifest -----------------------------------------------------------------------------------


def _entry(digest: str, os: str, arch: str, variant: str = "",
           annotations: dict[str, str] | None = None) -> dict[str, Any]:
    platform = {"os": os, "architecture": arch, **({"variant": variant} if variant else {})}
    entry: dict[str, Any] = {"mediaType": OCI_MANIFEST, "digest": digest, "size": 1,
                             "platform": platform}
    if annotations:
        entry["annotations"] = annotations
    return entry


def buildx_index() -> dict[str, Any]:
    """An index as buildx pushes it: images plus one attestation manifest per image."""
    attestation = {"vnd.docker.reference.type": "attestation-manifest"}
    return {
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [
            _entry("sha256:amd", "linux", "amd64"),
            _entry("sha256:arm", "linux", "arm64"),
            _entry("sha256:v7", "linux", "arm", "v7"),
            _entry("sha256:att1", "unknown", "unknown",
                   annotations={**attestation, "vnd.docker.reference.digest": "sha256:amd"}),
            _entry("sha256:att2", "unknown", "unknown",
                   annotations={**attestation, "vnd.docker.reference.digest": "sha256:arm"}),
        ],
    }


def test_platforms_skips_attestation_manifests() -> None:
    manifest = Manifest(INDEX_DIGEST, OCI_INDEX, buildx_index())
    assert manifest.platforms() == {
        "linux/amd64": "sha256:amd", "linux/arm64": "sha256:arm", "linux/arm/v7": "sha256:v7",
    }


def test_platforms_keeps_entries_with_other_annotations() -> None:
    body = {"manifests": [_entry("sha256:amd", "linux", "amd64",
                                 annotations={"org.opencontainers.image.ref.name": "x"})]}
    assert Manifest(INDEX_DIGEST, OCI_INDEX, body).platforms() == {"linux/amd64": "sha256:amd"}


def test_platforms_of_a_single_image_manifest_is_empty() -> None:
    assert Manifest("sha256:x", OCI_MANIFEST, {"layers": []}).platforms() == {}


def test_layers_base_first() -> None:
    body = {"config": {"digest": "sha256:cfg"},
            "layers": [{"digest": "sha256:l1"}, {"digest": "sha256:l2"}, {"digest": "sha256:l3"}]}
    manifest = Manifest("sha256:x", OCI_MANIFEST, body)
    assert manifest.layers() == ["sha256:l1", "sha256:l2", "sha256:l3"]
    assert Manifest("sha256:x", OCI_INDEX, {}).layers() == []


@pytest.mark.parametrize("media_type", INDEX_TYPES)
def test_index_types_are_indexes(media_type: str) -> None:
    assert Manifest("d", media_type, {}).is_index


@pytest.mark.parametrize("media_type", [*MANIFEST_TYPES, "", "application/json"])
def test_other_types_are_not_indexes(media_type: str) -> None:
    assert not Manifest("d", media_type, {}).is_index


def test_accept_header_asks_for_indexes_and_manifests() -> None:
    for media_type in INDEX_TYPES + MANIFEST_TYPES:
        assert media_type in ACCEPT


def test_registry_errors_are_engine_errors() -> None:
    assert issubclass(TransientRegistryError, RegistryError)
    assert issubclass(RegistryError, EngineError)


# --- RegistryClient against a local server ------------------------------------------------------


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeRegistry:
    """What the tiny server answers, per path, and what it was asked."""

    host: str
    replies: dict[str, list[Reply]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, Accept)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, path: str, *replies: Reply) -> None:
        """Answer path with replies in turn; the last one repeats."""
        self.replies[path] = list(replies)

    def count(self, path: str) -> int:
        return sum(1 for asked, _ in self.requests if asked == path)

    def answer(self, path: str, accept: str) -> Reply:
        with self.lock:
            self.requests.append((path, accept))
            queue = self.replies.get(path)
            if not queue:
                return Reply(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
            return queue.pop(0) if len(queue) > 1 else queue[0]


@pytest.fixture
def registry() -> Iterator[FakeRegistry]:
    state: FakeRegistry

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            reply = state.answer(self.path, self.headers.get("Accept", ""))
            self.send_response(reply.status)
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = FakeRegistry(f"127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(autouse=True)
def no_retry_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the retries but not their back-off sleeps."""
    monkeypatch.setattr(engine.registry, "wait_random_exponential", lambda **_: wait_none())


def index_reply() -> Reply:
    return Reply(200, json.dumps(buildx_index()).encode(),
                 {"Content-Type": OCI_INDEX, "Docker-Content-Digest": INDEX_DIGEST})


PATH = "/v2/stackbuild/debian/manifests/12"


def test_manifest_200_returns_digest_type_and_body(registry: FakeRegistry) -> None:
    registry.script(PATH, index_reply())
    manifest = RegistryClient().manifest(f"{registry.host}/stackbuild/debian:12")
    assert manifest is not None
    assert manifest.digest == INDEX_DIGEST
    assert manifest.media_type == OCI_INDEX
    assert manifest.is_index
    assert manifest.body == buildx_index()
    assert set(manifest.platforms()) == {"linux/amd64", "linux/arm64", "linux/arm/v7"}
    assert registry.count(PATH) == 1
    assert registry.requests[0][1] == ACCEPT


def test_manifest_by_digest_asks_for_the_digest(registry: FakeRegistry) -> None:
    path = f"/v2/stackbuild/debian/manifests/{INDEX_DIGEST}"
    registry.script(path, index_reply())
    manifest = RegistryClient().manifest(f"{registry.host}/stackbuild/debian@{INDEX_DIGEST}")
    assert manifest is not None
    assert registry.count(path) == 1


def test_manifest_404_is_none_and_not_retried(registry: FakeRegistry) -> None:
    assert RegistryClient().manifest(f"{registry.host}/stackbuild/missing:1") is None
    assert registry.count("/v2/stackbuild/missing/manifests/1") == 1


def test_manifest_503_twice_then_200_is_retried(registry: FakeRegistry) -> None:
    registry.script(PATH, Reply(503), Reply(503), index_reply())
    manifest = RegistryClient(attempts=5).manifest(f"{registry.host}/stackbuild/debian:12")
    assert manifest is not None
    assert manifest.digest == INDEX_DIGEST
    assert registry.count(PATH) == 3


def test_manifest_429_is_retried(registry: FakeRegistry) -> None:
    registry.script(PATH, Reply(429), index_reply())
    assert RegistryClient().manifest(f"{registry.host}/stackbuild/debian:12") is not None
    assert registry.count(PATH) == 2


def test_manifest_5xx_forever_gives_up_after_attempts(registry: FakeRegistry) -> None:
    registry.script(PATH, Reply(502))
    with pytest.raises(TransientRegistryError, match="HTTP 502"):
        RegistryClient(attempts=3).manifest(f"{registry.host}/stackbuild/debian:12")
    assert registry.count(PATH) == 3


@pytest.mark.parametrize("status", [400, 401, 403])
def test_manifest_4xx_is_a_registry_error_not_retried(registry: FakeRegistry,
                                                      status: int) -> None:
    registry.script(PATH, Reply(status, b'{"errors":[]}',
                                {"WWW-Authenticate": 'Bearer realm="x"'}), index_reply())
    with pytest.raises(RegistryError, match=f"HTTP {status}") as caught:
        RegistryClient().manifest(f"{registry.host}/stackbuild/debian:12")
    assert not isinstance(caught.value, TransientRegistryError)
    assert registry.count(PATH) == 1


def test_unreachable_registry_is_transient_and_retried() -> None:
    with socket.socket() as sock:  # a port that was just free: nothing listens on it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TransientRegistryError):
        RegistryClient(timeout_s=2, attempts=2).manifest(f"127.0.0.1:{port}/app:1")


@pytest.mark.parametrize(("reference", "url"), [
    ("localhost:5000/a/b:1", "http://localhost:5000/v2/a/b/manifests/1"),
    ("127.0.0.1:5000/a:1", "http://127.0.0.1:5000/v2/a/manifests/1"),
    ("registry.example.com/a:1", "https://registry.example.com/v2/a/manifests/1"),
    ("ghcr.io/org/a@sha256:ff", "https://ghcr.io/v2/org/a/manifests/sha256:ff"),
])
def test_scheme_is_http_only_for_local_registries(monkeypatch: pytest.MonkeyPatch,
                                                  reference: str, url: str) -> None:
    seen: list[str] = []

    def fake_urlopen(request: urllib.request.Request, timeout: float) -> None:
        seen.append(request.full_url)
        raise urllib.error.HTTPError(request.full_url, 404, "Not Found", None, None)  # type: ignore[arg-type]

    monkeypatch.setattr(engine.registry.urllib.request, "urlopen", fake_urlopen)
    assert RegistryClient().manifest(reference) is None
    assert seen == [url]
