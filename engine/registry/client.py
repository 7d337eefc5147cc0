"""A small client for the OCI distribution API: manifests and platforms, with retries."""

from __future__ import annotations

import hashlib
import json
import threading
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from tenacity import (
    RetryCallState,
    retry,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from engine.errors import RegistryError

INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
ACCEPT = ", ".join(INDEX_TYPES + MANIFEST_TYPES)
ATTESTATION = "attestation-manifest"
log = structlog.get_logger()


class TransientRegistryError(RegistryError):
    """A failure worth retrying: 5xx, 429, a reset connection or a timeout."""

    def __init__(self, message: str, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Manifest:
    """A fetched manifest or index, with its digest and media type."""

    digest: str
    media_type: str
    body: dict[str, Any]

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    def platforms(self) -> dict[str, str]:
        """Platform → image manifest digest of an index, attestation manifests left out."""
        result = {}
        for entry in self.body.get("manifests", []):
            annotations = entry.get("annotations", {})
            if annotations.get("vnd.docker.reference.type") == ATTESTATION:
                continue
            platform = entry.get("platform", {})
            name = f"{platform.get('os')}/{platform.get('architecture')}"
            if platform.get("variant"):
                name += f"/{platform['variant']}"
            result[name] = entry["digest"]
        return result

    def layers(self) -> list[str]:
        """Layer digests of an image manifest, base first."""
        return [layer["digest"] for layer in self.body.get("layers", [])]


def split_reference(reference: str) -> tuple[str, str, str]:
    """`host[:port]/repo[:tag|@digest]` → (host, repository, tag or digest)."""
    host, _, rest = reference.partition("/")
    if "@" in rest:
        repository, _, ref = rest.partition("@")
    else:
        repository, _, ref = rest.rpartition(":") if ":" in rest else (rest, "", "latest")
    return host, repository, ref


def _json(url: str, data: bytes) -> dict[str, Any]:
    try:
        body = json.loads(data)
    except ValueError:
        raise RegistryError(f"{url}: the registry answered with something that is not JSON") from None
    if not isinstance(body, dict):
        raise RegistryError(f"{url}: the registry answered with a JSON {type(body).__name__}")
    return body


class Registry(Protocol):
    """What the engine needs from a registry (RegistryClient, or a fake in unit tests)."""

    requests: Counter[str]

    def manifest(self, reference: str) -> Manifest | None:
        """The manifest at reference, or None."""

    def digest(self, reference: str) -> str | None:
        """The digest reference points to, or None."""

    def tag(self, source: str, target: str) -> str:
        """Point target at the manifest source; return its digest."""


@dataclass(frozen=True)
class Response:
    """A registry answer: status, headers and body."""

    status: int
    headers: dict[str, str]
    body: bytes


class RegistryClient:
    """Manifests over the distribution API: plain HTTP for local registries, HTTPS otherwise.

    Transient failures (5xx, 429, resets, timeouts) are retried with jittered exponential backoff,
    honouring Retry-After; 404 means "not there"; other errors are definitive.
    """

    def __init__(self, timeout_s: float = 10.0, attempts: int = 6) -> None:
        self.timeout_s, self.attempts = timeout_s, attempts
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()

    def manifest(self, reference: str) -> Manifest | None:
        """The manifest at reference, or None when the registry does not have it."""
        response = self._call("GET", reference)
        if response is None:
            return None
        return Manifest(response.headers.get("docker-content-digest", ""),
                        response.headers.get("content-type", ""), _json(reference, response.body))

    def digest(self, reference: str) -> str | None:
        """The digest reference points to (one HEAD request), or None when it is not there."""
        response = self._call("HEAD", reference)
        return None if response is None else response.headers.get("docker-content-digest", "")

    def image_config(self, reference: str, platform: str = "linux/amd64") -> dict[str, Any] | None:
        """The image config (labels under config.Labels) of one platform of reference, or None."""
        manifest = self.manifest(reference)
        if manifest is None:
            return None
        host, name, _ = split_reference(reference)
        repository = f"{host}/{name}"
        if manifest.is_index:
            digest = manifest.platforms().get(platform)
            manifest = self.manifest(f"{repository}@{digest}") if digest else None
            if manifest is None:
                return None
        config_digest = manifest.body.get("config", {}).get("digest", "")
        response = self._call("GET", f"{repository}@{config_digest}", kind="blobs")
        return None if response is None else _json(reference, response.body)

    def tag(self, source: str, target: str) -> str:
        """Point target (repository:tag) at the manifest source (repository@digest); same repository."""
        response = self._call("GET", source)
        if response is None:
            raise RegistryError(f"cannot tag {target}: {source} is not in the registry",
                                "build it again; the registry may have been cleaned")
        media_type = response.headers.get("content-type", "")
        if self._call("PUT", target, response.body, {"Content-Type": media_type}) is None:
            raise RegistryError(f"the registry refused to tag {target} (404: repository unknown)",
                                "check the registry prefix")
        return "sha256:" + hashlib.sha256(response.body).hexdigest()

    def _call(self, method: str, reference: str, body: bytes | None = None,
              headers: dict[str, str] | None = None, kind: str = "manifests") -> Response | None:
        host, repository, ref = split_reference(reference)
        scheme = "http" if host.startswith(("localhost", "127.")) else "https"
        url = f"{scheme}://{host}/v2/{repository}/{kind}/{ref}"
        send = retry(
            retry=retry_if_exception_type(TransientRegistryError), wait=_wait,
            stop=stop_after_attempt(self.attempts), reraise=True, before_sleep=_log_retry,
        )(self._send)
        return send(method, url, body, {"Accept": ACCEPT, **(headers or {})})

    def _send(self, method: str, url: str, body: bytes | None,
              headers: dict[str, str]) -> Response | None:
        with self._lock:
            self.requests[method] += 1
        request = urllib.request.Request(url, data=body, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                lower = {key.lower(): value for key, value in answer.headers.items()}
                return Response(answer.status, lower, answer.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            if exc.code == 429 or exc.code >= 500:
                raise TransientRegistryError(f"{method} {url}: HTTP {exc.code}",
                                             retry_after=_retry_after(exc.headers)) from None
            raise RegistryError(f"{method} {url}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise TransientRegistryError(f"{method} {url}: {exc}") from None


def _retry_after(headers: Any) -> float:
    """Seconds from a Retry-After header (delta form), 0 when absent or unreadable."""
    value = headers.get("Retry-After", "") if headers is not None else ""
    try:
        return max(0.0, float(value))
    except ValueError:
        return 0.0


_backoff = wait_random_exponential(multiplier=0.2, max=5)


def _wait(state: RetryCallState) -> float:
    """Retry-After when the registry gave one (capped at 30 s), else jittered exponential backoff."""
    error = state.outcome.exception() if state.outcome else None
    if isinstance(error, TransientRegistryError) and error.retry_after:
        return min(error.retry_after, 30.0)
    return float(_backoff(state))


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    log.warning("registry_retried", attempt=state.attempt_number, reason=str(error))
