"""BuildKit's side of the retry proxy: one HTTP/1.1 handler per client connection that reads a
request (its body spooled: memory up to SPOOL_MEMORY_BYTES, then a temporary file, so it can be sent
again), hands it to the proxy, and relays the registry's answer or the reason it failed. Also the server,
handler base and serving thread every local HTTP server here uses (LocalServer, LocalHandler, Served)."""

from __future__ import annotations

import http.client
import io
import ssl
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, Protocol, Self, cast

import structlog

log = structlog.get_logger()
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "expect",
               "proxy-authorization", "proxy-authenticate", "content-length"}
SPOOL_MEMORY_BYTES = 1 << 20  # request bodies above this go to a temporary file
CHUNK_BYTES = 1 << 16


class Transient(Exception):
    """The registry answered 429/5xx, dropped the connection or stalled."""

    def __init__(self, reason: str, status: int = 502, retry_after: float = 0.0,
                 replayable: bool = True) -> None:
        super().__init__(reason)
        self.status, self.retry_after, self.replayable = status, retry_after, replayable


@dataclass
class Answer:
    """The registry's answer: a small body read whole, or the open response to stream from."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    stream: http.client.HTTPResponse | None = None
    connection: http.client.HTTPConnection | None = None

    def close(self) -> None:
        """Release the upstream connection of a streamed answer."""
        if self.connection is not None:
            self.connection.close()


class Forwarder(Protocol):
    """What the handler needs from the proxy."""

    timeout_s: float

    def forward(self, method: str, path: str, headers: list[tuple[str, str]],
                body: IO[bytes] | None = None) -> Answer:
        """The registry's answer to one request, or Transient."""

    def drop_idle(self) -> None:
        """Close the calling thread's kept-alive upstream connection."""


class LocalServer(ThreadingHTTPServer):
    """A threading HTTP server with a deep accept queue. socketserver listens with a backlog of 5: a
    burst of new connections (BuildKit's, or 16 manifest HEADs at once) overflows it, the kernel drops
    their SYNs and each client waits for its retransmission, a full second later."""

    request_queue_size = 1024
    daemon_threads = True


class Served:
    """handler's LocalServer on a loopback port (0: a free one), over TLS when given a context, serving
    from a daemon thread between start and stop (or as a context manager)."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int = 0,
                 tls: ssl.SSLContext | None = None, poll_s: float = 0.05, name: str = "local-server") -> None:
        self.server = LocalServer(("127.0.0.1", port), handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        # a short poll interval: stop() waits for it
        self.thread = threading.Thread(target=self.server.serve_forever, args=(poll_s,), name=name,
                                       daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> Self:
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (when started), close the socket and wait for the serving thread."""
        if self.thread.ident is not None:
            self.server.shutdown()
            self.thread.join(5)
        self.server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class LocalHandler(BaseHTTPRequestHandler):
    """A handler whose answer to what is not HTTP (a TLS hello) starts with a status line.

    Docker and containerd try HTTPS first even for an insecure registry and fall back to plain HTTP only
    when the answer starts with `HTTP/`; http.server answers an unreadable request line as HTTP/0.9, a
    bare body, so `docker push` through a local proxy would fail on the TLS error instead.
    """

    default_request_version = "HTTP/1.0"


class ProxyHandler(LocalHandler):
    """One BuildKit connection: each request read, handed to the proxy, its answer relayed."""

    proxy: Forwarder
    protocol_version = "HTTP/1.1"

    def log_message(self, *_: object) -> None:
        return

    def finish(self) -> None:
        self.proxy.drop_idle()
        super().finish()

    def handle_one_request(self) -> None:
        try:
            first = cast(io.BufferedReader, self.rfile).peek(1)[:1]
        except OSError:  # an idle keep-alive connection timed out or was reset: close it quietly
            self.close_connection = True
            return
        try:
            # containerd probes TLS first and falls back to plain HTTP on an HTTP answer
            if first == b"\x16":
                self.wfile.write(b"HTTP/1.0 400 Bad Request\r\n\r\n")
                self.close_connection = True
                return
            super().handle_one_request()
        except ConnectionError as exc:  # BuildKit hung up before the whole answer: nobody to answer
            log.info("registry_answer_undelivered", node="*",
                     reason=f"{getattr(self, 'command', '')} {getattr(self, 'path', '')}: {exc!r}")
            self.close_connection = True

    def _forward(self) -> None:
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in HOP_HEADERS]
        with tempfile.SpooledTemporaryFile(SPOOL_MEMORY_BYTES) as body:
            try:
                read_body(cast(IO[bytes], self.rfile), self.headers.get("Transfer-Encoding", ""),
                          self.headers.get("Content-Length", ""), body)
            except OSError as exc:  # BuildKit stalled or hung up while sending: nothing to forward
                log.warning("registry_request_dropped", node="*",
                            reason=f"{self.command} {self.path}: {exc}")
                self.close_connection = True
                return
            try:
                answer = self.proxy.forward(self.command, self.path, headers, body)
            except Transient as exc:
                self._fail(exc)
                return
        try:
            self._relay(answer)
        finally:
            answer.close()

    def _fail(self, error: Transient) -> None:
        """Answer BuildKit with the registry's last status (or 502/504) and the reason."""
        text = f"stackbuild retry proxy: {error}\n".encode()
        self.send_response(error.status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(text)

    def _relay(self, answer: Answer) -> None:
        self.send_response(answer.status)
        length = str(len(answer.body) if answer.stream is None else answer.stream.length)
        for key, value in answer.headers:
            if key.lower() == "content-length" and self.command == "HEAD":
                length = value  # a HEAD answer carries the size a GET would return
            elif key.lower() not in HOP_HEADERS:
                self.send_header(key, value)
        # streamed: the length http.client read (None: chunked, absent, or not a number) is the one sent on
        chunked = answer.stream is not None and answer.stream.length is None
        self.send_header(*(("Transfer-Encoding", "chunked") if chunked else ("Content-Length", length)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if answer.stream is None:
            self.wfile.write(answer.body)
        else:
            self._stream(answer.stream, chunked)

    def _stream(self, source: http.client.HTTPResponse, chunked: bool) -> None:
        """Copy a large body through; if the registry fails midway, cut BuildKit's connection."""
        try:
            while chunk := source.read(CHUNK_BYTES):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except (OSError, http.client.HTTPException) as exc:
            log.warning("registry_stream_cut", node="*", reason=f"{self.command} {self.path}: {exc!r}")
            self.close_connection = True

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _forward


def handler(proxy: Forwarder) -> type[BaseHTTPRequestHandler]:
    """The request handler class of a proxy that forwards through proxy."""
    # timeout: BuildKit's side of the connection; a client that stalls is dropped as well
    return type("Handler", (ProxyHandler,), {"proxy": proxy, "timeout": proxy.timeout_s})


def read_body(source: IO[bytes], transfer_encoding: str, content_length: str, target: IO[bytes]) -> None:
    """Copy a request body (Content-Length or chunked) from source to target."""
    if transfer_encoding.lower() == "chunked":
        while (size := int(source.readline().split(b";")[0].strip() or b"0", 16)) > 0:
            _copy(source, target, size)
            source.readline()
        while source.readline() not in (b"\r\n", b"\n", b""):  # trailers
            pass
    else:
        _copy(source, target, int(content_length or 0))


def _copy(source: IO[bytes], target: IO[bytes], size: int) -> None:
    """Exactly size bytes from source to target, or ConnectionError when source ends first."""
    while size > 0:
        chunk = source.read(min(size, CHUNK_BYTES))
        if not chunk:
            raise ConnectionError("the client closed the connection in the middle of a request body")
        target.write(chunk)
        size -= len(chunk)
