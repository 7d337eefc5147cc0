"""What a tag of a repository points to, read for `stackbuild prune`: its manifest and everything its index
refers to, nested indexes too, and the same for the indexes kept lockfiles record that no tag points to; a
nested index that cannot be read stops prune when something kept holds it, and so does a kept index."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import structlog

from engine.errors import EngineError, RegistryError
from engine.parallel import side_by_side
from engine.registry.client import INDEX_TYPES, STORED_TYPES, Manifest, RegistryClient
from engine.run.retention import PROTECTED, Keep, Listed, Verdict, Why, kept_missing

log = structlog.get_logger()

NESTING = 8  # indexes within indexes prune follows; a deeper one stops it (what it refers to is unknown)


class PruneError(EngineError):
    """What prune must keep cannot be known: it deletes nothing."""


def listed_tag(registry: RegistryClient, repository: str, tag: str) -> Listed | None:
    """What tag points to, and everything it refers to; None when it went away since the listing."""
    manifest = registry.manifest(f"{repository}:{tag}")
    if manifest is None:
        return None
    missing: list[str] = []
    children = _referred(registry, repository, f"tag {tag}", manifest, missing)
    return Listed(tag, manifest.digest, tuple(dict.fromkeys(children)), tuple(dict.fromkeys(missing)))


def _referred(registry: RegistryClient, repository: str, holder: str, manifest: Manifest, missing: list[str],
              depth: int = 0) -> list[str]:
    """The manifests an index refers to, and those its nested indexes refer to, each nested index after
    what it refers to (the order its untagged manifests are deleted in); [] for an image. Blobs an index
    lists (a layer cache's layers and cache config) are no manifests: left out. A nested index the
    registry does not have goes to missing (whether that matters depends on whether its holder, the tag
    or kept index read, stays)."""
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
            nested = _nested(registry, repository, holder, entry["digest"])
            found += _referred(registry, repository, holder, nested, missing, depth + 1) if nested else []
            missing += [] if nested else [entry["digest"]]
        found.append(entry["digest"])
    return found


def _nested(registry: RegistryClient, repository: str, holder: str, digest: str) -> Manifest | None:
    """The nested index at digest, None when the registry does not have it; PruneError when reading
    it fails (what it refers to is unknown: a stale index's could not be deleted whole either)."""
    try:
        return registry.manifest(f"{repository}@{digest}")
    except RegistryError as exc:
        raise _unreadable(f"{repository}@{digest}", f"which {holder} refers to", repository, exc,
                          "run prune again once the registry answers; if that index is damaged, push the "
                          f"image again, or delete {holder} by hand") from exc


def with_recorded(registry: RegistryClient, repository: str, listed: Sequence[Listed], keep: Keep) -> Keep:
    """keep, and everything the indexes kept lockfiles record in repository refer to, nested indexes too
    (one GET per index no tag points to, side by side; a tag's is read already and stays with it)."""
    held = {item.digest for item in listed}
    unread = sorted(keep.recorded.get(repository, frozenset()) - held)
    found = side_by_side(lambda digest: _recorded(registry, repository, digest, keep.digests[digest]), unread)
    under = {child: Why(PROTECTED, f"kept index {digest[:19]}… refers to it ({keep.digests[digest].text})")
             for digest, children in zip(unread, found, strict=True) for child in children}
    return replace(keep, digests={**under, **keep.digests}) if under else keep


def _recorded(registry: RegistryClient, repository: str, digest: str, why: Why) -> list[str]:
    """What the manifest a kept lockfile records refers to ([] for an image, and for one the registry no
    longer has: nothing can be pulled through it); PruneError when it, or a nested index, cannot be read."""
    reference = f"{repository}@{digest}"
    try:
        manifest = registry.manifest(reference)
    except RegistryError as exc:
        raise _unreadable(reference, f"kept ({why.text})", repository, exc,
                          "run prune again once the registry answers") from exc
    if manifest is None:
        log.warning("prune_recorded_gone", node="*", ref=reference, kept=why.text,
                    reason="a kept lockfile records it, but the registry no longer has it: "
                           "nothing under it is kept for it")
        return []
    missing: list[str] = []
    holder = f"the index {digest} ({why.text})"
    children = _referred(registry, repository, holder, manifest, missing)
    if missing:
        raise _missing(repository, missing[0], f"{holder} refers to it", f"the index {digest}")
    return children


def stop_if_unreadable(repository: str, listed: Sequence[Listed], verdicts: Sequence[Verdict],
                       keep: Keep) -> None:
    """PruneError when a nested index the registry does not have is one something kept refers to: what
    it refers to is unknown, so a stale index sharing it could take it (under a stale tag it is fine:
    an interrupted prune leaves that)."""
    found = kept_missing(listed, verdicts, keep)
    if found:
        digest, tag, why = found[0]
        raise _missing(repository, digest, why, f"tag {tag}")


def _unreadable(reference: str, why: str, repository: str, exc: RegistryError, hint: str) -> PruneError:
    """Reading reference (why: what refers to it, or why it is kept) failed: what it refers to is unknown."""
    return PruneError(f"cannot read {reference}, {why}: {exc.message}; what it refers to is unknown, so "
                      f"prune stopped before deleting anything of {repository}", hint)


def _missing(repository: str, digest: str, why: str, broken: str) -> PruneError:
    """A nested index that must stay (why) is not in the registry; broken: what to delete by hand."""
    return PruneError(f"cannot read {repository}@{digest}: the registry does not have that index, which "
                      f"must stay ({why}); what it refers to is unknown and could go with a stale index "
                      f"sharing it, so prune stopped before deleting anything of {repository}",
                      f"push that image again so its index is whole, or, if {broken} is broken, delete "
                      "it by hand; then run prune again")
