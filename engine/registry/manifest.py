"""Manifests and indexes as the distribution API returns them, and the media types asked for."""

from __future__ import annotations

import json
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


def json_object(data: bytes, where: str, not_json: str, not_object: str) -> dict[str, Any]:
    """data as a JSON object, else RegistryError `where: not_json` or `where: not_object` ({kind}: type)."""
    try:
        parsed = json.loads(data)
    except ValueError:
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
