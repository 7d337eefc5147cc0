"""Throwaway HTTP servers for tests: a free loopback port, served from a daemon thread, closed after."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

from engine.registry.proxyhandler import LocalHandler, LocalServer


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


class Served:
    """handler's server on a free loopback port (over TLS when given a context), serving between start
    and stop (or as a context manager)."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None = None,
                 poll_s: float = 0.02) -> None:
        self.server = LocalServer(("127.0.0.1", 0), handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(poll_s,), daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def host(self) -> str:
        """`127.0.0.1:PORT`."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> Served:
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (when started), close the socket and wait for the serving thread."""
        if self.thread.ident is not None:
            self.server.shutdown()
            self.thread.join(5)
        self.server.server_close()

    def __enter__(self) -> Served:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None = None) -> Iterator[Served]:
    """handler served on a free loopback port for the length of the block."""
    with Served(handler, tls) as served:
        yield served
