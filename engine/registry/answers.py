"""A registry's answers checked before use: JSON bodies, Docker-Content-Digest, content against digest."""

from __future__ import annotations

import hashlib
from typing import Any

from engine.errors import RegistryError
from engine.registry.failures import redact
from engine.registry.manifest import is_digest, json_object
from engine.registry.names import ImageName
from engine.registry.transport import Response


def json_body(url: str, data: bytes) -> dict[str, Any]:
    """data as a JSON object; RegistryError naming url otherwise."""
    return json_object(data, url, "the registry answered with something that is not JSON",
                       "the registry answered with a JSON {kind}")


def header_digest(response: Response, name: ImageName) -> str:
    """The answer's Docker-Content-Digest ('' without one); RegistryError when it is not a digest."""
    found = response.headers.get("docker-content-digest", "")
    if found and not is_digest(found):
        raise RegistryError(f"{name}: the registry's Docker-Content-Digest {redact(found)[:100]!r} is not "
                            "a digest", "check the registry (or a proxy in front of it)")
    return found


def as_named(name: ImageName, body: bytes, what: str) -> bytes:
    """body, fetched by name; RegistryError when name has a sha256 digest the body does not hash to."""
    if name.digest.startswith("sha256:") and sha256(body) != name.digest:
        raise RegistryError(f"{name}: the {what}'s content does not match its digest",
                            "the registry (or a proxy in front of it) altered it")
    return body


def sha256(body: bytes) -> str:
    """body's sha256 digest (sha256:<hex>)."""
    return "sha256:" + hashlib.sha256(body).hexdigest()
