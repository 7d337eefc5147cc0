"""A small client for the OCI distribution API: manifests and platforms, with retries."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from tenacity import (
    retry,
    retry_if_exception,
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


class TransientRegistryError(RegistryError):
    """A failure worth retrying: 5xx, 429, a reset connection or a timeout."""


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


class RegistryClient:
    """Reads manifests over plain HTTP from a local registry (HTTPS for other hosts)."""

    def __init__(self, timeout_s: float = 10.0, attempts: int = 5) -> None:
        self.timeout_s, self.attempts = timeout_s, attempts

    def manifest(self, reference: str) -> Manifest | None:
        """The manifest at reference, or None when the registry does not have it."""
        host, repository, ref = split_reference(reference)
        scheme = "http" if host.startswith(("localhost", "127.")) else "https"
        url = f"{scheme}://{host}/v2/{repository}/manifests/{ref}"
        fetch = retry(
            retry=retry_if_exception(lambda e: isinstance(e, TransientRegistryError)),
            wait=wait_random_exponential(multiplier=0.2, max=5),
            stop=stop_after_attempt(self.attempts), reraise=True,
        )(self._get)
        return fetch(url)

    def _get(self, url: str) -> Manifest | None:
        request = urllib.request.Request(url, headers={"Accept": ACCEPT})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                body = _json(url, response.read())
                return Manifest(response.headers.get("Docker-Content-Digest", ""),
                                response.headers.get("Content-Type", ""), body)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            if exc.code == 429 or exc.code >= 500:
                raise TransientRegistryError(f"{url}: HTTP {exc.code}") from None
            raise RegistryError(f"{url}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise TransientRegistryError(f"{url}: {exc}") from None
