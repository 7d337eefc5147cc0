"""attestations: statements that name the retry proxy are stored again naming the real registry."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from engine.registry.attestations import IN_TOTO, AttestationStore, rename_attestations, renamed
from engine.registry.manifest import Manifest

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
REPO = "localhost:5000/demo/root"


def sha(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


class Store:
    """An in-memory registry of one repository: manifests by digest and tag, blobs by digest."""

    def __init__(self) -> None:
        self.manifests: dict[str, tuple[bytes, str]] = {}
        self.blobs: dict[str, bytes] = {}
        self.puts: list[str] = []

    def add_manifest(self, document: dict[str, Any], media_type: str) -> tuple[str, int]:
        body = json.dumps(document).encode()
        self.manifests[sha(body)] = (body, media_type)
        return sha(body), len(body)

    def manifest(self, reference: str) -> Manifest | None:
        key = reference.rsplit("@", 1)[1] if "@" in reference else reference.rsplit(":", 1)[1]
        found = self.manifests.get(key)
        return None if found is None else Manifest(sha(found[0]), found[1], json.loads(found[0]))

    def blob(self, reference: str) -> bytes | None:
        return self.blobs.get(reference.rsplit("@", 1)[1])

    def put_blob(self, repository: str, body: bytes) -> str:
        assert repository == REPO
        self.puts.append("blob")
        self.blobs[sha(body)] = body
        return sha(body)

    def put_manifest(self, reference: str, body: bytes, media_type: str) -> str:
        self.puts.append(reference)
        key = reference.rsplit("@", 1)[1] if "@" in reference else reference.rsplit(":", 1)[1]
        if "@" in reference:
            assert key == sha(body), "a manifest stored by digest must have that digest"
        self.manifests[key] = self.manifests[sha(body)] = (body, media_type)
        return sha(body)


def pushed_index(store: Store, statement: str) -> str:
    """An index of one platform image and its attestation manifest holding statement; its digest."""
    blob = statement.encode()
    store.blobs[sha(blob)] = blob
    image, image_size = store.add_manifest({"layers": [{"digest": "sha256:" + "1" * 64}]}, OCI_MANIFEST)
    attestation, size = store.add_manifest({"layers": [
        {"mediaType": IN_TOTO, "digest": sha(blob), "size": len(blob),
         "annotations": {"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"}}]}, OCI_MANIFEST)
    index, _ = store.add_manifest({"manifests": [
        {"mediaType": OCI_MANIFEST, "digest": image, "size": image_size,
         "platform": {"os": "linux", "architecture": "amd64"}},
        {"mediaType": OCI_MANIFEST, "digest": attestation, "size": size, "platform": {"os": "unknown"},
         "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                         "vnd.docker.reference.digest": image}}]}, OCI_INDEX)
    return index


def test_renamed_covers_plain_and_package_url_spellings() -> None:
    text = "pkg:docker/localhost%3A4711/demo/root@sb-1 docker-image://localhost:4711/demo/root@sha256:x"
    assert renamed(text, "localhost:4711", "localhost:5000") == \
        "pkg:docker/localhost%3A5000/demo/root@sb-1 docker-image://localhost:5000/demo/root@sha256:x"


def test_statements_naming_the_proxy_are_stored_again_under_the_content_tag() -> None:
    store = Store()
    assert isinstance(store, AttestationStore)
    index = pushed_index(store, '{"subject":[{"name":"pkg:docker/localhost%3A4711/demo/root@sb-1"}],'
                                '"materials":["localhost:4711/demo/base"]}')
    new = rename_attestations(store, REPO, "sb-1", index, "localhost:4711", "localhost:5000")
    assert new != index and store.puts[-1] == f"{REPO}:sb-1"
    before, after = store.manifest(f"{REPO}@{index}"), store.manifest(f"{REPO}:sb-1")
    assert before is not None and after is not None and after.digest == new
    assert after.platforms() == before.platforms()  # the platform image is the same, by digest
    attestation = store.manifest(f"{REPO}@{after.body['manifests'][1]['digest']}")
    assert attestation is not None
    statement = store.blobs[attestation.body["layers"][0]["digest"]].decode()
    assert "4711" not in statement and "localhost%3A5000/demo/root" in statement
    assert attestation.body["layers"][0]["annotations"]["in-toto.io/predicate-type"].endswith("v0.2")
    assert after.body["manifests"][1]["annotations"]["vnd.docker.reference.type"] == "attestation-manifest"


def test_an_index_without_the_proxy_name_is_left_as_it_is() -> None:
    store = Store()
    index = pushed_index(store, '{"subject":[{"name":"pkg:docker/localhost%3A5000/demo/root@sb-1"}]}')
    assert rename_attestations(store, REPO, "sb-1", index, "localhost:4711", "localhost:5000") == index
    assert store.puts == []
    image = next(iter(store.manifest(f"{REPO}@{index}").platforms().values()))  # type: ignore[union-attr]
    assert rename_attestations(store, REPO, "sb-1", image, "localhost:4711", "localhost:5000") == image
