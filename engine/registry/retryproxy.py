"""A local retrying proxy in front of a plain-HTTP registry, for BuildKit's pushes and pulls.

BuildKit gives up on the first 5xx of a push and waits forever on a registry that stopped answering.
Routed through this proxy, a request the registry answers with 429/5xx, resets, or leaves without an
answer for `timeout_s` is sent again (jittered backoff, Retry-After honoured) when sending it again is
safe, and answered 502/504 with the reason when it is not or retries ran out: BuildKit then fails
(and the runner retries the build) instead of hanging. Every socket operation, on either side, has a
timeout. Request bodies are spooled (engine.registry.proxyhandler, BuildKit's side) so they can be
replayed; response bodies above BUFFER_BYTES are streamed through, never held in memory.
"""

from __future__ import annotations

import http.client
import io
import threading
from collections import Counter
from collections.abc import Callable
from typing import IO

import structlog
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from engine.registry.proxyhandler import CHUNK_BYTES, Answer, Served, Transient, handler
from engine.registry.transport import STALE_CONNECTION_ERRORS

log = structlog.get_logger()
ATTEMPTS = 8
TIMEOUT_S = 60.0  # the longest the registry (or BuildKit) may leave one socket operation waiting
BUFFER_BYTES = 1 << 20  # response bodies up to this are read whole, so a failed read can be retried
MAX_RETRY_AFTER_S = 30.0
# PATCH appends to an upload: after a partly sent body it cannot be replayed; the others can
REPLAYABLE = {"GET", "HEAD", "PUT", "DELETE", "POST"}


class _Stale(Exception):
    """A kept-alive upstream connection was found closed when reused."""


class RetryProxy:
    """Forwards to upstream (host:port) over plain HTTP, retrying transient failures."""

    def __init__(self, upstream: str, attempts: int = ATTEMPTS, timeout_s: float = TIMEOUT_S) -> None:
        self.upstream, self.attempts, self.timeout_s = upstream, attempts, timeout_s
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self._idle = threading.local()  # per handler thread: its kept-alive upstream connection
        self.served = Served(handler(self), name="retry-proxy")

    @property
    def host(self) -> str:
        """`localhost:PORT` (BuildKit talks plain HTTP to localhost)."""
        return f"localhost:{self.served.port}"

    def __enter__(self) -> RetryProxy:
        self.served.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.served.stop()

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
            if reused and isinstance(exc, STALE_CONNECTION_ERRORS):
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
        # http.client's own reading of Content-Length (None when absent or not a number): a bad one is
        # not trusted, the body is streamed to the connection's end
        if method == "HEAD" or (answer.length is not None and answer.length <= BUFFER_BYTES):
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
