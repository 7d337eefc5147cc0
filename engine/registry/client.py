"""The one registry client every command uses: manifests, digests, tags, configs and listings.

Names are normalised as Docker does (engine.registry.names), credentials read as Docker reads them
(credentials), tokens fetched per scope (auth), TLS set up from certs.d (endpoints), Docker Hub
names pulled through the daemon's mirrors when it has some.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from collections import Counter
from typing import Any, Protocol

import structlog

from engine.errors import RegistryError
from engine.registry.endpoints import endpoint_for, mirror_endpoint, mirrors
from engine.registry.failures import RegistryRefusal, RegistryUnreachable, TransientRegistryError, redact
from engine.registry.manifest import ACCEPT, INDEX_TYPES, MANIFEST_TYPES, Manifest, is_digest, json_object
from engine.registry.memo import ManifestMemo
from engine.registry.names import ImageName, parse_reference
from engine.registry.session import RegistrySession
from engine.registry.transport import Response, next_link

__all__ = ["ACCEPT", "INDEX_TYPES", "MANIFEST_TYPES", "DeletionDisabled", "Manifest", "Registry",
           "RegistryClient", "RegistryRefusal", "RegistryUnreachable", "Response", "TransientRegistryError",
           "next_link", "split_reference"]
log = structlog.get_logger()
PAGE = 1000
MAX_PAGES = 10_000  # of one listing: a registry whose Link headers never end is not followed forever


def split_reference(reference: str) -> tuple[str, str, str]:
    """`host[:port]/repo[:tag|@digest]` → (host, repository, tag or digest), normalised as Docker does."""
    name = parse_reference(reference)
    return name.host, name.repository, name.ref


def _json(url: str, data: bytes) -> dict[str, Any]:
    return json_object(data, url, "the registry answered with something that is not JSON",
                       "the registry answered with a JSON {kind}")


def _names(found: object, where: str, key: str) -> list[str]:
    """The names a listing page holds under key: a list of strings (none when null or absent)."""
    if found is None:
        return []
    if not isinstance(found, list) or not all(isinstance(item, str) for item in found):
        raise RegistryError(f"{where}: `{key}` is not a list of names",
                            "the registry's answer is malformed; check the registry")
    return found


def _next_page(host: str, path: str, link: str) -> str:
    """The path of the page a Link target names: relative to path, or an absolute URL on host itself."""
    target = urllib.parse.urlsplit(urllib.parse.urljoin(path, link))
    if target.scheme not in ("", "http", "https") or target.netloc not in ("", host):
        raise RegistryError(f"{host}{redact(path)}: the next page is on another server ({redact(link)})",
                            "check the registry (its Link header leaves it)")
    return (target.path or "/") + (f"?{target.query}" if target.query else "")


def _header_digest(response: Response, name: ImageName) -> str:
    """The answer's Docker-Content-Digest ('' without one); RegistryError when it is not a digest."""
    found = response.headers.get("docker-content-digest", "")
    if found and not is_digest(found):
        raise RegistryError(f"{name}: the registry's Docker-Content-Digest {redact(found)[:100]!r} is not "
                            "a digest", "check the registry (or a proxy in front of it)")
    return found


def _as_named(name: ImageName, body: bytes, what: str) -> bytes:
    """body, fetched by name; RegistryError when name has a sha256 digest the body does not hash to."""
    if name.digest.startswith("sha256:") and _sha256(body) != name.digest:
        raise RegistryError(f"{name}: the {what}'s content does not match its digest",
                            "the registry (or a proxy in front of it) altered it")
    return body


def _sha256(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


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
            return _header_digest(response, name)
        if name.digest:
            return name.digest
        response = self._call("GET", name)
        return None if response is None else _sha256(response.body)

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
        return None if response is None else _json(reference, _as_named(config, response.body, "config"))

    def blob(self, reference: str) -> bytes | None:
        """The blob at repository@digest (checked against its digest), or None when it is not there."""
        name = parse_reference(reference)
        response = self._call("GET", name, kind="blobs")
        if response is None:
            return None
        return _as_named(name, response.body, "blob")

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
        return _sha256(response.body)

    def put_blob(self, repository: str, body: bytes) -> str:
        """Upload body as a blob of repository (host/name) in one request; its digest."""
        name, digest = parse_reference(repository), _sha256(body)
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
        return _sha256(body)

    def delete_manifest(self, reference: str) -> bool:
        """Delete the manifest at repository@digest, and so every tag on it; False when it was already gone.

        DeletionDisabled when the registry does not allow deleting (distribution answers 405)."""
        name = parse_reference(reference)
        if not name.digest:
            raise ValueError(f"{reference}: manifests are deleted by digest (a tag would delete its digest)")
        path, scope = f"/v2/{name.repository}/manifests/{name.digest}", f"repository:{name.repository}:delete"
        try:
            return self._session.request(endpoint_for(name.api_host), "DELETE", path, scope) is not None
        except RegistryRefusal as exc:
            if exc.status != 405:
                raise
            raise DeletionDisabled(
                f"{name.host} does not allow deleting manifests: {exc.message}",
                "enable deletion in the registry's configuration and restart it; distribution: "
                "`storage: delete: enabled: true` in config.yml, or REGISTRY_STORAGE_DELETE_ENABLED=true") \
                from None

    def repositories(self, host: str) -> list[str] | None:
        """Every repository of host from `/v2/_catalog`, or None when the registry does not offer it."""
        try:
            found = self._pages(host, f"/v2/_catalog?n={PAGE}", "repositories", "registry:catalog:*")
        except RegistryRefusal as exc:
            if exc.status in (401, 403, 405):
                return None
            raise
        return found

    def tags(self, repository: str) -> list[str]:
        """Every tag of repository (host/name), `tags/list` followed across pages; [] when unknown."""
        name = parse_reference(repository)
        path = f"/v2/{name.repository}/tags/list?n={PAGE}"
        return self._pages(name.api_host, path, "tags", f"repository:{name.repository}:pull") or []

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()

    def _manifest(self, name: ImageName) -> Manifest | None:
        response = self._call("GET", name)
        if response is None:
            return None
        body = _as_named(name, response.body, "manifest")
        digest = _header_digest(response, name) or name.digest or _sha256(body)
        return Manifest(digest, response.headers.get("content-type", ""), _json(str(name), body))

    def _pages(self, host: str, path: str, key: str, scope: str) -> list[str] | None:
        """The list under key of every page, following `Link: <…>; rel="next"`; None for a 404."""
        items: list[str] = []
        seen: set[str] = set()
        next_path: str | None = path
        while next_path and next_path not in seen:
            seen.add(next_path)
            response = self._session.request(endpoint_for(host), "GET", next_path, scope)
            if response is None:
                return items if items else None
            where = f"{host}{redact(next_path)}"
            items += _names(_json(where, response.body).get(key), where, key)
            link = next_link(response.headers.get("link", ""))
            next_path = _next_page(host, next_path, link) if link else None
            if len(seen) >= MAX_PAGES and next_path:
                raise RegistryError(f"{host}{redact(path)}: the listing goes on for more than "
                                    f"{MAX_PAGES} pages", "check the registry (its Link headers never end)")
        return items

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
