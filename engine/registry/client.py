"""The one registry client every command uses: manifests, digests, tags, configs and listings.

Names are normalised as Docker does (engine.registry.names), credentials read as Docker reads them
(credentials), tokens fetched per scope (auth), TLS set up from certs.d (endpoints), Docker Hub
names pulled through the daemon's mirrors when it has some.
"""

from __future__ import annotations

import json
import urllib.parse
from collections import Counter
from typing import Any, Protocol

import structlog

from engine.errors import RegistryError
from engine.registry import listings
from engine.registry.answers import as_named, header_digest, json_body, sha256
from engine.registry.endpoints import endpoint_for, mirror_endpoint, mirrors
from engine.registry.failures import (
    RegistryRefusal,
    RegistryUnreachable,
    TransientRegistryError,
    error_detail,
    redact,
)
from engine.registry.listings import PAGE
from engine.registry.manifest import ACCEPT, INDEX_TYPES, MANIFEST_TYPES, Manifest
from engine.registry.memo import ManifestMemo
from engine.registry.names import ImageName, parse_reference
from engine.registry.session import RegistrySession
from engine.registry.transport import Response, next_link

__all__ = ["ACCEPT", "INDEX_TYPES", "MANIFEST_TYPES", "STORED_TYPES", "DeletionDisabled", "Manifest",
           "Registry", "RegistryClient", "RegistryRefusal", "RegistryUnreachable", "Response",
           "TransientRegistryError", "next_link", "split_reference"]
log = structlog.get_logger()
# every manifest type registries store (an index's descriptor of another type is a blob: buildkit's
# registry cache lists its layers so); distribution asked without the manifest's type answers 404
# MANIFEST_UNKNOWN ("OCI index found, but accept header does not support OCI indexes") for one it has
STORED_TYPES = (*INDEX_TYPES, *MANIFEST_TYPES, "application/vnd.oci.artifact.manifest.v1+json",
                "application/vnd.docker.distribution.manifest.v1+prettyjws",
                "application/vnd.docker.distribution.manifest.v1+json")
EVERY_MANIFEST_TYPE = ", ".join((*STORED_TYPES, "*/*"))


def split_reference(reference: str) -> tuple[str, str, str]:
    """`host[:port]/repo[:tag|@digest]` → (host, repository, tag or digest), normalised as Docker does."""
    name = parse_reference(reference)
    return name.host, name.repository, name.ref


class DeletionDisabled(RegistryError):
    """The registry does not allow deleting manifests (distribution's `storage.delete.enabled` is false)."""


class Registry(Protocol):
    """What the engine needs from a registry (RegistryClient, or a fake in unit tests)."""

    requests: Counter[str]

    def manifest(self, reference: str) -> Manifest | None:
        """The manifest at reference, or None."""

    def digest(self, reference: str) -> str | None:
        """The digest reference points to, or None."""

    def tag(self, source: str, target: str) -> str:
        """Point target at the manifest source; return its digest."""


class RegistryClient:
    """The distribution API over HTTPS (plain HTTP for loopback and insecure registries), logged in.

    Requests go through one RegistrySession: transient failures (5xx, 429, resets, timeouts) are
    retried with jittered exponential backoff, honouring Retry-After; 404 means "not there"; 401,
    403, TLS failures and a refused connection are definitive and say how to fix them.
    """

    def __init__(self, timeout_s: float = 10.0, attempts: int = 8) -> None:
        self._session = RegistrySession(timeout_s, attempts)
        self.requests: Counter[str] = self._session.requests
        self._memo = ManifestMemo()  # manifests by digest: the layer check and the content tag read one

    def manifest(self, reference: str) -> Manifest | None:
        """The manifest at reference, or None when the registry does not have it."""
        return self._manifest(parse_reference(reference))

    def digest(self, reference: str) -> str | None:
        """The digest reference points to: one HEAD, plus a GET hashed when the HEAD omits the digest."""
        name = parse_reference(reference)
        response = self._call("HEAD", name)
        if response is None:
            return None
        if response.headers.get("docker-content-digest"):
            return header_digest(response, name)
        if name.digest:
            return name.digest
        response = self._call("GET", name)
        return None if response is None else sha256(response.body)

    def image_config(self, reference: str, platform: str = "linux/amd64") -> dict[str, Any] | None:
        """The image config (labels under config.Labels) of one platform of reference, or None."""
        manifest = self.manifest(reference)
        if manifest is None:
            return None
        name = parse_reference(reference)
        if manifest.is_index:
            digest = manifest.platforms().get(platform)
            manifest = self._manifest(name.with_ref(digest)) if digest else None
            if manifest is None:
                return None
        config = name.with_ref(manifest.config_digest())
        response = self._call("GET", config, kind="blobs")
        return None if response is None else json_body(reference, as_named(config, response.body, "config"))

    def blob(self, reference: str) -> bytes | None:
        """The blob at repository@digest (checked against its digest), or None when it is not there."""
        name = parse_reference(reference)
        response = self._call("GET", name, kind="blobs")
        if response is None:
            return None
        return as_named(name, response.body, "blob")

    def tag(self, source: str, target: str) -> str:
        """Point target (repository:tag) at the manifest source (repository@digest); same repository."""
        response = self._call("GET", parse_reference(source))
        if response is None:
            raise RegistryError(f"cannot tag {target}: {source} is not in the registry",
                                "build it again; the registry may have been cleaned")
        media_type = response.headers.get("content-type", "")
        if self._call("PUT", parse_reference(target), response.body, {"Content-Type": media_type}) is None:
            raise RegistryError(f"the registry refused to tag {target} (404: repository unknown)",
                                "check the registry prefix")
        return sha256(response.body)

    def put_blob(self, repository: str, body: bytes) -> str:
        """Upload body as a blob of repository (host/name) in one request; its digest."""
        name, digest = parse_reference(repository), sha256(body)
        scope, endpoint = f"repository:{name.repository}:pull,push", endpoint_for(name.api_host)
        headers = {"Content-Type": "application/octet-stream"}
        path = f"/v2/{name.repository}/blobs/uploads/?digest={digest}"
        response = self._session.request(endpoint, "POST", path, scope, body, headers)
        if response is not None and response.status == 202:  # no one-request upload: PUT it
            location = urllib.parse.urlsplit(response.headers.get("location", ""))
            query = f"{location.query}&" if location.query else ""
            path = f"{location.path}?{query}digest={urllib.parse.quote(digest)}"
            response = self._session.request(endpoint, "PUT", path, scope, body, headers)
        if response is None:
            raise RegistryError(f"the registry refused a blob of {repository}", "check the registry prefix")
        return digest

    def put_manifest(self, reference: str, body: bytes, media_type: str) -> str:
        """Store a manifest or index at reference (a tag or its digest); its digest."""
        if self._call("PUT", parse_reference(reference), body, {"Content-Type": media_type}) is None:
            raise RegistryError(f"the registry refused the manifest {reference}", "check the registry prefix")
        return sha256(body)

    def delete_manifest(self, reference: str) -> bool:
        """Delete the manifest at repository@digest, and so every tag on it; False when it was already gone
        (404 MANIFEST_UNKNOWN, as manifest_gone rules: any other 404 is a RegistryError).

        DeletionDisabled when the registry does not allow deleting (distribution answers 405)."""
        name = parse_reference(reference)
        if not name.digest:
            raise ValueError(f"{reference}: manifests are deleted by digest (a tag would delete its digest)")
        path, scope = f"/v2/{name.repository}/manifests/{name.digest}", f"repository:{name.repository}:delete"
        endpoint = endpoint_for(name.api_host)
        try:
            response = self._session.request(endpoint, "DELETE", path, scope, keep_404=True)
        except RegistryRefusal as exc:
            if exc.status != 405:
                raise
            raise DeletionDisabled(
                f"{name.host} does not allow deleting manifests: {exc.message}",
                "enable deletion in the registry's configuration and restart it; distribution: "
                "`storage: delete: enabled: true` in config.yml, or REGISTRY_STORAGE_DELETE_ENABLED=true") \
                from None
        if response is None or response.status != 404:
            return response is not None
        if _manifest_unknown(response.body):
            return False
        said = error_detail(response.body) or "no registry error in the answer"
        raise RegistryError(f"DELETE {endpoint.base_url}{redact(path)}: HTTP 404 ({said}), not "
                            "MANIFEST_UNKNOWN: the manifest is not known to be gone",
                            "check the registry prefix (NAME_UNKNOWN: the registry has no such repository) "
                            "and any proxy in front of the registry")

    def manifest_gone(self, reference: str) -> bool:
        """Whether the registry says the manifest at repository@digest is not there: a GET (past the
        memo) answered 404 MANIFEST_UNKNOWN. Any other 404 (a proxy's page, another code) is no proof:
        False, as is an answer with the manifest; other failures raise RegistryError."""
        name = parse_reference(reference)
        if not name.digest:
            raise ValueError(f"{reference}: only a digest says which manifest is gone")
        path, scope = f"/v2/{name.repository}/manifests/{name.digest}", f"repository:{name.repository}:pull"
        response = self._session.request(endpoint_for(name.api_host), "GET", path, scope,
                                         headers={"Accept": EVERY_MANIFEST_TYPE}, keep_404=True)
        if response is None or response.status != 404:
            return False
        if not _manifest_unknown(response.body):
            log.warning("manifest_404_unclear", node="*", ref=reference,
                        reason="the 404 does not say MANIFEST_UNKNOWN; taken as still there")
            return False
        return True

    def repositories(self, host: str) -> list[str] | None:
        """Every repository of host from `/v2/_catalog`, or None when the registry does not offer it."""
        try:
            found = listings.pages(self._session, host, f"/v2/_catalog?n={PAGE}", "repositories",
                                   "registry:catalog:*")
        except RegistryRefusal as exc:
            if exc.status in (401, 403, 405):
                return None
            raise
        return found

    def tags(self, repository: str) -> list[str]:
        """Every tag of repository (host/name), `tags/list` followed across pages; [] when unknown."""
        name = parse_reference(repository)
        path = f"/v2/{name.repository}/tags/list?n={PAGE}"
        scope = f"repository:{name.repository}:pull"
        return listings.pages(self._session, name.api_host, path, "tags", scope) or []

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()

    def _manifest(self, name: ImageName) -> Manifest | None:
        response = self._call("GET", name)
        if response is None:
            return None
        body = as_named(name, response.body, "manifest")
        digest = header_digest(response, name) or name.digest or sha256(body)
        return Manifest(digest, response.headers.get("content-type", ""), json_body(str(name), body))

    def _call(self, method: str, name: ImageName, body: bytes | None = None,
              headers: dict[str, str] | None = None, kind: str = "manifests") -> Response | None:
        if method == "GET" and kind == "manifests":  # by digest: read once (ManifestMemo)
            return self._memo.read(name, lambda: self._call_registry(method, name, body, headers, kind))
        return self._call_registry(method, name, body, headers, kind)

    def _call_registry(self, method: str, name: ImageName, body: bytes | None,
                       headers: dict[str, str] | None, kind: str) -> Response | None:
        path = f"/v2/{name.repository}/{kind}/{name.ref}"
        scope = f"repository:{name.repository}:{'pull,push' if method == 'PUT' else 'pull'}"
        if name.is_docker_hub and method in ("GET", "HEAD"):
            for url in mirrors():
                try:
                    found = self._session.request(mirror_endpoint(url), method, path, scope, body, headers)
                except RegistryError as exc:
                    log.warning("registry_mirror_failed", mirror=redact(url), reason=redact(str(exc)))
                    continue
                if found is not None:
                    return found
        return self._session.request(endpoint_for(name.api_host), method, path, scope, body, headers)


def _manifest_unknown(body: bytes) -> bool:
    """Whether a 404's body is distribution's MANIFEST_UNKNOWN for a manifest it does not have (not the
    same code's "... found, but accept header does not support ..." for one it has)."""
    try:
        errors = json.loads(body[:64 * 1024]).get("errors")
    except (ValueError, AttributeError, RecursionError):
        return False
    first = errors[0] if isinstance(errors, list) and errors else None
    return isinstance(first, dict) and first.get("code") == "MANIFEST_UNKNOWN" \
        and " found" not in str(first.get("message") or "")
