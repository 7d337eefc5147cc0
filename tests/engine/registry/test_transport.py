"""engine.registry.transport: keep-alive per thread, redirects, a closed idle connection, merged headers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from engine.registry import transport as transport_module
from engine.registry.endpoints import Endpoint
from engine.registry.failures import AnswerTooLarge, RegistryUnreachable, TransientRegistryError
from engine.registry.transport import Transport
from tests.loopback import QuietHandler, Served, serving


class Server:
    """A local HTTP/1.1 server recording (client port, method, path, Authorization) per request."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, str, str, str]] = []
        self.close_after_answer = False
        owner = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                owner.seen.append((self.client_address[1], self.command, self.path,
                                   self.headers.get("Authorization", "")))
                if self.path.startswith("/moved"):
                    self.send_response(307)
                    self.send_header("Location", self.path.removeprefix("/moved"))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = b"" if self.command == "HEAD" else b"hello"
                self.send_response(200)
                self.send_header("Docker-Content-Digest", "sha256:abc")
                self.send_header("Www-Authenticate", "Bearer a")
                self.send_header("Www-Authenticate", "Basic b")
                self.send_header("Content-Length", "5")
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                if owner.close_after_answer:  # like a server dropping an idle keep-alive connection
                    self.close_connection = True

            do_HEAD = do_GET

        self.served = Served(Handler).start()

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(self.served.host, "http")

    def url(self, path: str) -> str:
        return f"http://{self.served.host}{path}"


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    yield running
    running.served.stop()


def test_requests_of_one_thread_share_one_connection(server: Server) -> None:
    transport = Transport(5)
    answers = [transport.send(server.endpoint, "HEAD", server.url(f"/v2/r/manifests/{n}"), {})
               for n in range(5)]
    assert {answer.headers["docker-content-digest"] for answer in answers} == {"sha256:abc"}
    assert len({connection for connection, *_ in server.seen}) == 1
    transport.close()


def test_threads_get_connections_of_their_own(server: Server) -> None:
    transport = Transport(5)
    barrier = threading.Barrier(3)

    def ask() -> None:
        barrier.wait()
        for n in range(3):
            transport.send(server.endpoint, "GET", server.url(f"/v2/x/{n}"), {})

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(server.seen) == 9
    assert len({connection for connection, *_ in server.seen}) == 3
    transport.close()


def test_a_connection_the_server_closed_is_reopened_once(server: Server) -> None:
    transport = Transport(5)
    server.close_after_answer = True
    bodies = [transport.send(server.endpoint, "GET", server.url("/v2/"), {}).body for _ in range(3)]
    assert bodies == [b"hello"] * 3
    assert len({connection for connection, *_ in server.seen}) == 3
    transport.close()


def test_redirects_are_followed_and_authorization_kept_on_the_same_origin(server: Server) -> None:
    answer = Transport(5).send(server.endpoint, "GET", server.url("/moved/v2/r/blobs/d"),
                               {"Authorization": "Bearer t"})
    assert (answer.status, answer.body) == (200, b"hello")
    assert [(path, auth) for _, _, path, auth in server.seen] == [("/moved/v2/r/blobs/d", "Bearer t"),
                                                                  ("/v2/r/blobs/d", "Bearer t")]


def test_a_redirect_to_another_origin_drops_authorization(server: Server) -> None:
    other = Server()
    try:
        target = f"/moved{other.url('/blob')}"
        answer = Transport(5).send(server.endpoint, "GET", server.url(target), {"Authorization": "Bearer t"})
        assert answer.body == b"hello"
        assert [auth for *_, auth in server.seen] == ["Bearer t"]
        assert [(path, auth) for _, _, path, auth in other.seen] == [("/blob", "")]
    finally:
        other.served.stop()


def test_repeated_headers_are_joined_and_names_lower_case(server: Server) -> None:
    answer = Transport(5).send(server.endpoint, "GET", server.url("/v2/"), {})
    assert answer.headers["www-authenticate"] == "Bearer a, Basic b"


def test_nothing_listening_is_unreachable_and_a_silent_server_transient() -> None:
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
    endpoint = Endpoint(f"127.0.0.1:{port}", "http")
    with pytest.raises(RegistryUnreachable, match="connection refused"):
        Transport(5).send(endpoint, "GET", f"http://127.0.0.1:{port}/v2/", {})
    with socket.socket() as silent:  # accepts (the kernel's backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        endpoint = Endpoint(f"127.0.0.1:{port}", "http")
        with pytest.raises(TransientRegistryError, match="timed out"):
            Transport(0.3).send(endpoint, "GET", f"http://127.0.0.1:{port}/v2/", {})


class Oversized(QuietHandler):
    """Answers as a broken or hostile server might: bodies larger than a registry sends."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        if "declared" in self.path:  # a huge Content-Length, then a body that never comes
            self.send_header("Content-Length", str(5 * 1024 * 1024))
            self.end_headers()
            self.wfile.write(b"{")
            self.wfile.flush()
            time.sleep(3)
            self.close_connection = True  # the client hung up: read no next request (a reset, not EOF)
            return
        self.send_header("Connection", "close")  # no length: the body runs until the connection ends
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(b"x" * 3000)
        self.close_connection = True

    do_HEAD = do_GET


@pytest.fixture
def oversized() -> Iterator[str]:
    with serving(Oversized) as served:
        yield served.host


def test_a_manifest_declared_larger_than_a_registry_keeps_is_refused_unread(oversized: str) -> None:
    # reading the body would time out (the server sends one byte of it, then waits longer than 1 s)
    url = f"http://{oversized}/v2/a/manifests/declared"
    with pytest.raises(AnswerTooLarge, match="larger than 4 MiB"):
        Transport(1).send(Endpoint(oversized, "http"), "GET", url, {})


def test_an_answer_without_length_is_read_no_further_than_its_limit(
        oversized: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport_module, "MANIFEST_LIMIT_BYTES", 1000)
    endpoint, transport = Endpoint(oversized, "http"), Transport(5)
    with pytest.raises(AnswerTooLarge):
        transport.send(endpoint, "GET", f"http://{oversized}/v2/a/manifests/1", {})
    assert len(transport.send(endpoint, "GET", f"http://{oversized}/v2/a/blobs/sha256:1", {}).body) == 3000
    assert transport.send(endpoint, "HEAD", f"http://{oversized}/v2/a/manifests/declared", {}).status == 200
