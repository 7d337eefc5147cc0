"""The in-memory registry prune needs: tag listings, deletion by digest, attestation manifests."""

from __future__ import annotations

import json

from engine.registry.client import DeletionDisabled
from tests.engine.engine_fakes import OCI_INDEX, FakeRegistry, canonical, repository_of


class Prunable(FakeRegistry):
    """The in-memory registry with tag listings and deletion by digest (refused for `refused`)."""

    def __init__(self, refused: str = "") -> None:
        super().__init__()
        self.refused, self.deleted = refused, list[str]()

    def tags(self, refs):  # type: ignore[no-untyped-def, override]
        if not isinstance(refs, str):
            return super().tags(refs)
        return sorted(ref.rpartition(":")[2] for ref in self.refs if repository_of(ref) == refs)

    def delete_manifest(self, reference: str) -> bool:
        repository, _, digest = reference.partition("@")
        if digest == self.refused:
            raise DeletionDisabled(f"refused to delete {reference}", "enable deletion")
        with self.lock:
            self.deleted.append(reference)
            for ref in [ref for ref, at in self.refs.items() if at == digest]:
                if repository_of(ref) == repository:
                    del self.refs[ref]
            there = reference in self.stored
            self.stored.discard(reference)
        return there

    def push_image(self, reference: str, layers: dict[str, list[str]]) -> str:
        """An index and its platform images, and, as a real registry holds them, its attestation manifests."""
        digest = super().push_image(reference, layers)
        with self.lock:
            index = json.loads(self.bodies[digest][1])
            self.stored.update(f"{repository_of(reference)}@{entry['digest']}"
                               for entry in index["manifests"])
        return digest

    def manifest_gone(self, reference: str) -> bool:
        with self.lock:
            self.requests["GET"] += 1
            return reference not in self.stored

    def put(self, reference: str, document: dict, media_type: str = OCI_INDEX) -> str:
        """Store document as a manifest at reference (a tag, or the bare repository: untagged); its digest."""
        with self.lock:
            repository = repository_of(reference) if ":" in reference.rpartition("/")[2] else reference
            digest = self._store(repository, media_type, canonical(document))
            if repository != reference:
                self.refs[reference] = digest
        return digest
