"""Manifests and indexes as the distribution API returns them, and the media types asked for."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

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
# the OCI grammar of a digest (algorithm:encoded): what a descriptor's digest must be before it goes in a URL
DIGEST_GRAMMAR = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")


def json_object(data: bytes, where: str, not_json: str, not_object: str) -> dict[str, Any]:
    """data as a JSON object, else RegistryError `where: not_json` or `where: not_object` ({kind}: type)."""
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        raise RegistryError(f"{where}: {not_json}") from None
    if not isinstance(parsed, dict):
        raise RegistryError(f"{where}: {not_object.format(kind=type(parsed).__name__)}")
    return parsed


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
        """Platform → image manifest digest of an index, attestation manifests left out (of two entries
        for one platform the first, the one a runtime pulls)."""
        result: dict[str, str] = {}
        for entry in self.descriptors("manifests"):
            if annotations_of(entry).get("vnd.docker.reference.type") == ATTESTATION:
                continue
            result.setdefault(platform_name(as_object(entry.get("platform"))), entry["digest"])
        return result

    def layers(self) -> list[str]:
        """Layer digests of an image manifest, base first."""
        return [layer["digest"] for layer in self.descriptors("layers")]

    def config_digest(self) -> str:
        """The digest of an image manifest's config."""
        config = as_object(self.body.get("config"))
        if not is_digest(config.get("digest")):
            raise self.malformed("it has no config descriptor with a digest")
        return str(config["digest"])

    def descriptors(self, key: str) -> list[dict[str, Any]]:
        """The descriptors under key (`manifests`, `layers`), each an object with a digest; [] without."""
        found = self.body.get(key)
        if found is None:
            return []
        if not isinstance(found, list) or not all(isinstance(entry, dict) and is_digest(entry.get("digest"))
                                                  for entry in found):
            raise self.malformed(f"its `{key}` is not a list of descriptors with digests")
        return found

    def malformed(self, what: str) -> RegistryError:
        """The error of a manifest the registry answered that is not what the distribution API sends."""
        return RegistryError(f"manifest {self.digest}: {what}",
                             "the registry (or a proxy in front of it) serves a malformed manifest: "
                             "push the image again, or check the registry")


def is_digest(value: object) -> bool:
    """Whether value is a digest as the OCI grammar writes one."""
    return isinstance(value, str) and DIGEST_GRAMMAR.fullmatch(value) is not None


def annotations_of(entry: dict[str, Any]) -> dict[str, Any]:
    """A descriptor's annotations ({} when it has none, or something else)."""
    return as_object(entry.get("annotations"))


def platform_name(fields: dict[str, Any]) -> str:
    """os/architecture[/variant] of an index entry's platform, or of an image config."""
    name = f"{fields.get('os')}/{fields.get('architecture')}"
    return f"{name}/{fields['variant']}" if fields.get("variant") else name


def config_labels(config: object) -> dict[str, Any]:
    """An image config's config.Labels ({} when it has none, or something else where they belong)."""
    return as_object(as_object(as_object(config).get("config")).get("Labels"))


def as_object(value: object) -> dict[str, Any]:
    """value when it is a JSON object, else {} (a registry's answer is read as untrusted)."""
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    """value when it is a JSON array, else []."""
    return value if isinstance(value, list) else []
