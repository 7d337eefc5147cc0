"""A rollback (`promote LOCKFILE`) keeps every child on its parent's published image.

Each image names the parent it was built on in its labels (base.name: the parent's human tag,
base.digest: its digest then). Before a tag moves, every pair where the child's or the parent's tag
would move is compared: the parent's tag after the rollback must point at that digest, or at an image
whose layers the child's start with on every platform (a parent whose attestations were rewritten).
Children outside the lockfile are those STATE/latest.lock.json records as published.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.parallel import side_by_side
from engine.registry.client import Registry
from engine.registry.names import parse_reference
from engine.run.layers import LayerPrefixError, LayerReader
from engine.run.ownership import ConfigReader
from engine.state.lockfile import LockEntry

BASE_NAME = "org.opencontainers.image.base.name"
BASE_DIGEST = "org.opencontainers.image.base.digest"
HINT = ("promote a lockfile that also holds those parents and children, such as the lock.json of a run "
        "that published them together, or build them again; no tag was moved")


@dataclass(frozen=True)
class Pushed:
    """One image as it stands (or will stand) at a tag, and the parent its labels name."""

    node: str
    ref: str
    digest: str
    platforms: tuple[str, ...]
    parent_ref: str = ""
    parent_digest: str = ""

    @property
    def repository(self) -> str:
        """The ref without its tag."""
        return str(parse_reference(self.ref).base)


def verify_rollback(entries: Sequence[LockEntry], published: Sequence[LockEntry], registry: Registry,
                    reader: ConfigReader) -> dict[str, str | None]:
    """LayerPrefixError naming every child that would not rest on its parent's image once the entries'
    tags moved (nothing moves then); published: what STATE/latest.lock.json records.

    Returns the digest each entry's tag points at now (None where there is no tag)."""
    locked = {entry.ref: entry for entry in entries}
    now = dict(zip(locked, side_by_side(registry.digest, list(locked)), strict=True))
    moving = {ref for ref, entry in locked.items() if now[ref] != entry.digest}
    if moving:
        _compare(entries, published, moving, registry, reader)
    return now


def _compare(entries: Sequence[LockEntry], published: Sequence[LockEntry], moving: set[str],
             registry: Registry, reader: ConfigReader) -> None:
    """Raise LayerPrefixError when a child whose or whose parent's tag is moving would not rest on the
    parent's image."""
    locked = {entry.ref: entry for entry in entries}
    outside = [entry for entry in published if entry.ref not in locked and not entry.base]
    images = side_by_side(lambda item: _labelled(*item, registry, reader),
                          [*((entry, entry.digest) for entry in entries if not entry.base),
                           *((entry, "") for entry in outside)])
    pairs = [image for image in images if image is not None and image.parent_ref
             and (image.ref in moving or image.parent_ref in moving)]
    final = {ref: entry.digest for ref, entry in locked.items()}
    for ref in sorted({image.parent_ref for image in pairs} - set(final)):
        final[ref] = registry.digest(ref) or ""
    layers = LayerReader(registry)
    problems = [problem for image in pairs if (problem := _problem(image, final[image.parent_ref], layers))]
    if problems:
        raise LayerPrefixError("not promoted: " + "; ".join(problems), HINT)


def _labelled(entry: LockEntry, digest: str, registry: Registry, reader: ConfigReader) -> Pushed | None:
    """entry's image at digest (its tag's current one when ""), with the parent its labels name."""
    digest = digest or registry.digest(entry.ref) or ""
    if not digest:
        return None
    platforms = tuple(sorted(entry.platforms)) or ("linux/amd64",)
    image = Pushed(entry.node, entry.ref, digest, platforms)
    config = reader.image_config(f"{image.repository}@{digest}", platforms[0]) or {}
    labels = (config.get("config") or {}).get("Labels") or {}
    return Pushed(entry.node, entry.ref, digest, platforms, str(labels.get(BASE_NAME, "")),
                  str(labels.get(BASE_DIGEST, "")))


def _problem(child: Pushed, parent_digest: str, layers: LayerReader) -> str:
    """Why child would not rest on the image at its parent's tag (parent_digest), '' when it would."""
    if not parent_digest:
        return ""  # the parent's tag is gone: nothing published to disagree with
    if parent_digest == child.parent_digest:
        return ""
    parent_repository = str(parse_reference(child.parent_ref).base)
    parent_layers = layers.of(parent_repository, parent_digest, child.platforms)
    child_layers = layers.of(child.repository, child.digest, child.platforms)
    for platform in child.platforms:
        expected, found = parent_layers.get(platform), child_layers.get(platform)
        if expected is None or found is None or found[:len(expected)] != expected:
            return (f"node {child.node} ({child.ref} at {child.digest}) on {platform} was built on "
                    f"{child.parent_ref}@{child.parent_digest}, but that tag would point at {parent_digest}")
    return ""
