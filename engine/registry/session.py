"""One authorised, retried exchange with a registry: the layer under the client's API calls.

Each host is pinged once (`GET /v2/`) to learn whether and how it wants authentication; a request
carries the token for its scope, a 401 with a new challenge is answered once with fresh
credentials, transient failures (5xx, 429, resets, timeouts) are retried with jittered backoff
honouring Retry-After, and every request sent is counted by method.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

from tenacity import retry, retry_if_exception_type, stop_after_attempt

from engine.registry.auth import Authorizer
from engine.registry.endpoints import Endpoint
from engine.registry.failures import (
    TransientRegistryError,
    log_retry,
    redact,
    refusal,
    retry_after,
    retry_wait,
)
from engine.registry.manifest import ACCEPT
from engine.registry.transport import Response, Transport


class RegistrySession:
    """Requests to registries over pooled connections, logged in, retried and counted."""

    def __init__(self, timeout_s: float, attempts: int) -> None:
        self.attempts = attempts
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._transport = Transport(timeout_s)
        self._auth = Authorizer(self._transport, self.count)
        self._pinged: dict[str, threading.Lock] = {}

    def request(self, endpoint: Endpoint, method: str, path: str, scope: str, body: bytes | None = None,
                headers: dict[str, str] | None = None, *, keep_404: bool = False) -> Response | None:
        """The answer to one request (retried while transient); None for 404 (the 404 itself with
        keep_404, for its error body), else RegistryError."""
        send: Callable[..., Response | None] = retry(
            retry=retry_if_exception_type(TransientRegistryError), wait=retry_wait,
            stop=stop_after_attempt(self.attempts), reraise=True, before_sleep=log_retry,
        )(self._exchange)
        return send(endpoint, method, path, scope, body, {"Accept": ACCEPT, **(headers or {})}, keep_404)

    def count(self, kind: str) -> None:
        """Count one request of kind (a method, or `ping` and `token`)."""
        with self._lock:
            self.requests[kind] += 1

    def close(self) -> None:
        """Close the pooled connections."""
        self._transport.close()

    def _exchange(self, endpoint: Endpoint, method: str, path: str, scope: str, body: bytes | None,
                  headers: dict[str, str], keep_404: bool) -> Response | None:
        """One request, authorised; a 401 with a new challenge is answered once with fresh credentials."""
        self._ping(endpoint)
        response = self._send(endpoint, method, path, scope, body, headers)
        if response.status == 401 and "www-authenticate" in response.headers:
            self._auth.learn(endpoint.host, response.headers["www-authenticate"])
            self._auth.forget(endpoint.host, scope)
            response = self._send(endpoint, method, path, scope, body, headers)
        if response.status == 404 and keep_404:
            return response
        return self._interpret(endpoint, method, path, scope, response)

    def _send(self, endpoint: Endpoint, method: str, path: str, scope: str, body: bytes | None,
              headers: dict[str, str]) -> Response:
        authorization = self._auth.header(endpoint.host, scope)
        self.count(method)
        extra = {"Authorization": authorization} if authorization else {}
        return self._transport.send(endpoint, method, endpoint.base_url + path, {**headers, **extra}, body)

    def _ping(self, endpoint: Endpoint) -> None:
        """Learn once per host whether and how it wants authentication (`GET /v2/`)."""
        if self._auth.knows(endpoint.host):
            return
        with self._lock:
            lock = self._pinged.setdefault(endpoint.host, threading.Lock())
        with lock:
            if self._auth.knows(endpoint.host):
                return
            self.count("ping")
            answer = self._transport.send(endpoint, "GET", endpoint.base_url + "/v2/", {})
            if answer.status == 429 or answer.status >= 500:
                raise TransientRegistryError(f"GET {endpoint.base_url}/v2/: HTTP {answer.status}",
                                             retry_after(answer.headers.get("retry-after", "")))
            challenge = answer.headers.get("www-authenticate") if answer.status == 401 else None
            self._auth.learn(endpoint.host, challenge)

    def _interpret(self, endpoint: Endpoint, method: str, path: str, scope: str,
                   response: Response) -> Response | None:
        """The response when it succeeded, None for 404, else the error it means."""
        status, where = response.status, f"{method} {endpoint.base_url}{redact(path)}"
        if 200 <= status < 300:
            return response
        if status == 404:
            return None
        if status == 429 or status >= 500:
            raise TransientRegistryError(f"{where}: HTTP {status}",
                                         retry_after(response.headers.get("retry-after", "")))
        raise refusal(status, where, endpoint.host, scope, self._auth.credentials(endpoint.host) is not None,
                      response.body)
