"""HTTP to registries over httpx: one pooled connection set per endpoint, errors named and redacted."""

from __future__ import annotations

import email.utils
import logging
import re
import ssl
import threading
import time
from dataclasses import dataclass

import httpx

from engine.errors import RegistryError
from engine.registry.endpoints import Endpoint

logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines repeat every request URL
_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")
_AUTH_HEADER = re.compile(r"(?i)\b(authorization[:=]?\s*)(?:(?:bearer|basic)\s+)?[^\s,&\"']+")
_AUTH_VALUE = re.compile(r"(?i)\b(bearer\s+|basic\s+|token=|access_token=|password=)[^\s,&\"']+")


class TransientRegistryError(RegistryError):
    """A failure worth retrying: 5xx, 429, a reset connection or a timeout."""

    def __init__(self, message: str, retry_after: float = 0.0, hint: str = "") -> None:
        super().__init__(message, hint)
        self.retry_after = retry_after


class RegistryUnreachable(RegistryError):
    """Nothing answers at the registry's address: not worth retrying."""


@dataclass(frozen=True)
class Response:
    """A registry answer: status, lower-case headers and body."""

    status: int
    headers: dict[str, str]
    body: bytes


def redact(text: str) -> str:
    """text without credentials: userinfo in URLs and Authorization/token values become ***."""
    text = _AUTH_HEADER.sub(lambda m: m.group(1) + "***", _USERINFO.sub("***@", text))
    return _AUTH_VALUE.sub(lambda m: m.group(1) + "***", text)


def retry_after(value: str, now: float | None = None) -> float:
    """Seconds a Retry-After value asks to wait (delta-seconds or an HTTP date), 0 when unusable."""
    value = value.strip()
    if not value:
        return 0.0
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return 0.0
    if when.tzinfo is None:
        return 0.0
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    """Whether kind is anywhere in exc's chain of causes."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class Transport:
    """Sends requests to registry endpoints; keeps one httpx client (connection pool) per endpoint."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._clients: dict[Endpoint, httpx.Client] = {}
        self._lock = threading.Lock()

    def send(self, endpoint: Endpoint, method: str, url: str, headers: dict[str, str],
             body: bytes | None = None, form: dict[str, str] | None = None) -> Response:
        """One request; RegistryError (transient or not) when it gets no HTTP answer."""
        try:
            answer = self._client(endpoint).request(method, url, headers=headers, content=body, data=form)
        except httpx.HTTPError as exc:
            raise self._failure(endpoint, method, url, exc) from None
        return Response(answer.status_code, {k.lower(): v for k, v in answer.headers.items()}, answer.content)

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()

    def _client(self, endpoint: Endpoint) -> httpx.Client:
        with self._lock:
            if endpoint not in self._clients:
                verify: ssl.SSLContext | bool = endpoint.ssl_context() if endpoint.scheme == "https" else True
                self._clients[endpoint] = httpx.Client(verify=verify, timeout=self.timeout_s,
                                                       follow_redirects=True, trust_env=False)
            return self._clients[endpoint]

    @staticmethod
    def _failure(endpoint: Endpoint, method: str, url: str, exc: httpx.HTTPError) -> RegistryError:
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
        return TransientRegistryError(f"{where}: {type(exc).__name__}: {redact(str(exc))}")


class RegistryRefusal(RegistryError):
    """The registry answered with a definitive 4xx; status says which."""

    def __init__(self, status: int, message: str, hint: str = "") -> None:
        super().__init__(message, hint)
        self.status = status


class LoginRefused(RegistryRefusal):
    """The registry wants credentials it was not given, or refused them: fixed by `docker login`."""

    exit_code = 2


def refusal(status: int, where: str, host: str, scope: str, logged_in: bool) -> RegistryRefusal:
    """What a definitive refusal means and how to fix it."""
    if status == 401:
        how = (f"the saved credentials were refused: run `docker login {host}` again" if logged_in
               else f"run `docker login {host}`")
        return LoginRefused(status, f"{where}: HTTP 401 unauthorized", how)
    if status == 403:
        return RegistryRefusal(status, f"{where}: HTTP 403 denied ({scope})",
                               f"ask for {scope.rsplit(':', 1)[-1]} rights on {host}, or log in as "
                               f"another user with `docker login {host}`")
    return RegistryRefusal(status, f"{where}: HTTP {status}")


def next_link(header: str) -> str:
    """The target of rel="next" in a Link header, '' without one."""
    for part in header.split(","):
        target, _, params = part.partition(";")
        if 'rel="next"' in params.replace(" ", "") or "rel=next" in params.replace(" ", ""):
            return target.strip().strip("<>")
    return ""
