"""registry: reference parsing, manifest reading, and the client against a tiny local server."""

from __future__ import annotations

import email.utils
import hashlib
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from tenacity import RetryCallState, Retrying, wait_fixed, wait_none

import engine.registry.client
import engine.registry.failures
from engine.errors import EngineError, RegistryError
from engine.registry.client import (
    ACCEPT,
    MANIFEST_TYPES,
    Manifest,
    RegistryClient,
    RegistryUnreachable,
    TransientRegistryError,
    split_reference,
)
from engine.registry.failures import retry_after, retry_wait
from tests.engine.registry.fakeregistry import FakeRegistry, Reply

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX_DIGEST = "sha256:" + "1" * 64
DEFAULT_BACKOFF = engine.registry.failures._backoff  # before the autouse fixture replaces it


# --- split_reference ----------------------------------------------------------------------------


@pytest.mark.parametrize(("reference", "expected"), [
    ("localhost:5000/stackbuild/debian:12", ("localhost:5000", "stackbuild/debian", "12")),
    (f"localhost:5000/stackbuild/debian@{'sha256:' + 'a' * 64}",
     ("localhost:5000", "stackbuild/debian", "sha256:" + "a" * 64)),
    ("ubuntu", ("docker.io", "library/ubuntu", "latest")),
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


def test_of_two_entries_for_one_platform_the_first_counts_as_a_runtime_pulls_it() -> None:
    body = {"manifests": [_entry("sha256:first", "linux", "amd64"),
                          _entry("sha256:second", "linux", "amd64")]}
    assert Manifest(INDEX_DIGEST, OCI_INDEX, body).platforms() == {"linux/amd64": "sha256:first"}


def test_platforms_of_a_single_image_manifest_is_empty() -> None:
    assert Manifest("sha256:x", OCI_MANIFEST, {"layers": []}).platforms() == {}


def test_layers_base_first() -> None:
    body = {"config": {"digest": "sha256:cfg"},
            "layers": [{"digest": "sha256:l1"}, {"digest": "sha256:l2"}, {"digest": "sha256:l3"}]}
    manifest = Manifest("sha256:x", OCI_MANIFEST, body)
    assert manifest.layers() == ["sha256:l1", "sha256:l2", "sha256:l3"]
    assert Manifest("sha256:x", OCI_INDEX, {}).layers() == []


OCI_INDEX_TYPE, DOCKER_LIST_TYPE = ("application/vnd.oci.image.index.v1+json",
                                    "application/vnd.docker.distribution.manifest.list.v2+json")
OCI_MANIFEST_TYPE, DOCKER_MANIFEST_TYPE = ("application/vnd.oci.image.manifest.v1+json",
                                          "application/vnd.docker.distribution.manifest.v2+json")


@pytest.mark.parametrize("media_type", [OCI_INDEX_TYPE, DOCKER_LIST_TYPE])
def test_index_types_are_indexes(media_type: str) -> None:
    assert Manifest("d", media_type, {}).is_index


@pytest.mark.parametrize("media_type", [OCI_MANIFEST_TYPE, DOCKER_MANIFEST_TYPE, "", "application/json"])
def test_other_types_are_not_indexes(media_type: str) -> None:
    assert not Manifest("d", media_type, {}).is_index


def test_accept_header_asks_for_indexes_and_manifests() -> None:
    assert sorted(ACCEPT.split(", ")) == sorted([OCI_INDEX_TYPE, DOCKER_LIST_TYPE, OCI_MANIFEST_TYPE,
                                                 DOCKER_MANIFEST_TYPE])


def test_an_unreachable_registry_is_an_engine_error_with_exit_code_1() -> None:
    with socket.socket() as sock:  # a port nobody listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with pytest.raises(EngineError) as caught:
            RegistryClient(timeout_s=2, attempts=1).digest(f"127.0.0.1:{port}/t/a:1")
    assert caught.value.exit_code == 1
    assert str(caught.value).startswith(
        f"no registry answers at http://127.0.0.1:{port} (connection refused)")


# --- RegistryClient against a local server ------------------------------------------------------


@pytest.fixture(autouse=True)
def no_retry_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the retries but not their back-off sleeps."""
    monkeypatch.setattr(engine.registry.failures, "_backoff", wait_none())


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
    assert dict(registry.requests)[PATH] == ACCEPT


def test_manifest_by_digest_asks_for_the_digest(registry: FakeRegistry) -> None:
    path = f"/v2/stackbuild/debian/manifests/{RAW_DIGEST}"
    registry.script(path, Reply(200, RAW_INDEX, {"Content-Type": OCI_INDEX}))
    manifest = RegistryClient().manifest(f"{registry.host}/stackbuild/debian@{RAW_DIGEST}")
    assert manifest is not None
    assert manifest.digest == RAW_DIGEST
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
    registry.script(PATH, Reply(status, b'{"errors":[]}'), index_reply())
    with pytest.raises(RegistryError, match=f"HTTP {status}") as caught:
        RegistryClient().manifest(f"{registry.host}/stackbuild/debian:12")
    assert not isinstance(caught.value, TransientRegistryError)
    assert registry.count(PATH) == 1


def test_a_refused_connection_fails_fast_naming_the_registry_and_the_fix() -> None:
    with socket.socket() as sock:  # a port that was just free: nothing listens on it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = RegistryClient(timeout_s=2, attempts=5)
    with pytest.raises(RegistryUnreachable) as caught:
        client.manifest(f"127.0.0.1:{port}/app:1")
    assert not isinstance(caught.value, TransientRegistryError)
    assert caught.value.message == f"no registry answers at http://127.0.0.1:{port} (connection refused)"
    assert "make setup" in caught.value.hint
    assert "--offline" in caught.value.hint
    assert "--registry" in caught.value.hint
    assert client.requests == {"ping": 1}  # not retried


# --- digest (HEAD) ------------------------------------------------------------------------------


def test_digest_is_one_head_reading_the_digest_header(registry: FakeRegistry) -> None:
    registry.script(PATH, index_reply())
    client = RegistryClient()
    assert client.digest(f"{registry.host}/stackbuild/debian:12") == INDEX_DIGEST
    assert [(call.method, call.path) for call in registry.calls] == [("GET", "/v2/"), ("HEAD", PATH)]
    assert registry.calls[1].headers["Accept"] == ACCEPT
    assert client.requests == {"ping": 1, "HEAD": 1}


def test_digest_of_a_missing_reference_is_none(registry: FakeRegistry) -> None:
    client = RegistryClient()
    assert client.digest(f"{registry.host}/stackbuild/debian:404") is None
    assert registry.count("/v2/stackbuild/debian/manifests/404", "HEAD") == 1
    assert client.requests == {"ping": 1, "HEAD": 1}


def test_digest_without_the_digest_header_gets_and_hashes_the_body(registry: FakeRegistry) -> None:
    registry.script(PATH, Reply(200, b"", {"Content-Type": OCI_INDEX}), method="HEAD")
    registry.script(PATH, Reply(200, RAW_INDEX, {"Content-Type": OCI_INDEX}))
    client = RegistryClient()
    assert client.digest(f"{registry.host}/stackbuild/debian:12") == RAW_DIGEST
    assert client.requests == {"ping": 1, "HEAD": 1, "GET": 1}


def test_manifest_without_the_digest_header_has_the_body_hash(registry: FakeRegistry) -> None:
    registry.script(PATH, Reply(200, RAW_INDEX, {"Content-Type": OCI_INDEX}))
    manifest = RegistryClient().manifest(f"{registry.host}/stackbuild/debian:12")
    assert manifest is not None
    assert manifest.digest == "sha256:" + hashlib.sha256(RAW_INDEX).hexdigest()


def test_digest_by_digest_without_the_header_needs_no_get(registry: FakeRegistry) -> None:
    path = f"/v2/stackbuild/debian/manifests/{INDEX_DIGEST}"
    registry.script(path, Reply(200, b"", {"Content-Type": OCI_INDEX}), method="HEAD")
    client = RegistryClient()
    assert client.digest(f"{registry.host}/stackbuild/debian@{INDEX_DIGEST}") == INDEX_DIGEST
    assert client.requests == {"ping": 1, "HEAD": 1}


def test_digest_by_digest_reference(registry: FakeRegistry) -> None:
    path = f"/v2/stackbuild/debian/manifests/{INDEX_DIGEST}"
    registry.script(path, index_reply())
    assert RegistryClient().digest(f"{registry.host}/stackbuild/debian@{INDEX_DIGEST}") == INDEX_DIGEST
    assert registry.count(path, "HEAD") == 1


def test_digest_503_is_retried_and_every_attempt_counted(registry: FakeRegistry) -> None:
    registry.script(PATH, Reply(503), Reply(503), index_reply(), method="HEAD")
    client = RegistryClient(attempts=5)
    assert client.digest(f"{registry.host}/stackbuild/debian:12") == INDEX_DIGEST
    assert registry.count(PATH, "HEAD") == 3
    assert client.requests == {"ping": 1, "HEAD": 3}


# --- tag (GET by digest, PUT of the same body) --------------------------------------------------

RAW_INDEX = b'{\n   "schemaVersion" : 2,  "manifests": []}\n'  # not how json.dumps would write it
RAW_DIGEST = "sha256:" + hashlib.sha256(RAW_INDEX).hexdigest()


def test_tag_gets_the_source_then_puts_the_same_body_and_type(registry: FakeRegistry) -> None:
    source = f"/v2/stackbuild/debian/manifests/{RAW_DIGEST}"
    registry.script(source, Reply(200, RAW_INDEX, {"Content-Type": OCI_INDEX,
                                                   "Docker-Content-Digest": RAW_DIGEST}))
    client = RegistryClient()
    digest = client.tag(f"{registry.host}/stackbuild/debian@{RAW_DIGEST}",
                        f"{registry.host}/stackbuild/debian:12")
    assert digest == RAW_DIGEST
    assert [(call.method, call.path) for call in registry.calls] == [
        ("GET", "/v2/"), ("GET", source), ("PUT", PATH)]
    put = registry.calls[2]
    assert put.body == RAW_INDEX
    assert put.headers["Content-Type"] == OCI_INDEX
    assert client.requests == {"ping": 1, "GET": 1, "PUT": 1}


def test_a_manifest_read_by_digest_is_not_read_again_but_one_read_by_tag_is(registry: FakeRegistry) -> None:
    source = f"/v2/stackbuild/debian/manifests/{RAW_DIGEST}"
    registry.script(source, Reply(200, RAW_INDEX, {"Content-Type": OCI_INDEX}))
    registry.script(PATH, Reply(200, RAW_INDEX, {"Content-Type": OCI_INDEX}))
    client = RegistryClient()
    by_digest = f"{registry.host}/stackbuild/debian@{RAW_DIGEST}"
    by_tag = f"{registry.host}/stackbuild/debian:12"
    assert client.manifest(by_digest) == client.manifest(by_digest)
    client.tag(by_digest, by_tag)  # the layer check read it: the content tag only PUTs
    client.manifest(by_tag)
    client.manifest(by_tag)
    assert registry.count(source, "GET") == 1 and registry.count(PATH, "GET") == 2
    assert client.requests == {"ping": 1, "GET": 3, "PUT": 1}


@pytest.mark.parametrize("kind", ["manifests", "blobs"])
def test_content_that_does_not_have_the_digest_it_was_asked_by_is_refused(registry: FakeRegistry,
                                                                         kind: str) -> None:
    other = "sha256:" + "2" * 64
    source = f"/v2/app/{kind}/{other}"
    registry.script(source, Reply(200, RAW_INDEX, {"Content-Type": OCI_INDEX}))
    client = RegistryClient()
    read = client.manifest if kind == "manifests" else client.blob
    for _ in range(2):  # nothing is kept: asked again, it is read again
        with pytest.raises(RegistryError) as caught:
            read(f"{registry.host}/app@{other}")
        assert "content does not match its digest" in caught.value.message
    assert registry.count(source, "GET") == 2


def test_tag_keeps_a_single_image_manifest_type(registry: FakeRegistry) -> None:
    source = f"/v2/app/manifests/{RAW_DIGEST}"
    registry.script(source, Reply(200, RAW_INDEX, {"Content-Type": MANIFEST_TYPES[1]}))
    RegistryClient().tag(f"{registry.host}/app@{RAW_DIGEST}", f"{registry.host}/app:v2")
    assert registry.calls[-1].method == "PUT"
    assert registry.calls[-1].path == "/v2/app/manifests/v2"
    assert registry.calls[-1].headers["Content-Type"] == MANIFEST_TYPES[1]


def test_tag_of_a_missing_source_puts_nothing(registry: FakeRegistry) -> None:
    client = RegistryClient()
    with pytest.raises(RegistryError) as caught:
        client.tag(f"{registry.host}/stackbuild/debian@{RAW_DIGEST}", f"{registry.host}/stackbuild/debian:12")
    assert caught.value.message == (f"cannot tag {registry.host}/stackbuild/debian:12: "
                                    f"{registry.host}/stackbuild/debian@{RAW_DIGEST} is not in the registry")
    assert [call.method for call in registry.calls] == ["GET", "GET"]  # /v2/, then the source
    assert client.requests == {"ping": 1, "GET": 1}


def test_tag_put_503_is_retried(registry: FakeRegistry) -> None:
    registry.script(f"/v2/app/manifests/{RAW_DIGEST}", Reply(200, RAW_INDEX, {"Content-Type": OCI_INDEX}))
    registry.script("/v2/app/manifests/1", Reply(503), Reply(201), method="PUT")
    client = RegistryClient()
    assert client.tag(f"{registry.host}/app@{RAW_DIGEST}", f"{registry.host}/app:1") == RAW_DIGEST
    assert client.requests == {"ping": 1, "GET": 1, "PUT": 2}
    assert [call.body for call in registry.calls if call.method == "PUT"] == [RAW_INDEX, RAW_INDEX]


@pytest.mark.parametrize("status", [400, 401, 403])
def test_tag_put_refused_is_a_registry_error(registry: FakeRegistry, status: int) -> None:
    registry.script(f"/v2/app/manifests/{RAW_DIGEST}", Reply(200, RAW_INDEX, {"Content-Type": OCI_INDEX}))
    registry.script("/v2/app/manifests/1", Reply(status), method="PUT")
    with pytest.raises(RegistryError, match=f"PUT .*/v2/app/manifests/1: HTTP {status}"):
        RegistryClient().tag(f"{registry.host}/app@{RAW_DIGEST}", f"{registry.host}/app:1")
    assert registry.count("/v2/app/manifests/1", "PUT") == 1


def test_tag_put_404_is_a_registry_error(registry: FakeRegistry) -> None:
    registry.script(f"/v2/app/manifests/{RAW_DIGEST}", Reply(200, RAW_INDEX, {"Content-Type": OCI_INDEX}))
    registry.script("/v2/app/manifests/1", Reply(404, b'{"errors":[{"code":"NAME_UNKNOWN"}]}'), method="PUT")
    with pytest.raises(RegistryError) as caught:
        RegistryClient().tag(f"{registry.host}/app@{RAW_DIGEST}", f"{registry.host}/app:1")
    assert str(caught.value) == (f"the registry refused to tag {registry.host}/app:1 "
                                 "(404: repository unknown) (check the registry prefix)")
    assert registry.count("/v2/app/manifests/1", "PUT") == 1  # a 404 is definitive: not retried


# --- Retry-After --------------------------------------------------------------------------------


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The seconds tenacity asked to sleep (its default sleep calls time.sleep); nobody really sleeps."""
    calls: list[float] = []
    monkeypatch.setattr(time, "sleep", calls.append)
    return calls


@pytest.mark.parametrize(("header", "expected"), [("7", 7.0), ("1.5", 1.5), ("120", 30.0)])
def test_retry_after_is_honoured_and_capped(registry: FakeRegistry, slept: list[float], header: str,
                                            expected: float) -> None:
    registry.script(PATH, Reply(429, b"", {"Retry-After": header}), index_reply())
    assert RegistryClient().manifest(f"{registry.host}/stackbuild/debian:12") is not None
    assert slept == [expected]
    assert registry.count(PATH) == 2


@pytest.mark.parametrize("header", ["", "Wed, 21 Oct 2015 07:28:00 GMT", "-3", "soon"])  # a past date: 0
def test_without_a_usable_retry_after_the_backoff_is_used(
        registry: FakeRegistry, slept: list[float], monkeypatch: pytest.MonkeyPatch, header: str) -> None:
    monkeypatch.setattr(engine.registry.failures, "_backoff", wait_fixed(0.25))
    registry.script(PATH, Reply(503, b"", {"Retry-After": header} if header else {}), index_reply())
    assert RegistryClient().manifest(f"{registry.host}/stackbuild/debian:12") is not None
    assert slept == [0.25]


def call_state(error: BaseException, attempt: int = 1) -> RetryCallState:
    """A tenacity call state whose last attempt raised error."""
    state = RetryCallState(retry_object=Retrying(), fn=None, args=(), kwargs={})
    state.attempt_number = attempt
    state.set_exception((type(error), error, None))
    return state


def test_wait_uses_retry_after_of_a_transient_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine.registry.failures, "_backoff", wait_fixed(0.25))
    assert retry_wait(call_state(TransientRegistryError("x", retry_after=7.0))) == 7.0
    assert retry_wait(call_state(TransientRegistryError("x", retry_after=31.0))) == 30.0
    assert retry_wait(call_state(TransientRegistryError("x"))) == 0.25
    assert retry_wait(call_state(RegistryError("x"))) == 0.25


def test_default_backoff_is_jittered_exponential_up_to_5_s(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine.registry.failures, "_backoff", DEFAULT_BACKOFF)
    first = [retry_wait(call_state(TransientRegistryError("x"), 1)) for _ in range(50)]
    late = [retry_wait(call_state(TransientRegistryError("x"), 20)) for _ in range(50)]
    assert all(0.0 <= wait <= 0.2 for wait in first)
    assert all(0.0 <= wait <= 5.0 for wait in late)
    assert max(late) > 0.2
    assert len(set(late)) > 1  # jittered


NOW = 1_445_412_480.0  # Wed, 21 Oct 2015 07:28:00 GMT


@pytest.mark.parametrize(("value", "expected"), [
    ("3", 3.0), ("0.5", 0.5), ("-1", 0.0), ("", 0.0), ("soon", 0.0),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0), ("Wed, 21 Oct 2015 07:28:12 GMT", 12.0),
    ("Wed, 21 Oct 2015 07:30:00 GMT", 120.0), ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
])
def test_retry_after_in_seconds_and_as_an_http_date(value: str, expected: float) -> None:
    assert retry_after(value, now=NOW) == expected


def test_an_http_date_retry_after_is_waited_for(registry: FakeRegistry, slept: list[float]) -> None:
    soon = email.utils.formatdate(time.time() + 20, usegmt=True)
    registry.script(PATH, Reply(503, b"", {"Retry-After": soon}), index_reply())
    assert RegistryClient().manifest(f"{registry.host}/stackbuild/debian:12") is not None
    assert len(slept) == 1
    assert 17.0 <= slept[0] <= 20.0


# --- request counting ---------------------------------------------------------------------------


def test_requests_are_counted_per_method_across_calls(registry: FakeRegistry) -> None:
    registry.script(PATH, index_reply())
    registry.script(f"/v2/stackbuild/debian/manifests/{RAW_DIGEST}",
                    Reply(200, RAW_INDEX, {"Content-Type": OCI_INDEX}))
    client = RegistryClient()
    client.digest(f"{registry.host}/stackbuild/debian:12")
    client.digest(f"{registry.host}/stackbuild/debian:nope")
    client.manifest(f"{registry.host}/stackbuild/debian:12")
    client.tag(f"{registry.host}/stackbuild/debian@{RAW_DIGEST}", f"{registry.host}/stackbuild/debian:13")
    assert client.requests == {"ping": 1, "HEAD": 2, "GET": 2, "PUT": 1}
    assert len(registry.calls) == 6


def test_request_counting_is_thread_safe(registry: FakeRegistry) -> None:
    registry.script(PATH, index_reply())
    client = RegistryClient()
    with ThreadPoolExecutor(max_workers=8) as pool:
        digests = list(pool.map(lambda _: client.digest(f"{registry.host}/stackbuild/debian:12"), range(40)))
    assert digests == [INDEX_DIGEST] * 40
    assert client.requests == {"ping": 1, "HEAD": 40}  # one /v2/ however many threads ask at once


def test_two_clients_count_separately(registry: FakeRegistry) -> None:
    first, second = RegistryClient(), RegistryClient()
    first.digest(f"{registry.host}/a:1")
    assert (first.requests, second.requests) == ({"ping": 1, "HEAD": 1}, {})


# --- image_config -------------------------------------------------------------------------------


def test_image_config_follows_index_platform_manifest_and_config_blob(registry: FakeRegistry) -> None:
    config = {"config": {"Labels": {"org.stackbuild.node": "debian"}}}
    config_body = json.dumps(config).encode()
    config_digest = "sha256:" + hashlib.sha256(config_body).hexdigest()
    arm_body = json.dumps({"config": {"digest": config_digest}, "layers": []}).encode()
    arm_digest = "sha256:" + hashlib.sha256(arm_body).hexdigest()
    index = buildx_index()
    index["manifests"][1]["digest"] = arm_digest
    registry.script(PATH, Reply(200, json.dumps(index).encode(), {"Content-Type": OCI_INDEX}))
    registry.script(f"/v2/stackbuild/debian/manifests/{arm_digest}",
                    Reply(200, arm_body, {"Content-Type": OCI_MANIFEST}))
    registry.script(f"/v2/stackbuild/debian/blobs/{config_digest}", Reply(200, config_body))
    client = RegistryClient()
    assert client.image_config(f"{registry.host}/stackbuild/debian:12", "linux/arm64") == config
    assert [call.path for call in registry.calls] == [
        "/v2/", PATH, f"/v2/stackbuild/debian/manifests/{arm_digest}",
        f"/v2/stackbuild/debian/blobs/{config_digest}"]
    assert client.image_config(f"{registry.host}/stackbuild/debian:12", "linux/s390x") is None
    assert client.image_config(f"{registry.host}/stackbuild/missing:1") is None


# --- delete_manifest ----------------------------------------------------------------------------


def test_a_manifest_is_deleted_by_digest_with_a_delete_scope(registry: FakeRegistry) -> None:
    path = f"/v2/team/app/manifests/{INDEX_DIGEST}"
    registry.script(path, Reply(202), method="DELETE")
    assert RegistryClient().delete_manifest(f"{registry.host}/team/app@{INDEX_DIGEST}") is True
    assert registry.count(path, "DELETE") == 1


def test_a_manifest_already_gone_is_no_failure(registry: FakeRegistry) -> None:
    assert RegistryClient().delete_manifest(f"{registry.host}/team/app@{INDEX_DIGEST}") is False


def test_a_registry_without_deletion_says_how_to_enable_it(registry: FakeRegistry) -> None:
    unsupported = b'{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}'
    registry.script(f"/v2/team/app/manifests/{INDEX_DIGEST}", Reply(405, unsupported), method="DELETE")
    with pytest.raises(engine.registry.client.DeletionDisabled) as caught:
        RegistryClient().delete_manifest(f"{registry.host}/team/app@{INDEX_DIGEST}")
    message = str(caught.value)
    assert registry.host in message and "UNSUPPORTED" in message and INDEX_DIGEST in message
    assert "storage: delete: enabled: true" in message and "REGISTRY_STORAGE_DELETE_ENABLED" in message


def test_a_deletion_that_failed_transiently_is_tried_again(registry: FakeRegistry) -> None:
    path = f"/v2/team/app/manifests/{INDEX_DIGEST}"
    registry.script(path, Reply(503), Reply(202), method="DELETE")
    assert RegistryClient(attempts=3).delete_manifest(f"{registry.host}/team/app@{INDEX_DIGEST}") is True
    assert registry.count(path, "DELETE") == 2


@pytest.mark.parametrize(("body", "said"), [
    (b'{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}',
     "NAME_UNKNOWN: repository name not known to registry"),
    (b"<html><body>404 Not Found</body></html>", "no registry error"),  # a proxy's, a wrong path prefix
])
def test_a_404_to_a_deletion_that_is_no_manifest_unknown_is_an_error_not_already_gone(
        registry: FakeRegistry, body: bytes, said: str) -> None:
    # only distribution's MANIFEST_UNKNOWN says the manifest is gone (as manifest_gone rules): any
    # other 404 was reported "already gone" though nothing says the manifest is not there
    registry.script(f"/v2/team/app/manifests/{INDEX_DIGEST}", Reply(404, body), method="DELETE")
    with pytest.raises(RegistryError) as caught:
        RegistryClient().delete_manifest(f"{registry.host}/team/app@{INDEX_DIGEST}")
    message = str(caught.value)
    assert "404" in message and said in message and INDEX_DIGEST in message and "<html>" not in message
    assert caught.value.hint


def test_a_manifest_is_never_deleted_by_tag() -> None:
    with pytest.raises(ValueError, match="by digest"):
        RegistryClient().delete_manifest("localhost:5000/team/app:1")


# --- manifest_gone: only distribution's own "manifest unknown" proves a subject gone (prune) -----

GONE_PATH = f"/v2/stackbuild/debian/manifests/{RAW_DIGEST}"


@pytest.mark.parametrize(("reply", "gone"), [
    (Reply(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'), True),
    (Reply(404, b"<html>404 page not found</html>"), False),  # a proxy's, or a wrong path prefix
    (Reply(404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known"}]}'), False),
    (Reply(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"OCI index found, but accept header '
                b'does not support OCI indexes"}]}'), False),  # distribution 2.8: there, not sent
    (Reply(200, RAW_INDEX, {"Content-Type": OCI_INDEX}), False),
])
def test_only_a_404_manifest_unknown_says_a_manifest_is_gone(registry: FakeRegistry, reply: Reply,
                                                            gone: bool) -> None:
    registry.script(GONE_PATH, reply)
    assert RegistryClient().manifest_gone(f"{registry.host}/stackbuild/debian@{RAW_DIGEST}") is gone
    accept = dict(registry.requests)[GONE_PATH]
    assert all(media_type in accept for media_type in ACCEPT.split(", "))


def test_manifest_gone_asks_the_registry_again_and_a_refusal_is_an_error(registry: FakeRegistry) -> None:
    registry.script(GONE_PATH, Reply(200, RAW_INDEX, {"Content-Type": OCI_INDEX}),
                    Reply(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}'), Reply(403))
    client = RegistryClient()
    assert client.manifest(f"{registry.host}/stackbuild/debian@{RAW_DIGEST}") is not None
    assert client.manifest_gone(f"{registry.host}/stackbuild/debian@{RAW_DIGEST}")  # not the memo's copy
    with pytest.raises(RegistryError, match="403"):
        client.manifest_gone(f"{registry.host}/stackbuild/debian@{RAW_DIGEST}")
