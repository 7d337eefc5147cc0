"""Malformed and hostile registry answers: each is a RegistryError saying what is wrong, never a
Python error, a wrong result, a loop or a credential sent where it does not belong."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from tenacity import wait_none

import engine.registry.failures
import engine.registry.listings
from engine.errors import RegistryError
from engine.registry.attestations import IN_TOTO, rename_attestations
from engine.registry.auth import DEFAULT_TOKEN_LIFETIME_S, token_of
from engine.registry.catalog import Catalogue
from engine.registry.client import RegistryClient
from engine.registry.endpoints import Endpoint
from engine.registry.failures import RegistryUnreachable, TransientRegistryError
from engine.registry.intoto import attestation_manifests, material_digests, sbom_packages, statements
from engine.registry.manifest import Manifest
from engine.registry.transport import MAX_REDIRECTS, Transport
from tests.engine.registry.fakeregistry import FakeRegistry, Reply
from tests.loopback import QuietHandler, Served, serving

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DIGEST = "sha256:" + "a" * 64
DEEP = b"[" * 200_000  # nested deeper than Python's JSON parser recurses


@pytest.fixture(autouse=True)
def no_retry_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine.registry.failures, "_backoff", wait_none())


def client() -> RegistryClient:
    return RegistryClient(timeout_s=5, attempts=2)


# --- manifests and indexes ----------------------------------------------------------------------


@pytest.mark.parametrize("manifests", [
    "abc", 5, [5], [{"platform": {"os": "linux"}}], [{"digest": 5}], [{"digest": "../../x"}],
])
def test_an_index_whose_manifests_are_not_descriptors_is_a_registry_error(
        registry: FakeRegistry, manifests: Any) -> None:
    registry.script("/v2/r/manifests/t", Reply(200, json.dumps({"manifests": manifests}).encode(),
                                               {"Content-Type": OCI_INDEX}))
    with pytest.raises(RegistryError, match="`manifests` is not a list of descriptors"):
        client().image_config(f"{registry.host}/r:t")


def test_optional_fields_of_other_types_are_read_as_absent() -> None:
    body = {"manifests": [{"digest": DIGEST, "platform": None, "annotations": "x"}]}
    assert Manifest(DIGEST, OCI_INDEX, body).platforms() == {"None/None": DIGEST}
    assert Manifest(DIGEST, OCI_INDEX, {"manifests": None}).platforms() == {}


@pytest.mark.parametrize("config", [None, "x", {}, {"digest": 5}, {"digest": "../../x"}, {"digest": ""}])
def test_a_manifest_without_a_config_digest_is_a_registry_error_and_asks_for_no_blob(
        registry: FakeRegistry, config: Any) -> None:
    registry.script("/v2/r/manifests/t", Reply(200, json.dumps({"config": config}).encode(),
                                               {"Content-Type": OCI_MANIFEST}))
    with pytest.raises(RegistryError, match="no config descriptor with a digest"):
        client().image_config(f"{registry.host}/r:t")
    assert not [call.path for call in registry.calls if "/blobs/" in call.path]


@pytest.mark.parametrize("layers", ["abc", 5, [None], [{"size": 1}]])
def test_layers_that_are_not_descriptors_are_a_registry_error(layers: Any) -> None:
    with pytest.raises(RegistryError, match="`layers` is not a list of descriptors"):
        Manifest(DIGEST, OCI_MANIFEST, {"layers": layers}).layers()


def test_a_manifest_nested_too_deeply_is_a_registry_error(registry: FakeRegistry) -> None:
    registry.script("/v2/r/manifests/t", Reply(200, DEEP, {"Content-Type": OCI_MANIFEST}))
    with pytest.raises(RegistryError, match="not JSON"):
        client().manifest(f"{registry.host}/r:t")


def test_an_error_answer_nested_too_deeply_still_gives_the_refusal(registry: FakeRegistry) -> None:
    registry.script("/v2/r/manifests/t", Reply(400, b'{"errors":' + DEEP))
    with pytest.raises(RegistryError, match="HTTP 400"):
        client().manifest(f"{registry.host}/r:t")


@pytest.mark.parametrize("header", ["garbage", "sha256:", "sha256:../x"])
def test_a_digest_header_that_is_not_a_digest_is_a_registry_error(registry: FakeRegistry,
                                                                   header: str) -> None:
    registry.script("/v2/r/manifests/t", Reply(200, b"{}", {"Docker-Content-Digest": header}))
    with pytest.raises(RegistryError, match=r"Docker-Content-Digest .* is not a digest"):
        client().digest(f"{registry.host}/r:t")
    with pytest.raises(RegistryError, match="is not a digest"):
        client().manifest(f"{registry.host}/r:t")


# --- listings -----------------------------------------------------------------------------------


@pytest.mark.parametrize("tags", ["latest", 5, [1, None], {"a": 1}])
def test_a_tag_listing_that_is_not_a_list_of_names_is_a_registry_error(registry: FakeRegistry,
                                                                       tags: Any) -> None:
    registry.script("/v2/r/tags/list?n=1000", Reply(200, json.dumps({"tags": tags}).encode()))
    with pytest.raises(RegistryError, match="`tags` is not a list of names"):
        client().tags(f"{registry.host}/r")


def test_a_null_tag_listing_is_empty(registry: FakeRegistry) -> None:
    registry.script("/v2/r/tags/list?n=1000", Reply(200, b'{"tags": null}'))
    assert client().tags(f"{registry.host}/r") == []


def test_an_absolute_next_link_on_the_registry_itself_is_followed(registry: FakeRegistry) -> None:
    link = f'<http://{registry.host}/v2/r/tags/list?n=1000&last=a>; rel="next"'
    registry.script("/v2/r/tags/list?n=1000", Reply(200, b'{"tags": ["a"]}', {"Link": link}))
    registry.script("/v2/r/tags/list?n=1000&last=a", Reply(200, b'{"tags": ["b"]}'))
    assert client().tags(f"{registry.host}/r") == ["a", "b"]


@pytest.mark.parametrize("target", ["http://elsewhere.example/v2/r/tags/list", "file:///etc/passwd"])
def test_a_next_link_to_another_server_is_not_followed(registry: FakeRegistry, target: str) -> None:
    link = f'<{target}>; rel="next"'
    registry.script("/v2/r/tags/list?n=1000", Reply(200, b'{"tags": ["a"]}', {"Link": link}))
    with pytest.raises(RegistryError, match="the next page is on another server"):
        client().tags(f"{registry.host}/r")
    assert registry.count("/v2/r/tags/list?n=1000") == 1


def test_pagination_that_never_ends_is_cut_off(registry: FakeRegistry,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine.registry.listings, "MAX_PAGES", 3)
    for page in range(5):  # every page links to a new one
        path = "/v2/r/tags/list?n=1000" + (f"&last={page}" if page else "")
        link = f'</v2/r/tags/list?n=1000&last={page + 1}>; rel="next"'
        registry.script(path, Reply(200, json.dumps({"tags": [str(page)]}).encode(), {"Link": link}))
    with pytest.raises(RegistryError, match="more than 3 pages"):
        client().tags(f"{registry.host}/r")
    assert len([call for call in registry.calls if "/tags/list" in call.path]) == 3


# --- tokens -------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["abc\r\nX-Injected: 1", "a b", 12345, {"a": 1}, ["t"], True])
def test_a_token_that_cannot_go_in_a_header_is_a_registry_error(token: Any) -> None:
    with pytest.raises(RegistryError, match="not a string of visible ASCII"):
        token_of(json.dumps({"token": token}).encode(), 0.0)


@pytest.mark.parametrize("body", [DEEP, b"[1]", b'"t"', b"not json"])
def test_a_token_answer_that_is_no_json_object_has_no_token(body: bytes) -> None:
    with pytest.raises(RegistryError, match="without a token"):
        token_of(body, 0.0)


@pytest.mark.parametrize("expires_in", ["soon", -300, 0, "nan", "inf", [1]])
def test_an_unusable_expires_in_keeps_the_token_with_the_default_lifetime(expires_in: Any) -> None:
    token = token_of(json.dumps({"token": "t", "expires_in": expires_in}).encode(), 0.0)
    assert token.value == "t" and token.expires_at == DEFAULT_TOKEN_LIFETIME_S * 0.9


class TokenRegistry(QuietHandler):
    """A registry wanting a bearer token its /token endpoint answers with a header-breaking value."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path.startswith("/token"):
            self.answer(200, json.dumps({"token": "s3cret\r\nX-Injected: 1"}).encode())
            return
        realm = f"http://{self.headers['Host']}/token"
        self.answer(401, b"", {"WWW-Authenticate": f'Bearer realm="{realm}",service="s"'})


def test_a_header_breaking_token_is_a_registry_error_that_does_not_show_it() -> None:
    with serving(TokenRegistry) as served, pytest.raises(RegistryError) as caught:
        client().manifest(f"{served.host}/r:t")
    assert "s3cret" not in str(caught.value)


def realm_registry(realm: str) -> type[QuietHandler]:
    """A registry whose 401 names realm as its token server, counting requests to anything else."""
    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"
        others: ClassVar[list[str]] = []

        def do_GET(self) -> None:
            if not self.path.startswith("/v2/"):
                Handler.others.append(self.path)
            self.answer(401, b"", {"WWW-Authenticate": f'Bearer realm="{realm}",service="s"'})

    return Handler


@pytest.mark.parametrize(("realm", "said"), [
    ("file:///etc/passwd", "{host} asks for a token without a usable realm ('file:///etc/passwd')"),
    ("ftp://127.0.0.1/token", "{host} asks for a token without a usable realm ('ftp://127.0.0.1/token')"),
    ("https://../token", "'..' is not a registry host name"),
    ("https://a..b/token", "'a..b' is not a registry host name"),
])
def test_a_token_realm_that_is_no_http_address_on_a_host_is_refused(realm: str, said: str,
                                                                    tmp_path: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("STACKBUILD_CERTS_D", str(tmp_path))
    handler = realm_registry(realm)
    with serving(handler) as served, pytest.raises(RegistryError) as caught:
        client().manifest(f"{served.host}/r:t")
    assert caught.value.message == said.format(host=served.host)
    assert handler.others == []


# --- redirects ----------------------------------------------------------------------------------


class Elsewhere:
    """Another server, recording what reaches it."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bytes]] = []
        owner = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.seen.append((self.command, self.path, body))
                self.answer(200, b"{}")

            do_GET = do_POST

        self.served = Served(Handler).start()


@pytest.fixture
def elsewhere() -> Iterator[Elsewhere]:
    other = Elsewhere()
    yield other
    other.served.stop()


def redirector(location: str, status: int = 307) -> type[QuietHandler]:
    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.answer(status, b"", {"Location": location})

        do_GET = do_POST

    return Handler


def test_a_body_is_not_redirected_to_another_server(elsewhere: Elsewhere) -> None:
    with (serving(redirector(f"http://{elsewhere.served.host}/steal")) as served,
          pytest.raises(RegistryError, match="redirects the request's body to another server") as caught):
        Transport(5).send(Endpoint(served.host, "http"), "POST", f"http://{served.host}/token", {},
                          form={"refresh_token": "s3cret"})
    assert elsewhere.seen == [] and "s3cret" not in str(caught.value)


def test_a_redirect_to_another_scheme_is_not_followed(elsewhere: Elsewhere) -> None:
    with (serving(redirector(f"ftp://{elsewhere.served.host}/x")) as served,
          pytest.raises(RegistryError, match="not an HTTP")):
        Transport(5).send(Endpoint(served.host, "http"), "GET", f"http://{served.host}/v2/", {})
    assert elsewhere.seen == []


def test_a_redirect_loop_is_a_definitive_error_not_retried() -> None:
    with serving(redirector("/v2/r/manifests/t", 302)) as served:
        registry = RegistryClient(timeout_s=5, attempts=3)
        with pytest.raises(RegistryError, match=f"more than {MAX_REDIRECTS} redirects") as caught:
            registry.manifest(f"{served.host}/r:t")
    assert not isinstance(caught.value, TransientRegistryError)
    assert sum(registry.requests.values()) == 1  # the ping, redirected in a loop: not sent again


def malformed_answer(head: bytes) -> type[QuietHandler]:
    """A server answering every GET with head as its status line and headers."""
    class Handler(QuietHandler):
        def do_GET(self) -> None:
            self.wfile.write(head + b"Content-Length: 0\r\n\r\n")

    return Handler


@pytest.mark.parametrize(("head", "said"), [
    (b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70_000 + b"\r\n", "LineTooLong"),
    (b"HTTP/1.1 200 OK\r\n" + b"X-Many: 1\r\n" * 150, "got more than 100 headers"),
    (b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:port/x\r\n", "InvalidURL"),
])
def test_an_answer_no_registry_sends_is_a_definitive_error_not_retried(head: bytes, said: str) -> None:
    with serving(malformed_answer(head)) as served:
        registry = RegistryClient(timeout_s=5, attempts=3)
        with pytest.raises(RegistryError, match="the answer is not one a registry sends") as caught:
            registry.manifest(f"{served.host}/r:t")
    assert said in caught.value.message
    assert not isinstance(caught.value, TransientRegistryError)
    assert sum(registry.requests.values()) == 1  # the ping: not sent again


@pytest.mark.parametrize(("errno", "definitive"), [(socket.EAI_NONAME, True), (socket.EAI_AGAIN, False)])
def test_a_name_with_no_address_is_unreachable_at_once_a_dns_outage_is_retried(
        monkeypatch: pytest.MonkeyPatch, errno: int, definitive: bool) -> None:
    def lookup(*_args: object, **_kwargs: object) -> None:
        raise socket.gaierror(errno, "lookup failed")

    monkeypatch.setattr(socket, "create_connection", lookup)  # what http.client connects with
    registry = RegistryClient(timeout_s=5, attempts=3)
    with pytest.raises(RegistryError) as caught:
        registry.manifest("registry.example.com/r:t")
    assert isinstance(caught.value, RegistryUnreachable) is definitive
    if definitive:
        assert caught.value.message == ("no registry answers at https://registry.example.com "
                                        "(the name registry.example.com has no address)")
    assert sum(registry.requests.values()) == (1 if definitive else 3)


# --- attestations and image configs ----------------------------------------------------------------


@pytest.mark.parametrize("size", ["12", -1, None, 1.5, True])
def test_a_statement_size_that_is_not_a_byte_count_is_a_registry_error(size: Any) -> None:
    class Reader:
        def manifest(self, reference: str) -> Manifest:
            return Manifest(DIGEST, OCI_MANIFEST, {"layers": [{"digest": DIGEST, "size": size}]})

        def blob(self, reference: str) -> bytes | None:
            return None

    with pytest.raises(RegistryError, match="size is not a count of bytes"):
        statements(Reader(), "h/r", DIGEST)


def test_attestation_annotations_of_other_types_are_read_as_absent() -> None:
    index = Manifest(DIGEST, OCI_INDEX, {"manifests": [{"digest": DIGEST, "annotations": None}]})
    assert attestation_manifests(index) == {}


@pytest.mark.parametrize("statement", [
    {"predicate": "x"}, {"predicate": {"materials": "abc", "buildDefinition": "x"}},
    {"predicate": {"buildDefinition": {"resolvedDependencies": 5}, "packages": {"a": 1}}},
])
def test_statements_of_other_shapes_name_nothing(statement: dict[str, Any]) -> None:
    assert material_digests(statement) == set()
    assert sbom_packages(statement) == {}


def test_a_statement_that_is_not_utf8_is_a_registry_error() -> None:
    attestation = Manifest(DIGEST, OCI_MANIFEST, {"layers": [{"mediaType": IN_TOTO, "digest": DIGEST}]})
    index = Manifest(DIGEST, OCI_INDEX, {"manifests": [
        {"digest": DIGEST, "annotations": {"vnd.docker.reference.type": "attestation-manifest"}}]})

    class Store:
        def manifest(self, reference: str) -> Manifest:
            return index if reference.endswith("@index") else attestation

        def blob(self, reference: str) -> bytes:
            return b"\xff\xfe localhost:4711"

        def put_blob(self, repository: str, body: bytes) -> str:
            raise AssertionError("nothing is stored")

        def put_manifest(self, reference: str, body: bytes, media_type: str) -> str:
            raise AssertionError("nothing is stored")

    with pytest.raises(RegistryError, match="not UTF-8"):
        rename_attestations(Store(), "h/r", "t", "index", "localhost:4711", "localhost:5000")


@pytest.mark.parametrize("config", [{"config": None}, {"config": {"Labels": ["a"]}}, {"config": "x"}])
def test_image_config_labels_of_other_types_are_none(config: dict[str, Any]) -> None:
    class Client:
        def manifest(self, reference: str) -> Manifest:
            return Manifest(DIGEST, OCI_MANIFEST, {"config": {"digest": DIGEST}})

        def image_config(self, reference: str, platform: str = "") -> dict[str, Any]:
            return config

    record = Catalogue(Client()).record("h/r:t")  # type: ignore[arg-type]
    assert record is not None and record.digest == DIGEST
