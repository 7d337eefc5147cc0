"""RetryProxy against a scripted in-process upstream: 503/429, resets, stalls, bodies intact either way."""

from __future__ import annotations

import hashlib
import http.client
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from structlog.testing import capture_logs
from tenacity import RetryCallState, Retrying

from engine.registry import proxyhandler, retryproxy
from engine.registry.proxyhandler import LocalServer
from engine.registry.retryproxy import RetryProxy, local_registry_host, router
from tests.loopback import QuietHandler, Served

TIMEOUT_S = 0.5  # the proxy's socket timeout in these tests
BIG = bytes(range(256)) * (3 * 4096 + 7)  # ~3 MiB: above the spool and buffer limits, odd length


@dataclass
class Seen:
    """One request as the upstream received it."""

    method: str
    path: str
    body_sha: str
    length: int
    accept: list[str]


class Upstream:
    """A registry stand-in: each request takes the next scripted behaviour (then answers 200 'ok')."""

    def __init__(self) -> None:
        self.script: list[tuple[str, Any]] = []
        self.seen: list[Seen] = []
        self.release = threading.Event()  # ends every stall when the test is over
        self.lock = threading.Lock()
        self.served = Served(self._handler()).start()

    @property
    def address(self) -> str:
        return self.served.host

    def next(self) -> tuple[str, Any]:
        with self.lock:
            return self.script.pop(0) if self.script else ("ok", b"ok")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        upstream = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def do_any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with upstream.lock:
                    upstream.seen.append(Seen(self.command, self.path, hashlib.sha256(body).hexdigest(),
                                              len(body), self.headers.get_all("Accept") or []))
                kind, value = upstream.next()
                getattr(self, f"answer_{kind}")(value)

            def answer_ok(self, payload: Any) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Docker-Content-Digest", "sha256:abc")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            def answer_status(self, value: Any) -> None:
                status, retry_after = value
                self.send_response(status)
                if retry_after is not None:
                    self.send_header("Retry-After", retry_after)
                self.send_header("Content-Length", "5")
                self.end_headers()
                self.wfile.write(b"error")

            def answer_reset(self, _: Any) -> None:
                reset(self.connection)
                self.close_connection = True

            def answer_stall(self, seconds: Any) -> None:
                upstream.release.wait(float(seconds))
                try:
                    self.answer_ok(b"late")
                except ConnectionError:  # the proxy gave up on the stall and hung up, as it should
                    self.close_connection = True

            def answer_chunked(self, parts: Any) -> None:
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for part in parts:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.write(b"0\r\n\r\n")

            def answer_cut(self, payload: Any) -> None:  # promise a big body, send a part, reset
                self.send_response(200)
                self.send_header("Content-Length", str(len(BIG)))
                self.end_headers()
                self.wfile.write(payload)
                self.wfile.flush()
                reset(self.connection)
                self.close_connection = True

            def answer_raw(self, payload: Any) -> None:  # a head (and body) as given, then the end
                self.wfile.write(payload)
                self.wfile.flush()
                self.close_connection = True

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = do_any

        return Handler

    def close(self) -> None:
        self.release.set()
        self.served.stop()


def reset(connection: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer sees a connection reset, not an orderly end."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.close()


@pytest.fixture
def proxy(upstream: Upstream) -> Iterator[RetryProxy]:
    with RetryProxy(upstream.address, attempts=4, timeout_s=TIMEOUT_S) as running:
        yield running


def ask(proxy: RetryProxy, method: str, path: str = "/v2/t/blobs/sha256:1", body: Any = None,
        headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(proxy.host, timeout=30)
    try:
        chunked = (headers or {}).get("Transfer-Encoding") == "chunked"
        connection.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
        answer = connection.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        connection.close()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- retried answers ----------------------------------------------------------------------------


def test_a_plain_get_passes_through_once(proxy: RetryProxy, upstream: Upstream) -> None:
    status, headers, body = ask(proxy, "GET", "/v2/t/manifests/1", headers={"Accept": "a/b"})
    assert (status, body, headers["docker-content-digest"]) == (200, b"ok", "sha256:abc")
    assert [(s.method, s.path, s.accept) for s in upstream.seen] == [("GET", "/v2/t/manifests/1", ["a/b"])]
    assert proxy.counts == {"requests": 1, "retries": 0}


def test_503_and_429_with_retry_after_are_retried_until_the_registry_answers(
        proxy: RetryProxy, upstream: Upstream) -> None:
    upstream.script = [("status", (503, None)), ("status", (429, "0.1")), ("status", (500, "bogus"))]
    status, _, body = ask(proxy, "GET")
    assert (status, body) == (200, b"ok")
    assert len(upstream.seen) == 4
    assert proxy.counts == {"requests": 4, "retries": 3}


def failed_with(error: Exception) -> RetryCallState:
    state = RetryCallState(Retrying(), None, (), {})
    state.set_exception((type(error), error, None))
    return state


def test_retry_after_is_waited_for_and_capped() -> None:
    assert retryproxy._wait(failed_with(proxyhandler.Transient("x", 429, retry_after=2.5))) == 2.5
    assert retryproxy._wait(failed_with(proxyhandler.Transient("x", 429, retry_after=600))) == 30.0
    assert 0 <= retryproxy._wait(failed_with(proxyhandler.Transient("x", 503))) <= 0.2
    assert retryproxy._retry_after("3") == 3.0
    assert retryproxy._retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert retryproxy._retry_after(None) == 0.0


def test_when_retries_run_out_the_last_status_and_reason_reach_the_client(
        proxy: RetryProxy, upstream: Upstream) -> None:
    upstream.script = [("status", (503, None))] * 4
    status, _, body = ask(proxy, "GET", "/v2/t/manifests/9")
    assert status == 503
    assert body == b"stackbuild retry proxy: GET /v2/t/manifests/9: HTTP 503\n"
    assert len(upstream.seen) == 4


def test_a_head_answer_keeps_the_size_a_get_would_have(proxy: RetryProxy, upstream: Upstream) -> None:
    upstream.script = [("ok", b"twelve bytes")]
    status, headers, body = ask(proxy, "HEAD")
    assert (status, headers["content-length"], body) == (200, "12", b"")


def test_a_definitive_error_is_passed_on_not_retried(proxy: RetryProxy, upstream: Upstream) -> None:
    upstream.script = [("status", (404, None))]
    status, _, body = ask(proxy, "GET")
    assert (status, body) == (404, b"error")
    assert len(upstream.seen) == 1


# --- resets and stalls --------------------------------------------------------------------------


def test_a_reset_put_is_replayed_with_the_whole_spooled_body(proxy: RetryProxy, upstream: Upstream) -> None:
    upstream.script = [("reset", None)]
    status, _, _ = ask(proxy, "PUT", "/v2/t/blobs/uploads/u?digest=sha256:1", body=BIG)
    assert status == 200
    assert [(s.method, s.length, s.body_sha) for s in upstream.seen] == [("PUT", len(BIG), sha(BIG))] * 2


def test_a_chunked_request_body_arrives_whole(proxy: RetryProxy, upstream: Upstream) -> None:
    status, _, _ = ask(proxy, "PUT", body=iter([b"hello ", b"chunked ", b"world"]),
                       headers={"Transfer-Encoding": "chunked"})
    assert status == 200
    assert [(s.length, s.body_sha) for s in upstream.seen] == [(19, sha(b"hello chunked world"))]


def test_a_reset_patch_is_not_replayed_and_fails_visibly(proxy: RetryProxy, upstream: Upstream) -> None:
    upstream.script = [("reset", None)]
    status, _, body = ask(proxy, "PATCH", "/v2/t/blobs/uploads/u", body=b"part")
    assert status == 502
    assert body.startswith(b"stackbuild retry proxy: PATCH /v2/t/blobs/uploads/u: connection failed")
    assert len(upstream.seen) == 1  # appending twice would corrupt the upload


def test_a_patch_refused_with_429_is_replayed(proxy: RetryProxy, upstream: Upstream) -> None:
    upstream.script = [("status", (429, "0"))]
    status, _, _ = ask(proxy, "PATCH", "/v2/t/blobs/uploads/u", body=b"part")
    assert status == 200
    assert [s.body_sha for s in upstream.seen] == [sha(b"part")] * 2


def test_a_patch_the_registry_never_received_is_replayed(upstream: Upstream) -> None:
    with socket.socket() as closed:  # a port nothing listens on: the connection is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with RetryProxy(f"127.0.0.1:{port}", attempts=2, timeout_s=TIMEOUT_S) as unreachable:
        status, _, body = ask(unreachable, "PATCH", "/v2/t/blobs/uploads/u", body=b"part")
    assert status == 502
    assert b"cannot connect" in body
    assert unreachable.counts == {"requests": 2, "retries": 1}


def test_a_stalled_answer_times_out_and_is_retried(proxy: RetryProxy, upstream: Upstream) -> None:
    upstream.script = [("stall", 30)]
    status, _, body = ask(proxy, "GET")
    assert (status, body) == (200, b"ok")
    assert len(upstream.seen) == 2


def test_a_registry_that_always_stalls_gets_a_504_not_a_hang(upstream: Upstream) -> None:
    upstream.script = [("stall", 30)] * 2
    with RetryProxy(upstream.address, attempts=2, timeout_s=TIMEOUT_S) as proxy:
        status, _, body = ask(proxy, "GET", "/v2/t/manifests/1")
    assert status == 504
    assert body == b"stackbuild retry proxy: GET /v2/t/manifests/1: no answer within 0.5 s\n"


def test_a_client_that_stalls_mid_body_is_dropped_and_nothing_is_forwarded(
        proxy: RetryProxy, upstream: Upstream) -> None:
    with socket.create_connection(("127.0.0.1", int(proxy.host.split(":")[1])), timeout=30) as client:
        client.sendall(b"PUT /v2/t/blobs/uploads/u HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
                       b"only10byte")
        assert client.recv(100) == b""  # closed by the proxy after its timeout, without an answer
    assert upstream.seen == []


def test_a_client_that_hangs_up_mid_body_is_dropped_and_nothing_is_forwarded(
        proxy: RetryProxy, upstream: Upstream) -> None:
    with socket.create_connection(("127.0.0.1", int(proxy.host.split(":")[1])), timeout=30) as client:
        client.sendall(b"PUT /v2/t/blobs/uploads/u HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nshort")
        client.shutdown(socket.SHUT_WR)
        assert client.recv(100) == b""
    assert upstream.seen == []


def test_a_client_that_hangs_up_before_its_answer_is_dropped_without_a_traceback(
        proxy: RetryProxy, upstream: Upstream, capfd: pytest.CaptureFixture[str]) -> None:
    upstream.script = [("stall", TIMEOUT_S / 2)]  # the answer comes after the client has reset
    with capture_logs() as events:
        client = socket.create_connection(("127.0.0.1", int(proxy.host.split(":")[1])), timeout=30)
        client.sendall(b"GET /v2/t/manifests/1 HTTP/1.1\r\nHost: x\r\n\r\n")
        reset(client)
        deadline = time.monotonic() + 20
        while not any(e["event"] == "registry_answer_undelivered" for e in events):
            assert time.monotonic() < deadline, "the proxy never tried to answer the client that hung up"
            time.sleep(0.05)
    assert "Traceback" not in capfd.readouterr().err  # socketserver prints one for an unhandled error
    assert ask(proxy, "GET")[0] == 200  # and the proxy still serves


def test_an_idle_keep_alive_connection_is_closed_after_the_timeout(proxy: RetryProxy) -> None:
    with socket.create_connection(("127.0.0.1", int(proxy.host.split(":")[1])), timeout=30) as client:
        started = time.monotonic()
        assert client.recv(100) == b""
        assert time.monotonic() - started >= TIMEOUT_S * 0.9


def test_a_chunked_request_body_with_trailers_arrives_whole(proxy: RetryProxy, upstream: Upstream) -> None:
    with socket.create_connection(("127.0.0.1", int(proxy.host.split(":")[1])), timeout=30) as client:
        client.sendall(b"PUT /v2/t/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"5;ext=1\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n")
        assert client.recv(100).startswith(b"HTTP/1.1 200 ")
    assert [(s.length, s.body_sha) for s in upstream.seen] == [(5, sha(b"hello"))]


# --- large and chunked answers ------------------------------------------------------------------


def test_a_large_answer_is_streamed_through_intact(proxy: RetryProxy, upstream: Upstream) -> None:
    upstream.script = [("ok", BIG)]
    status, headers, body = ask(proxy, "GET")
    assert (status, headers["content-length"], sha(body)) == (200, str(len(BIG)), sha(BIG))


def test_a_chunked_answer_is_passed_on_chunked(proxy: RetryProxy, upstream: Upstream) -> None:
    upstream.script = [("chunked", [b"one ", b"two"])]
    status, headers, body = ask(proxy, "GET")
    assert (status, headers["transfer-encoding"], body) == (200, "chunked", b"one two")


@pytest.mark.parametrize("head", [
    b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nContent-Length: 9999999\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n0\r\n\r\n",
])
def test_an_answer_whose_content_length_cannot_be_trusted_is_passed_on_chunked(
        proxy: RetryProxy, upstream: Upstream, head: bytes) -> None:
    upstream.script = [("raw", head)]
    status, headers, body = ask(proxy, "GET")
    assert (status, headers.get("transfer-encoding"), body) == (200, "chunked", b"hello")


def test_a_large_answer_cut_midway_cuts_the_client_instead_of_hanging(
        proxy: RetryProxy, upstream: Upstream) -> None:
    upstream.script = [("cut", BIG[:100000])]
    with pytest.raises(http.client.IncompleteRead):
        ask(proxy, "GET")


# --- the BuildKit side --------------------------------------------------------------------------


def test_a_tls_probe_gets_a_plain_http_answer(proxy: RetryProxy, upstream: Upstream) -> None:
    with socket.create_connection(("127.0.0.1", int(proxy.host.split(":")[1])), timeout=30) as client:
        client.sendall(b"\x16\x03\x01\x00\x05hello")
        assert client.recv(100).startswith(b"HTTP/1.0 400 Bad Request")
    assert upstream.seen == []


def test_host_is_localhost_with_the_proxy_port(proxy: RetryProxy) -> None:
    assert proxy.host == f"localhost:{proxy.served.port}"


def test_local_registry_host_is_the_single_loopback_host() -> None:
    assert local_registry_host({"localhost:5000/a", "localhost:5000/b"}) == "localhost:5000"
    assert local_registry_host({"127.0.0.1:5000/a"}) == "127.0.0.1:5000"
    assert local_registry_host({"localhost:5000/a", "localhost:6000/b"}) == ""
    assert local_registry_host({"registry.example/a"}) == ""


def test_router_rewrites_every_reference_to_the_host() -> None:
    route = router("localhost:5000", "localhost:41234")
    assert route("type=registry,ref=localhost:5000/t/x:c") == "type=registry,ref=localhost:41234/t/x:c"
    assert route("docker-image://localhost:5000/t/b@sha256:1") == "docker-image://localhost:41234/t/b@sha256:1"
    assert route("registry.example/t/x:1") == "registry.example/t/x:1"


def test_a_burst_of_new_connections_is_queued_not_dropped() -> None:
    """socketserver's default backlog of 5 makes the kernel drop the SYNs of a burst of connections;
    each dropped client then waits a second for its retransmission. 100 connections that nobody
    accepts yet must all be established at once."""
    with LocalServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as server:  # not serving: nothing accepts
        clients = []
        try:
            for _ in range(100):
                clients.append(socket.create_connection(server.server_address[:2], timeout=0.5))
        finally:
            for client in clients:
                client.close()
        assert len(clients) == 100
