"""Reading BuildKit's provenance attestations back from a registry (shared by integration tests)."""

from __future__ import annotations

import json
from typing import Any

from engine.registry.client import RegistryClient


def statements(client: RegistryClient, ref: str) -> dict[str, dict[str, Any]]:
    """Platform → the SLSA provenance statement attached to that platform's image in the index at ref."""
    index = client.manifest(ref)
    assert index is not None and index.is_index, ref
    repository = ref.rsplit(":", 1)[0] if "@" not in ref else ref.split("@", 1)[0]
    by_digest = {digest: platform for platform, digest in index.platforms().items()}
    found = {}
    for entry in index.body["manifests"]:
        annotations = entry.get("annotations", {})
        if annotations.get("vnd.docker.reference.type") != "attestation-manifest":
            continue
        manifest = client.manifest(f"{repository}@{entry['digest']}")
        assert manifest is not None
        for layer in manifest.body["layers"]:
            if "provenance" in layer.get("annotations", {}).get("in-toto.io/predicate-type", ""):
                blob = client.blob(f"{repository}@{layer['digest']}")
                assert blob is not None
                found[by_digest[annotations["vnd.docker.reference.digest"]]] = json.loads(blob)
    return found
