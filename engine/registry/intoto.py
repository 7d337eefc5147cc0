"""BuildKit's attestations as a registry stores them: per platform image, in-toto statements.

An index built with attestations lists, beside each platform's image manifest, an "attestation
manifest" (annotation vnd.docker.reference.type) whose layers are in-toto statements, each layer
annotated with its predicate type (in-toto.io/predicate-type).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from engine.errors import RegistryError
from engine.registry.manifest import ATTESTATION, Manifest, annotations_of, as_list, as_object, json_object

SPDX = "https://spdx.dev/Document"
SLSA_PREFIX = "https://slsa.dev/provenance/"
PREDICATE_ANNOTATION = "in-toto.io/predicate-type"
MAX_STATEMENT = 64 * 1024 * 1024


class Reader(Protocol):
    """What reading attestations needs from the registry client."""

    def manifest(self, reference: str) -> Manifest | None: ...

    def blob(self, reference: str) -> bytes | None: ...


@dataclass(frozen=True)
class Statement:
    """One attestation layer: its predicate type and where its statement is stored."""

    predicate_type: str
    digest: str
    size: int


def attestation_manifests(index: Manifest) -> dict[str, str]:
    """Image manifest digest → the digest of the attestation manifest that describes it."""
    found = {}
    for entry in index.descriptors("manifests"):
        annotations = annotations_of(entry)
        if annotations.get("vnd.docker.reference.type") == ATTESTATION:
            found[str(annotations.get("vnd.docker.reference.digest", ""))] = entry["digest"]
    return found


def statements(reader: Reader, repository: str, attestation_digest: str) -> list[Statement]:
    """The statements an attestation manifest lists (not fetched)."""
    manifest = reader.manifest(f"{repository}@{attestation_digest}")
    if manifest is None:
        return []
    layers = manifest.descriptors("layers")
    if not all(type(layer.get("size", 0)) is int and layer.get("size", 0) >= 0 for layer in layers):
        raise manifest.malformed("a layer's size is not a count of bytes")
    return [Statement(str(annotations_of(layer).get(PREDICATE_ANNOTATION, "")), layer["digest"],
                      layer.get("size", 0)) for layer in layers]


def by_platform(reader: Reader, repository: str, index: Manifest) -> dict[str, list[Statement]]:
    """Platform → the statements attached to that platform's image ([] when it has none)."""
    attached = attestation_manifests(index)
    return {platform: statements(reader, repository, attached[digest]) if digest in attached else []
            for platform, digest in index.platforms().items()}


def read(reader: Reader, repository: str, statement: Statement) -> dict[str, Any]:
    """The in-toto statement's JSON."""
    if statement.size > MAX_STATEMENT:
        raise RegistryError(f"{repository}@{statement.digest}: a {statement.size}-byte statement "
                            "is too large")
    body = reader.blob(f"{repository}@{statement.digest}")
    if body is None:
        raise RegistryError(f"{repository}@{statement.digest}: the attestation's statement is missing")
    return json_object(body, f"{repository}@{statement.digest}", "the statement is not JSON",
                       "the statement is not a JSON object")


def material_digests(provenance: dict[str, Any]) -> set[str]:
    """Every sha256 digest a provenance statement names as a material (SLSA v0.2 and v1)."""
    predicate = as_object(provenance.get("predicate"))
    materials = as_list(predicate.get("materials"))
    materials += as_list(as_object(predicate.get("buildDefinition")).get("resolvedDependencies"))
    digests = [item.get("digest") for item in materials if isinstance(item, dict)]
    return {f"sha256:{digest['sha256']}" for digest in digests
            if isinstance(digest, dict) and digest.get("sha256")}


def subject_digests(statement: dict[str, Any]) -> set[str]:
    """Every sha256 digest a statement names as its subject (the image it is about)."""
    digests = [as_object(item).get("digest") for item in as_list(statement.get("subject"))]
    return {f"sha256:{digest['sha256']}" for digest in digests
            if isinstance(digest, dict) and isinstance(digest.get("sha256"), str) and digest["sha256"]}


def sbom_packages(sbom: dict[str, Any]) -> dict[str, str]:
    """Package name → version of an SPDX statement."""
    return {str(package.get("name")): str(package.get("versionInfo", ""))
            for package in as_list(as_object(sbom.get("predicate")).get("packages"))
            if isinstance(package, dict)}

