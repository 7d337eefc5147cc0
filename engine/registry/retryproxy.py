"""A local retrying proxy in front of a plain-HTTP registry, for BuildKit's pushes and pulls.

BuildKit gives up on the first 5xx or reset connection of a push. Routed through this proxy,
each registry request is retried (buffered body, jittered backoff, Retry-After honoured) when the
registry answers 429/5xx or drops the connection, so one flaky request no longer fails a build.
"""

from __future__ import annotations

import http.client
import io
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import cast

import structlog
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

log = structlog.get_logger()
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
               "proxy-authorization", "proxy-authenticate", "content-length"}
ATTEMPTS = 8


class Transient(Exception):
    """The registry answered 429/5xx or the connection failed."""


class RetryProxy:
    """Forwards to upstream (host:port) over plain HTTP, retrying transient failures."""

    def __init__(self, upstream: str, attempts: int = ATTEMPTS) -> None:
        self.upstream, self.attempts = upstream, attempts
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        # a short poll interval: shutdown() waits for it, at the end of every run
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       name="retry-proxy", daemon=True)

    @property
    def host(self) -> str:
        """`localhost:PORT` (BuildKit talks plain HTTP to localhost)."""
        return f"localhost:{self.server.server_address[1]}"

    def __enter__(self) -> RetryProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def forward(self, method: str, path: str, headers: list[tuple[str, str]],
                body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        """One request, retried while the registry fails transiently."""
        for attempt in Retrying(retry=retry_if_exception_type(Transient), reraise=True,
                                stop=stop_after_attempt(self.attempts),
                                wait=wait_random_exponential(multiplier=0.2, max=5)):
            with attempt:
                with self.lock:
                    self.counts["requests"] += 1
                    self.counts["retries"] += attempt.retry_state.attempt_number > 1
                return self._once(method, path, headers, body)
        raise AssertionError("unreachable")

    def _once(self, method: str, path: str, headers: list[tuple[str, str]],
              body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(self.upstream, timeout=300)
        try:
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for key, value in headers:  # repeated headers (Accept) stay repeated
                connection.putheader(key, value)
            connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            answer = connection.getresponse()
            data = answer.read()
        except (OSError, http.client.HTTPException) as exc:
            log.warning("registry_retried", node="*", reason=f"{method} {path}: {exc}")
            raise Transient(str(exc)) from None
        finally:
            connection.close()
        if answer.status == 429 or answer.status >= 500:
            log.warning("registry_retried", node="*", reason=f"{method} {path}: HTTP {answer.status}")
            raise Transient(f"HTTP {answer.status}")
        return answer.status, answer.getheaders(), data


def _handler(proxy: RetryProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: object) -> None:
            return

        def handle_one_request(self) -> None:
            # containerd probes TLS first and falls back to plain HTTP on an HTTP answer
            if cast(io.BufferedReader, self.rfile).peek(1)[:1] == b"\x16":
                self.wfile.write(b"HTTP/1.0 400 Bad Request\r\n\r\n")
                self.close_connection = True
                return
            super().handle_one_request()

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while (size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)) > 0:
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                self.rfile.readline()
                return b"".join(chunks)
            return self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))

        def _forward(self) -> None:
            headers = [(k, v) for k, v in self.headers.items() if k.lower() not in HOP_HEADERS]
            try:
                status, answer_headers, data = proxy.forward(self.command, self.path, headers, self._body())
            except Transient:
                status, answer_headers, data = 503, [], b""
            self.send_response(status)
            length = str(len(data))
            for key, value in answer_headers:
                if key.lower() == "content-length" and self.command == "HEAD":
                    length = value  # a HEAD answer carries the size a GET would return
                elif key.lower() not in HOP_HEADERS:
                    self.send_header(key, value)
            self.send_header("Content-Length", length)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _forward

    return Handler


def local_registry_host(registries: set[str]) -> str:
    """The one plain-HTTP (loopback) registry host all nodes push to, or '' when there is none."""
    hosts = {registry.split("/", 1)[0] for registry in registries}
    if len(hosts) != 1:
        return ""
    host = next(iter(hosts))
    return host if host.startswith(("localhost:", "127.")) else ""


def router(host: str, proxy_host: str) -> Callable[[str], str]:
    """Rewrites every reference to host (in refs, docker-image:// contexts, cache flags) to the proxy."""
    def route(value: str) -> str:
        return value.replace(f"{host}/", f"{proxy_host}/")

    return route
