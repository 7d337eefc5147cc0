"""A fault-injecting HTTP proxy in front of a real registry: every Nth request answers 503."""

from __future__ import annotations

import http.client
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
               "proxy-authorization", "proxy-authenticate"}


class FaultProxy:
    """Forwards to upstream (host:port); answers 503 to every `every`-th request (0: never)."""

    def __init__(self, upstream: str, every: int) -> None:
        self.upstream, self.every = upstream, every
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        """`localhost:PORT` of the proxy (localhost: buildx then uses plain HTTP)."""
        return f"localhost:{self.server.server_address[1]}"

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def should_fail(self) -> bool:
        """Count a request; whether it gets a 503."""
        with self.lock:
            self.counts["requests"] += 1
            fail = self.every > 0 and self.counts["requests"] % self.every == 0
            self.counts["faults"] += fail
            return fail

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: object) -> None:
                return

            def handle_one_request(self) -> None:
                # containerd tries TLS first, then falls back to plain HTTP when the answer is HTTP,
                # as a Go server gives it; http.server would instead wait for a line that never comes
                if self.rfile.peek(1)[:1] == b"\x16":
                    self.wfile.write(b"HTTP/1.0 400 Bad Request\r\n\r\n")
                    self.close_connection = True
                    return
                super().handle_one_request()

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while (size := int(self.rfile.readline().strip() or b"0", 16)) > 0:
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    self.rfile.readline()
                    return b"".join(chunks)
                return self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))

            def _forward(self) -> None:
                body = self._body()
                if proxy.should_fail():
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                upstream = http.client.HTTPConnection(proxy.upstream, timeout=120)
                upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for key, value in self.headers.items():  # repeated headers (Accept) stay repeated
                    if key.lower() not in HOP_HEADERS and key.lower() != "content-length":
                        upstream.putheader(key, value)
                upstream.putheader("Content-Length", str(len(body)))
                upstream.endheaders(body)
                answer = upstream.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in HOP_HEADERS and key.lower() != "content-length":
                        self.send_header(key, value)
                # a HEAD answer carries the size of what a GET would return
                length = answer.getheader("Content-Length", "0") if self.command == "HEAD" else len(data)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                upstream.close()

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _forward

        return Handler
