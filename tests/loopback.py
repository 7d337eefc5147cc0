"""Throwaway HTTP servers for tests: a free loopback port, served from a daemon thread, closed after."""

from __future__ import annotations

import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

from engine.registry import proxyhandler
from engine.registry.proxyhandler import LocalHandler


class QuietHandler(LocalHandler):
    """A request handler that logs nothing and answers in one call."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def answer(self, status: int, body: bytes = b"", headers: Mapping[str, str] | None = None,
               with_body: bool = True) -> None:
        """Send status, headers and a Content-Length; the body too unless with_body is False (HEAD)."""
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)


class Served(proxyhandler.Served):
    """A test server: poll every 20 ms, and its address as `127.0.0.1:PORT`."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None = None,
                 poll_s: float = 0.02) -> None:
        super().__init__(handler, tls=tls, poll_s=poll_s, name="test-server")

    @property
    def host(self) -> str:
        """`127.0.0.1:PORT`."""
        return f"127.0.0.1:{self.port}"


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None = None) -> Iterator[Served]:
    """handler served on a free loopback port for the length of the block."""
    with Served(handler, tls) as served:
        yield served
