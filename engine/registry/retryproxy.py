"""A local retrying proxy in front of a plain-HTTP registry, for BuildKit's pushes and pulls.

BuildKit gives up on the first 5xx of a push and waits forever on a registry that stopped answering.
Routed through this proxy, a request the registry answers with 429/5xx, resets, or leaves without an
answer for `timeout_s` is sent again (jittered backoff, Retry-After honoured) when sending it again is
safe, and answered 502/504 with the reason when it is not or retries ran out: BuildKit then fails
(and the runner retries the build) instead of hanging. Every socket operation, on either side, has a
timeout. Request bodies are spooled (memory up to SPOOL_MEMORY_BYTES, then a temporary file) so they
can be replayed; response bodies above BUFFER_BYTES are streamed through, never held in memory.
"""

from __future__ import annotations

import http.client
import io
import tempfile
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, cast

import structlog
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

log = structlog.get_logger()
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "expect",
               "proxy-authorization", "proxy-authenticate", "content-length"}
ATTEMPTS = 8
TIMEOUT_S = 60.0  # the longest the registry (or BuildKit) may leave one socket operation waiting
SPOOL_MEMORY_BYTES = 1 << 20  # request bodies above this go to a temporary file
BUFFER_BYTES = 1 << 20  # response bodies up to this are read whole, so a failed read can be retried
CHUNK_BYTES = 1 << 16
MAX_RETRY_AFTER_S = 30.0
# a reused keep-alive connection that fails so was closed by the registry while idle (the request unread)
STALE_ERRORS = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)
# PATCH appends to an upload: after a partly sent body it cannot be replayed; the others can
REPLAYABLE = {"GET", "HEAD", "PUT", "DELETE", "POST"}


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


class _Stale(Exception):
    """A kept-alive upstream connection was found closed when reused."""


class RetryProxy:
    """Forwards to upstream (host:port) over plain HTTP, retrying transient failures."""

    def __init__(self, upstream: str, attempts: int = ATTEMPTS, timeout_s: float = TIMEOUT_S) -> None:
        self.upstream, self.attempts, self.timeout_s = upstream, attempts, timeout_s
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self._idle = threading.local()  # per handler thread: its kept-alive upstream connection
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
                body: IO[bytes] | None = None) -> Answer:
        """One request, sent again while the registry fails transiently and replaying it is safe."""
        def retry_this(error: BaseException) -> bool:
            return isinstance(error, Transient) and (error.replayable or method in REPLAYABLE)

        for attempt in Retrying(retry=retry_if_exception(retry_this), reraise=True, wait=_wait,
                                stop=stop_after_attempt(self.attempts)):
            with attempt:
                with self.lock:
                    self.counts["requests"] += 1
                    self.counts["retries"] += attempt.retry_state.attempt_number > 1
                return self._once(method, path, headers, body)
        raise AssertionError("unreachable")

    def _once(self, method: str, path: str, headers: list[tuple[str, str]], body: IO[bytes] | None) -> Answer:
        idle = self._take_idle() if method != "PATCH" else None  # a PATCH cannot be replayed: fresh socket
        if idle is not None:
            try:
                return self._exchange(idle, method, path, headers, body, reused=True)
            except _Stale:
                pass  # the registry closed the idle connection before reading the request: send anew
        connection = http.client.HTTPConnection(self.upstream, timeout=self.timeout_s)
        try:
            connection.connect()
        except OSError as exc:  # nothing was sent: safe to send again whatever the method
            connection.close()
            raise _transient(method, path, f"cannot connect: {exc}", 502) from None
        return self._exchange(connection, method, path, headers, body, reused=False)

    def _exchange(self, connection: http.client.HTTPConnection, method: str, path: str,
                  headers: list[tuple[str, str]], body: IO[bytes] | None, reused: bool) -> Answer:
        """Send one request on connection and read its answer's head (a small body whole)."""
        try:
            _send(connection, method, path, headers, body)
            answer = connection.getresponse()
            return self._answer(method, path, connection, answer)
        except TimeoutError:
            connection.close()
            raise _transient(method, path, f"no answer within {self.timeout_s:g} s", 504,
                             replayable=False) from None
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            if reused and isinstance(exc, STALE_ERRORS):
                raise _Stale() from None
            raise _transient(method, path, f"connection failed: {exc!r}", 502, replayable=False) from None

    def _take_idle(self) -> http.client.HTTPConnection | None:
        """This thread's kept-alive upstream connection, if it has one (taken: in use until given back)."""
        connection: http.client.HTTPConnection | None = getattr(self._idle, "connection", None)
        self._idle.connection = None
        return connection

    def _give_back(self, connection: http.client.HTTPConnection) -> None:
        """Keep connection for this thread's next request (one handler thread serves one client socket)."""
        self.drop_idle()
        self._idle.connection = connection

    def drop_idle(self) -> None:
        """Close this thread's kept-alive upstream connection (its client went away)."""
        connection = self._take_idle()
        if connection is not None:
            connection.close()

    def _answer(self, method: str, path: str, connection: http.client.HTTPConnection,
                answer: http.client.HTTPResponse) -> Answer:
        """The answer to pass on, or Transient for a 429/5xx (whose body is dropped)."""
        if answer.status == 429 or answer.status >= 500:
            answer.read()
            connection.close()
            raise _transient(method, path, f"HTTP {answer.status}", answer.status,
                             retry_after=_retry_after(answer.getheader("Retry-After")),
                             replayable=answer.status == 429)  # a 429 means: nothing was processed
        length = answer.getheader("Content-Length")
        if method == "HEAD" or (length is not None and int(length) <= BUFFER_BYTES):
            data = answer.read()
            if answer.will_close:
                connection.close()
            else:
                self._give_back(connection)
            return Answer(answer.status, answer.getheaders(), data)
        return Answer(answer.status, answer.getheaders(), stream=answer, connection=connection)


def _send(connection: http.client.HTTPConnection, method: str, path: str,
          headers: list[tuple[str, str]], body: IO[bytes] | None) -> None:
    """The request line, headers (repeated ones stay repeated) and the body from its start."""
    connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    for key, value in headers:
        connection.putheader(key, value)
    size = 0
    if body is not None:
        size = body.seek(0, io.SEEK_END)
        body.seek(0)
    connection.putheader("Content-Length", str(size))
    connection.endheaders()
    while body is not None and (chunk := body.read(CHUNK_BYTES)):
        connection.send(chunk)


def _transient(method: str, path: str, reason: str, status: int, retry_after: float = 0.0,
               replayable: bool = True) -> Transient:
    log.warning("registry_retried", node="*", reason=f"{method} {path}: {reason}")
    return Transient(f"{method} {path}: {reason}", status, retry_after, replayable)


def _retry_after(value: str | None) -> float:
    """Seconds of a Retry-After header (delta form), 0 when absent or unreadable."""
    try:
        return max(0.0, float(value or 0))
    except ValueError:
        return 0.0


_backoff = wait_random_exponential(multiplier=0.2, max=5)


def _wait(state: RetryCallState) -> float:
    """Retry-After when the registry gave one (capped), else jittered exponential backoff."""
    error = state.outcome.exception() if state.outcome else None
    if isinstance(error, Transient) and error.retry_after:
        return min(error.retry_after, MAX_RETRY_AFTER_S)
    return float(_backoff(state))


def _handler(proxy: RetryProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = proxy.timeout_s  # BuildKit's side: a client that stalls is dropped as well

        def log_message(self, *_: object) -> None:
            return

        def finish(self) -> None:
            proxy.drop_idle()
            super().finish()

        def handle_one_request(self) -> None:
            try:
                first = cast(io.BufferedReader, self.rfile).peek(1)[:1]
            except OSError:  # an idle keep-alive connection timed out or was reset: close it quietly
                self.close_connection = True
                return
            # containerd probes TLS first and falls back to plain HTTP on an HTTP answer
            if first == b"\x16":
                self.wfile.write(b"HTTP/1.0 400 Bad Request\r\n\r\n")
                self.close_connection = True
                return
            super().handle_one_request()

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
                    answer = proxy.forward(self.command, self.path, headers, body)
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
            length = str(len(answer.body))
            for key, value in answer.headers:
                if key.lower() == "content-length" and (self.command == "HEAD" or answer.stream):
                    length = value  # a HEAD answer carries the size a GET would return
                elif key.lower() not in HOP_HEADERS:
                    self.send_header(key, value)
            chunked = answer.stream is not None and answer.stream.getheader("Content-Length") is None
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

    return Handler


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
