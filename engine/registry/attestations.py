"""Attestations pushed through the run's retry proxy, renamed to the real registry afterwards.

BuildKit names an attestation's subject after the tag it pushed (`localhost:<proxy port>/repo:tag`)
and its materials after the images it pulled, and in `mode=max` records the build's contexts: all of
them say the proxy's address when the push went through it. That address is gone after the run, so
each in-toto statement is rewritten to the real registry host, stored as a new blob, and the
attestation manifests and the index are stored again. The platform images are not touched: their
digests, which the statements' subjects name, stay the same.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Protocol, runtime_checkable

from engine.errors import RegistryError
from engine.parallel import side_by_side
from engine.registry.manifest import ATTESTATION, Manifest, annotations_of

RENAME_THREADS = 4  # attestation manifests renamed at once

IN_TOTO = "application/vnd.in-toto+json"


@runtime_checkable
class AttestationStore(Protocol):
    """The registry calls the rename needs (RegistryClient has them)."""

    def manifest(self, reference: str) -> Manifest | None:
        """The manifest at reference, or None."""

    def blob(self, reference: str) -> bytes | None:
        """The blob at repository@digest, or None."""

    def put_blob(self, repository: str, body: bytes) -> str:
        """Store a blob; its digest."""

    def put_manifest(self, reference: str, body: bytes, media_type: str) -> str:
        """Store a manifest at reference; its digest."""


def renamed(text: str, old_host: str, new_host: str) -> str:
    """text with old_host (as written, and percent-encoded as in a package URL) replaced by new_host."""
    for old, new in ((old_host, new_host), (old_host.replace(":", "%3A"), new_host.replace(":", "%3A")),
                     (old_host.replace(":", "%3a"), new_host.replace(":", "%3A"))):
        text = text.replace(old, new)
    return text


def rename_attestations(store: AttestationStore, repository: str, tag: str, digest: str,
                        old_host: str, new_host: str) -> str:
    """Rewrite old_host to new_host in every attestation of the index repository@digest, store the
    result under repository:tag and return its digest (digest itself when nothing named old_host)."""
    index = store.manifest(f"{repository}@{digest}")
    if index is None or not index.is_index:
        return digest
    old_entries = index.descriptors("manifests")
    # one attestation per platform, each a GET, a GET, a PUT and a PUT: side by side
    entries = side_by_side(lambda entry: _renamed_entry(store, repository, entry, old_host, new_host),
                           old_entries, RENAME_THREADS)
    changed = any(new is not old for new, old in zip(entries, old_entries, strict=True))
    if not changed:
        return digest
    body = _dump({**index.body, "manifests": entries})
    return store.put_manifest(f"{repository}:{tag}", body, index.media_type)


def _renamed_entry(store: AttestationStore, repository: str, entry: dict[str, Any], old_host: str,
                   new_host: str) -> dict[str, Any]:
    """The index entry of an attestation manifest pointing at its renamed copy (entry itself if unchanged)."""
    if annotations_of(entry).get("vnd.docker.reference.type") != ATTESTATION:
        return entry
    manifest = store.manifest(f"{repository}@{entry['digest']}")
    if manifest is None:
        return entry
    layers, changed = [], False
    for layer in manifest.descriptors("layers"):
        blob = store.blob(f"{repository}@{layer['digest']}") if layer.get("mediaType") == IN_TOTO else None
        text = _text(blob, f"{repository}@{layer['digest']}") if blob is not None else ""
        new_text = renamed(text, old_host, new_host)
        if blob is None or new_text == text:
            layers.append(layer)
            continue
        new_blob = new_text.encode("utf-8")
        layers.append({**layer, "digest": store.put_blob(repository, new_blob), "size": len(new_blob)})
        changed = True
    if not changed:
        return entry
    body = _dump({**manifest.body, "layers": layers})
    new_digest = store.put_manifest(f"{repository}@{_digest_of(body)}", body, manifest.media_type)
    return {**entry, "digest": new_digest, "size": len(body)}


def _text(blob: bytes, where: str) -> str:
    """An in-toto statement's text; RegistryError when it is not UTF-8 (as JSON is)."""
    try:
        return blob.decode("utf-8")
    except UnicodeDecodeError:
        raise RegistryError(f"{where}: the attestation's statement is not UTF-8 text",
                            "the registry (or a proxy in front of it) altered it; build the image again"
                            ) from None


def _dump(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


def _digest_of(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()
