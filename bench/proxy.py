"""A counting HTTP proxy in front of a registry: forwards every request, counts them by method and kind.

Both tools talk to `localhost:<proxy port>`; the proxy forwards to the registry unchanged (the Host
header included, so upload Locations point back at the proxy) and counts `METHOD kind`, where kind is
`manifests`, `blobs`, `uploads` (blob upload sessions), `tags`, `base` (`/v2/`) or `other`; a TLS
ClientHello (clients try HTTPS first) is answered like Go does and counted as `TLS tls-probe`; a
HEAD/GET the registry answers with 500 is retried (counted as `RETRY read-retry`, see _forward).
Bodies are streamed both ways (chunked request bodies too), so layer pushes are not held in memory.
"""

from __future__ import annotations

import http.client
import io
import re
import threading
import time
from collections import Counter
from typing import Any, cast

from engine.registry.proxyhandler import LocalHandler, Served

CHUNK = 1 << 20
READ_RETRIES = 5
TLS_ANSWER = b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade", "expect", "proxy-connection"}
_KINDS = (
    (re.compile(r"^/v2/?$"), "base"),
    (re.compile(r"^/v2/.+/manifests/[^/]+$"), "manifests"),
    (re.compile(r"^/v2/.+/blobs/uploads(/.*)?$"), "uploads"),
    (re.compile(r"^/v2/.+/blobs/[^/]+$"), "blobs"),
    (re.compile(r"^/v2/.+/tags/list$"), "tags"),
)


def path_kind(path: str) -> str:
    """The distribution API endpoint a request path is for."""
    bare = path.split("?", 1)[0]
    return next((kind for pattern, kind in _KINDS if pattern.match(bare)), "other")


class CountingProxy:
    """A threaded HTTP/1.1 proxy on a free loopback port forwarding to upstream host:port."""

    def __init__(self, upstream_host: str, upstream_port: int, port: int = 0) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self.served = Served(Handler, port, name="counting-proxy")
        self.port = self.served.port

    def __enter__(self) -> CountingProxy:
        self.served.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.served.stop()

    def count(self, method: str, path: str) -> None:
        with self.lock:
            kind = {"TLS": "tls-probe", "RETRY": "read-retry"}.get(method) or path_kind(path)
            self.counts[f"{method} {kind}"] += 1

    def take(self) -> dict[str, int]:
        """The counts since the last take, and start again from zero."""
        with self.lock:
            counts, self.counts = dict(self.counts), Counter()
        return counts


class _Handler(LocalHandler):
    owner: CountingProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def handle_one_request(self) -> None:
        """Answer a TLS ClientHello like Go's HTTP servers do, so that clients fall back to HTTP.

        containerd tries HTTPS first and falls back to plain HTTP only when the answer starts with
        `HTTP/`; the standard library would wait for a request line or answer in HTTP/0.9 style.
        """
        try:
            first = cast(io.BufferedReader, self.rfile).peek(1)[:1]
        except (OSError, ValueError):
            first = b""
        if first == b"\x16":
            self.owner.count("TLS", "probe")
            self.wfile.write(TLS_ANSWER)
            self.wfile.flush()
            self.close_connection = True
            return
        super().handle_one_request()

    def do_GET(self) -> None:
        self._forward()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    _upstream: http.client.HTTPConnection | None = None

    def _forward(self) -> None:
        """Forward on this client connection's keep-alive upstream connection (a new upstream
        connection per request cost the registry ~0.5 ms of CPU each, a third of a HEAD's)."""
        self.owner.count(self.command, self.path)
        for attempt in range(READ_RETRIES + 1):
            try:
                response = self._exchange()
            except (OSError, http.client.HTTPException) as exc:
                self._close_upstream()
                self._fail(exc)
                return
            if response.status == 500 and self.command in ("HEAD", "GET") and attempt < READ_RETRIES:
                # distribution 2.8 writes link files in place: a read racing a concurrent push of
                # the same tag or blob can see a half-written link ("invalid checksum digest format")
                response.read()
                self.owner.count("RETRY", "")
                time.sleep(0.02 * (attempt + 1))
                continue
            try:
                self._answer(response)
            except BaseException:
                self._close_upstream()
                raise
            if response.will_close:
                self._close_upstream()
            return

    def _exchange(self) -> http.client.HTTPResponse:
        """The upstream answer to this request; once more on a new connection when the kept one was
        closed by the registry while idle (only before any of the request body was read)."""
        reused = self._upstream is not None
        if self._upstream is None:
            self._upstream = http.client.HTTPConnection(*self.owner.upstream, timeout=600)
        try:
            self._send_upstream(self._upstream)
            return self._upstream.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self._close_upstream()
            if not reused or self._has_body():
                raise
            self._upstream = http.client.HTTPConnection(*self.owner.upstream, timeout=600)
            self._send_upstream(self._upstream)
            return self._upstream.getresponse()

    def _has_body(self) -> bool:
        return bool(int(self.headers.get("Content-Length") or 0)) or "chunked" in self.headers.get(
            "Transfer-Encoding", "").lower()

    def _close_upstream(self) -> None:
        if self._upstream is not None:
            self._upstream.close()
            self._upstream = None

    def finish(self) -> None:
        self._close_upstream()
        super().finish()

    def _send_upstream(self, upstream: http.client.HTTPConnection) -> None:
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        length = int(self.headers.get("Content-Length") or 0)
        upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for key, value in self.headers.items():
            if key.lower() not in HOP_BY_HOP:
                upstream.putheader(key, value)
        if chunked:
            upstream.putheader("Transfer-Encoding", "chunked")
        upstream.endheaders()
        if chunked:
            for piece in self._chunks():
                upstream.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            upstream.send(b"0\r\n\r\n")
        else:
            while length > 0:
                piece = self.rfile.read(min(CHUNK, length))
                if not piece:
                    break
                upstream.send(piece)
                length -= len(piece)

    def _chunks(self) -> Any:
        """The decoded pieces of a chunked request body."""
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return
            yield self.rfile.read(size)
            self.rfile.readline()

    def _answer(self, response: http.client.HTTPResponse) -> None:
        self.send_response_only(response.status, response.reason)
        headers = [(key, value) for key, value in response.getheaders() if key.lower() not in HOP_BY_HOP]
        has_length = any(key.lower() == "content-length" for key, _ in headers)
        bodiless = self.command == "HEAD" or response.status in (204, 304) or 100 <= response.status < 200
        for key, value in headers:
            self.send_header(key, value)
        if not bodiless and not has_length:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if bodiless:
            response.read()  # b"": marks the answer done so the upstream connection can be reused
            return
        while True:
            piece = response.read(CHUNK)
            if not piece:
                break
            self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if not has_length else piece)
        if not has_length:
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _fail(self, exc: Exception) -> None:
        body = f"counting proxy: upstream failed: {exc}\n".encode()
        self.send_response_only(502, "Bad Gateway")
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
