"""A fault-injecting HTTP proxy in front of a real registry, for tests; it shares no code with the engine.

With a seeded random it answers a share of requests 503, 429 (with Retry-After), resets the
connection (SO_LINGER 0) before forwarding or in the middle of a response, or holds a request without
answering for `stall_s` and then resets it. Everything else is forwarded once, as it is.
Faults on the answer side (a reset mid-response) are made only for reads: a registry that processed
a write and then lost the answer is a case the engine answers with a visible failure, not a retry.
"""

from __future__ import annotations

import http.client
import random
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler

from tests.loopback import QuietHandler, Served

HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length",
       "expect"}
READS = {"GET", "HEAD"}


class FaultInjector:
    """Forwards to upstream (host:port), injecting faults at the given rates (0..1) from one seed."""

    def __init__(self, upstream: str, seed: int, *, unavailable: float = 0.0, throttled: float = 0.0,
                 reset: float = 0.0, stall: float = 0.0, stall_s: float = 10.0,
                 retry_after: str = "1", before: Callable[[str, str, str], None] | None = None) -> None:
        self.upstream, self.stall_s, self.retry_after = upstream, stall_s, retry_after
        self.before = before  # called with (method, path, User-Agent) before each request: a test's hook
        self.rates = (("503", unavailable), ("429", throttled), ("reset", reset), ("stall", stall))
        self.random = random.Random(seed)
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.served = Served(_handler(self))

    @property
    def address(self) -> str:
        """`localhost:PORT` of the injector."""
        return f"localhost:{self.served.port}"

    def __enter__(self) -> FaultInjector:
        self.served.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping.set()  # ends every held request
        self.served.stop()

    def seen(self, method: str, path: str) -> None:
        """Count a request by method and kind: 'PUT manifests', 'HEAD blobs', 'POST uploads', ..."""
        kind = next((part for part in ("manifests", "uploads", "blobs") if f"/{part}/" in path), "other")
        with self.lock:
            self.counts[f"{method} {kind}"] += 1

    def decide(self) -> str:
        """The fault for the next request ('' for none), counted."""
        with self.lock:
            draw = self.random.random()
            self.counts["requests"] += 1
            for kind, rate in self.rates:
                if draw < rate:
                    self.counts[kind] += 1
                    return kind
                draw -= rate
            return ""


def reset(connection: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer sees a connection reset."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()


def _handler(injector: FaultInjector) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            body = self._body()
            injector.seen(self.command, self.path)
            if injector.before is not None:
                injector.before(self.command, self.path, self.headers.get("User-Agent", ""))
            fault = injector.decide()
            if fault in ("503", "429"):
                self._refuse(int(fault))
            elif fault == "stall":
                injector.stopping.wait(injector.stall_s)
                self._cut()
            elif fault == "reset" and self.command not in READS:
                self._cut()  # mid-request: the registry never sees it
            else:
                self._forward(body, cut_midway=fault == "reset")

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                parts = []
                while (size := int(self.rfile.readline().split(b";")[0] or b"0", 16)) > 0:
                    parts.append(self.rfile.read(size))
                    self.rfile.readline()
                self.rfile.readline()
                return b"".join(parts)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _refuse(self, status: int) -> None:
            self.send_response(status)
            if status == 429:
                self.send_header("Retry-After", injector.retry_after)
            self.send_header("Content-Length", "8")
            self.end_headers()
            self.wfile.write(b"injected")

        def _cut(self) -> None:
            reset(self.connection)
            self.close_connection = True

        def _forward(self, body: bytes, cut_midway: bool) -> None:
            upstream = http.client.HTTPConnection(injector.upstream, timeout=60)
            try:
                upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for key, value in self.headers.items():  # repeated headers (Accept) stay repeated
                    if key.lower() not in HOP:
                        upstream.putheader(key, value)
                upstream.putheader("Content-Length", str(len(body)))
                upstream.endheaders(body)
                answer = upstream.getresponse()
                data = answer.read()
            finally:
                upstream.close()
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", answer.getheader("Content-Length") or str(len(data)))
            self.end_headers()
            if self.command == "HEAD":
                if cut_midway:
                    self._cut()
                return
            self.wfile.write(data[: len(data) // 2] if cut_midway else data)
            if cut_midway:
                self.wfile.flush()
                self._cut()

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _any

    return Handler


class SilentRegistry:
    """A registry that accepts connections and never answers (after the TLS probe): a stalled transfer."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.address = f"localhost:{self.server.getsockname()[1]}"
        self.held: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:  # closed
                return
            threading.Thread(target=self._hold, args=(connection,), daemon=True).start()

    def _hold(self, connection: socket.socket) -> None:
        if connection.recv(1) == b"\x16":  # containerd probes TLS first; an HTTP answer makes it use HTTP
            connection.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")
            connection.close()
            return
        with self.lock:
            self.held.append(connection)

    def close(self) -> None:
        # close() alone leaves the socket listening while _accept waits in accept(): shut it down first
        self.server.shutdown(socket.SHUT_RDWR)
        self.server.close()
        with self.lock:
            for connection in self.held:
                connection.close()
