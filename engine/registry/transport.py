"""HTTP to registries over http.client: keep-alive connections per thread, errors named and redacted."""

from __future__ import annotations

import http.client
import re
import socket
import ssl
import threading
import urllib.parse
from dataclasses import dataclass

import structlog

from engine.errors import RegistryError
from engine.registry.endpoints import Endpoint
from engine.registry.failures import AnswerTooLarge, RegistryUnreachable, TransientRegistryError, redact

log = structlog.get_logger()

@dataclass(frozen=True)
class Response:
    """A registry answer: status, lower-case headers and body."""

    status: int
    headers: dict[str, str]
    body: bytes


def _cause(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """The first exception of kind in exc's chain of causes (exc itself included), or None."""
    seen: BaseException | None = exc
    while seen is not None and not isinstance(seen, kind):
        seen = seen.__cause__ or seen.__context__
    return seen


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    """Whether kind is anywhere in exc's chain of causes."""
    return _cause(exc, kind) is not None


MANIFEST_LIMIT_BYTES = 4 * 1024 * 1024  # distribution stores no larger manifest
BODY_LIMIT_BYTES = 256 * 1024 * 1024  # configs, attestations and SBOMs, listings, tokens


def body_limit(url: str) -> int:
    """The most bytes an answer to url may hold (memory stays bounded whatever a server sends)."""
    return MANIFEST_LIMIT_BYTES if "/manifests/" in urllib.parse.urlsplit(url).path else BODY_LIMIT_BYTES


def read_bounded(answer: http.client.HTTPResponse, url: str) -> bytes:
    """The answer's body; AnswerTooLarge, without reading on, when it holds more than url's limit."""
    limit = body_limit(url)
    declared = answer.getheader("content-length") or ""
    too_large = declared.isdigit() and int(declared) > limit
    data = b"" if too_large else answer.read(limit + 1)
    if too_large or len(data) > limit:
        raise AnswerTooLarge(f"{redact(url)}: the answer is larger than {limit // 2**20} MiB, more than a "
                             "registry sends for it", "check the registry address (is it a registry?)")
    return data


REDIRECTS = {301, 302, 303, 307, 308}
_NO_SUCH_HOST = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}
_MALFORMED = re.compile(r"got more than \d+ headers")  # http.client's words: sending it again cannot help
MAX_REDIRECTS = 20
# a reused keep-alive connection failing so was closed by the server while idle (the request unread)
STALE_CONNECTION_ERRORS = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                           ConnectionAbortedError)
_Key = tuple[Endpoint, str, str]  # (endpoint whose TLS settings apply, scheme, host[:port])


class Transport:
    """Sends requests to registry endpoints over http.client: a keep-alive connection per thread and host.

    (Through httpx a HEAD cost 0.58 ms of CPU end to end, 0.32 ms now: seconds for the HEADs of a
    10k-node no-op; and ~50 ms of import.) Redirects are followed (Authorization dropped on another
    origin); a reused connection the server had closed is reopened once.
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._local = threading.local()
        self._contexts: dict[Endpoint, ssl.SSLContext] = {}
        self._open: list[tuple[threading.Thread, http.client.HTTPConnection]] = []  # for close()
        self._lock = threading.Lock()

    def send(self, endpoint: Endpoint, method: str, url: str, headers: dict[str, str],
             body: bytes | None = None, form: dict[str, str] | None = None) -> Response:
        """One request; RegistryError (transient or not) when it gets no HTTP answer."""
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
        try:
            return self._follow(endpoint, method, url, headers, body)
        except (OSError, http.client.HTTPException) as exc:
            raise self._failure(endpoint, method, url, exc) from None

    def close(self) -> None:
        with self._lock:
            for _, connection in self._open:
                connection.close()
            self._open.clear()
        self._local = threading.local()

    def _follow(self, endpoint: Endpoint, method: str, url: str, headers: dict[str, str],
                body: bytes | None) -> Response:
        """The answer to method url, redirects followed."""
        origin, first = urllib.parse.urlsplit(url)[:2], url
        for _ in range(MAX_REDIRECTS + 1):
            response = self._exchange(endpoint, method, url, headers, body)
            location = response.headers.get("location", "")
            if response.status not in REDIRECTS or not location:
                return response
            url = _redirect_target(method, url, location)
            if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                method, body = ("HEAD" if method == "HEAD" else "GET"), None
            if urllib.parse.urlsplit(url)[:2] != origin:
                if body:  # it may hold credentials (an OAuth form): not sent elsewhere
                    raise RegistryError(f"{method} {redact(first)}: the answer redirects the request's body "
                                        f"to another server ({redact(url)}); not followed",
                                        "check the registry's address and auth setup")
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        raise RegistryError(f"{method} {redact(first)}: more than {MAX_REDIRECTS} redirects",
                            "check the registry's address (or the proxy in front of it)")

    def _exchange(self, endpoint: Endpoint, method: str, url: str, headers: dict[str, str],
                  body: bytes | None) -> Response:
        """One request and its whole answer on this thread's connection to the URL's host."""
        parts = urllib.parse.urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        key = (endpoint, parts.scheme, parts.netloc)
        for fresh in (False, True):
            connection, reused = self._connection(key, fresh)
            try:
                connection.request(method, path, body=body, headers={"User-Agent": "stackbuild", **headers})
                answer = connection.getresponse()
                data = answer.read() if method == "HEAD" else read_bounded(answer, url)
            except STALE_CONNECTION_ERRORS:
                self._drop(key)
                if reused and not fresh:
                    continue  # the server closed the idle connection: once more on a new one
                raise
            except BaseException:
                self._drop(key)
                raise
            return Response(answer.status, _headers(answer.getheaders()), data)
        raise AssertionError("unreachable")

    def _connection(self, key: _Key, fresh: bool) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's connection for key (a new one when fresh or none); whether it was used before."""
        connections: dict[_Key, http.client.HTTPConnection] = self._local.__dict__.setdefault("by_key", {})
        if not fresh and key in connections:
            return connections[key], True
        endpoint, scheme, netloc = key
        if scheme == "https":
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                netloc, timeout=self.timeout_s, context=self._context(endpoint))
        else:
            connection = http.client.HTTPConnection(netloc, timeout=self.timeout_s)
        connections[key] = connection
        with self._lock:  # connections of threads that ended (a finished pool's) are closed here
            for _, old in [entry for entry in self._open if not entry[0].is_alive()]:
                old.close()
            self._open = [entry for entry in self._open if entry[0].is_alive()]
            self._open.append((threading.current_thread(), connection))
        return connection, False

    def _drop(self, key: _Key) -> None:
        connection = self._local.__dict__.get("by_key", {}).pop(key, None)
        if connection is not None:
            connection.close()
            with self._lock:
                self._open = [entry for entry in self._open if entry[1] is not connection]

    def _context(self, endpoint: Endpoint) -> ssl.SSLContext:
        """The endpoint's TLS settings (system trust plus its certs.d files), made once."""
        with self._lock:
            if endpoint not in self._contexts:
                self._contexts[endpoint] = endpoint.ssl_context()
            return self._contexts[endpoint]

    @staticmethod
    def _failure(endpoint: Endpoint, method: str, url: str, exc: Exception) -> RegistryError:
        where = f"{method} {redact(url)}"
        if _caused_by(exc, ssl.SSLCertVerificationError):
            return RegistryError(
                f"{where}: the TLS certificate of {endpoint.host} is not trusted ({redact(str(exc))})",
                f"put the registry's CA certificate in {endpoint.certs_folder}/ca.crt, "
                "or add it to the system trust store")
        if _caused_by(exc, ssl.SSLError):
            return RegistryError(f"{where}: TLS with {endpoint.host} failed ({redact(str(exc))})",
                                 f"check that {endpoint.host} speaks HTTPS, or declare it insecure "
                                 "(daemon.json insecure-registries, or STACKBUILD_INSECURE_REGISTRIES)")
        if _caused_by(exc, ConnectionRefusedError):
            return RegistryUnreachable(
                f"no registry answers at {endpoint.base_url} (connection refused)",
                "start it (`make setup` for the local one), pick another with --registry, "
                "or plan with --offline")
        if _no_such_host(exc):  # the resolver's definitive answer (EAI_AGAIN, a DNS outage, stays transient)
            return RegistryUnreachable(f"no registry answers at {endpoint.base_url} (the name "
                                       f"{endpoint.host.rsplit(':', 1)[0]} has no address)",
                                       "check the registry address and DNS, or plan with --offline")
        if isinstance(exc, http.client.LineTooLong | http.client.InvalidURL) or _MALFORMED.search(str(exc)):
            return RegistryError(f"{where}: the answer is not one a registry sends ({type(exc).__name__}: "
                                 f"{redact(str(exc))[:200]})",
                                 "check the registry address (is it a registry?)")
        return TransientRegistryError(f"{where}: {type(exc).__name__}: {redact(str(exc))}")


def _no_such_host(exc: BaseException) -> bool:
    """Whether exc comes from a name lookup that found no such host."""
    lookup = _cause(exc, socket.gaierror)
    return isinstance(lookup, socket.gaierror) and lookup.errno in _NO_SUCH_HOST


def _redirect_target(method: str, url: str, location: str) -> str:
    """The URL a redirect from url points to; RegistryError when it is not an HTTP(S) one."""
    target = urllib.parse.urljoin(url, location)
    if urllib.parse.urlsplit(target).scheme not in ("http", "https"):
        raise RegistryError(f"{method} {redact(url)}: the answer redirects to {redact(target)[:200]!r}, "
                            "not an HTTP(S) address; not followed", "check the registry's address")
    return target


def _headers(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Lower-case names; a repeated header's values joined with ', '."""
    merged: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return merged


def next_link(header: str) -> str:
    """The target of rel="next" in a Link header, '' without one."""
    for part in header.split(","):
        target, _, params = part.partition(";")
        if 'rel="next"' in params.replace(" ", "") or "rel=next" in params.replace(" ", ""):
            return target.strip().strip("<>")
    return ""


