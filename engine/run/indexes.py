"""What a tag of a repository points to, read for `stackbuild prune`: its manifest and everything its index
refers to, nested indexes too; a nested index that cannot be read stops prune when something kept holds it."""

from __future__ import annotations

from collections.abc import Sequence

from engine.errors import EngineError, RegistryError
from engine.registry.client import INDEX_TYPES, STORED_TYPES, Manifest, RegistryClient
from engine.run.retention import Keep, Listed, Verdict, kept_missing

NESTING = 8  # indexes within indexes prune follows; a deeper one stops it (what it refers to is unknown)


class PruneError(EngineError):
    """What prune must keep cannot be known: it deletes nothing."""


def listed_tag(registry: RegistryClient, repository: str, tag: str) -> Listed | None:
    """What tag points to, and everything it refers to; None when it went away since the listing."""
    manifest = registry.manifest(f"{repository}:{tag}")
    if manifest is None:
        return None
    missing: list[str] = []
    children = _referred(registry, repository, tag, manifest, missing)
    return Listed(tag, manifest.digest, tuple(dict.fromkeys(children)), tuple(dict.fromkeys(missing)))


def _referred(registry: RegistryClient, repository: str, tag: str, manifest: Manifest, missing: list[str],
              depth: int = 0) -> list[str]:
    """The manifests an index refers to, and those its nested indexes refer to, each nested index after
    what it refers to (the order its untagged manifests are deleted in); [] for an image. Blobs an index
    lists (a layer cache's layers and cache config) are no manifests: left out. A nested index the
    registry does not have goes to missing (whether that matters depends on whether tag stays)."""
    if not manifest.is_index:
        return []
    if depth >= NESTING:
        raise PruneError(f"{repository}@{manifest.digest} nests indexes deeper than {NESTING}: what it "
                         f"refers to is unknown, so prune stopped before deleting anything of {repository}",
                         "check what pushed that index")
    found = []
    for entry in manifest.descriptors("manifests"):
        media_type = entry.get("mediaType")
        if media_type is not None and media_type not in STORED_TYPES:
            continue
        if media_type in INDEX_TYPES:
            nested = _nested(registry, repository, tag, entry["digest"])
            found += _referred(registry, repository, tag, nested, missing, depth + 1) if nested else []
            missing += [] if nested else [entry["digest"]]
        found.append(entry["digest"])
    return found


def _nested(registry: RegistryClient, repository: str, tag: str, digest: str) -> Manifest | None:
    """The nested index at digest, None when the registry does not have it; PruneError when reading
    it fails (what it refers to is unknown: a stale index's could not be deleted whole either)."""
    try:
        return registry.manifest(f"{repository}@{digest}")
    except RegistryError as exc:
        raise PruneError(f"cannot read {repository}@{digest}, which tag {tag} refers to: {exc.message}; "
                         f"what it refers to is unknown, so prune stopped before deleting anything of "
                         f"{repository}", "run prune again once the registry answers; if that index is "
                         f"damaged, push the image again, or delete tag {tag} by hand") from exc


def stop_if_unreadable(repository: str, listed: Sequence[Listed], verdicts: Sequence[Verdict],
                       keep: Keep) -> None:
    """PruneError when a nested index the registry does not have is one something kept refers to: what
    it refers to is unknown, so a stale index sharing it could take it (under a stale tag it is fine:
    an interrupted prune leaves that)."""
    found = kept_missing(listed, verdicts, keep)
    if found:
        digest, tag, why = found[0]
        raise PruneError(f"cannot read {repository}@{digest}: the registry does not have that index, which "
                         f"must stay ({why}); what it refers to is unknown and could go with a stale index "
                         f"sharing it, so prune stopped before deleting anything of {repository}",
                         f"push that image again so its index is whole, or, if tag {tag} is broken, delete "
                         "it by hand; then run prune again")
