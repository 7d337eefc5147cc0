"""A rollback (`promote LOCKFILE`) keeps every child on its parent's published image.

A lockfile entry names its stack parent's human tag (older lockfiles do not: the image's label
base.name does); the image's label base.digest names the parent image it was built on. Before any
tag moves, every pair where the child's or the parent's tag would move is compared: the parent's tag
after the rollback must point at that digest, or at an image whose layers the child's start with on
every platform (an index rewritten with the same images, or a pool build's per-platform parent).
Parents are only tags stackbuild publishes (the lockfile's, STATE/latest.lock.json's and the loaded
stacks'); children outside the lockfile are those latest.lock.json lists and, when the stacks load,
their nodes built on a parent (so a fresh state folder, on another machine, still finds them). A tag
the guard leaves alone keeps its image.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from engine.build.request import BASE_DIGEST_LABEL, BASE_NAME_LABEL
from engine.parallel import side_by_side
from engine.registry.client import Registry
from engine.registry.manifest import as_object, config_labels, platform_name
from engine.run.layers import LayerPrefixError, LayerReader, prefix_problem
from engine.run.ownership import ConfigReader
from engine.run.promote import tag_digests
from engine.state.lockfile import LockEntry
from graph.expand.dag import StackGraph

FOREIGN = " (an image this project never built, left alone: promote --adopt takes it over)"
HINT = ("promote a lockfile that also holds those parents and children, such as the lock.json of a run "
        "that published them together, or build them again; no tag was moved")


@dataclass(frozen=True)
class Pushed:
    """One image as it stands (or will stand) at a tag, and the parent image it was built on."""

    node: str
    ref: str
    digest: str
    platforms: tuple[str, ...]
    parent_ref: str
    parent_digest: str

    @property
    def repository(self) -> str:
        """The ref without its tag."""
        return self.ref.rsplit(":", 1)[0]


def stack_children(stack_graph: StackGraph, recorded: Sequence[LockEntry]) -> list[LockEntry]:
    """The nodes of the stacks built on a stack parent that recorded does not list, as entries whose
    image is read from their tags (no digest; the stacks' platforms stand for a lone image's unknown one)."""
    listed = {entry.ref for entry in recorded}
    return [LockEntry(name, node.ref, "", "", dict.fromkeys(node.platforms, ""),
                      parent=stack_graph.nodes[node.parent].ref)
            for name, node in sorted(stack_graph.nodes.items())
            if node.parent and not node.external and not stack_graph.nodes[node.parent].external
            and node.ref not in listed]


def moving_tags(entries: Sequence[LockEntry], now: Mapping[str, str | None], staying: set[str]) -> set[str]:
    """The entries' tags a rollback would move: not at their digest now, and not left alone by the guard."""
    return {entry.ref for entry in entries if now[entry.ref] != entry.digest and entry.ref not in staying}


def verify_rollback(entries: Sequence[LockEntry], now: Mapping[str, str | None], staying: set[str],
                    published: Sequence[LockEntry], registry: Registry,
                    reader: ConfigReader) -> dict[str, str]:
    """LayerPrefixError naming every child that would not rest on its parent's image once the entries'
    tags moved (nothing moves then). now: the digest each entry's tag points at; staying: the refs the
    guard leaves alone; published: what STATE/latest.lock.json records.

    Returns the other tags the check read, with their digests ("" for none): if one of them moves
    before the entries' tags do, what was checked no longer holds."""
    locked = {entry.ref: entry for entry in entries}
    moving = moving_tags(entries, now, staying)
    if not moving:
        return {}
    pairs, watched = _pairs(entries, moving, staying, published, registry, reader)
    final = {ref: now[ref] if ref in staying else entry.digest for ref, entry in locked.items()}
    # a published child read above is compared as a parent at the digest read then (promote reads it again)
    others = sorted({image.parent_ref for image in pairs} - set(final) - set(watched))
    found = {ref: digest or "" for ref, digest in tag_digests(registry, others).items()}
    watched.update(found)
    final.update(watched)
    layers = LayerReader(registry)
    problems = side_by_side(lambda image: _problem(image, final[image.parent_ref] or "", layers,
                                                   image.parent_ref in staying), pairs)
    if any(problems):
        raise LayerPrefixError("not promoted: " + "; ".join(filter(None, problems)), HINT)
    return watched


def _pairs(entries: Sequence[LockEntry], moving: set[str], staying: set[str], published: Sequence[LockEntry],
           registry: Registry, reader: ConfigReader) -> tuple[list[Pushed], dict[str, str]]:
    """The children to compare: those whose own or whose parent's tag moves, with what they rest on; and
    the published children outside the lockfile that were read, with their tags' digests."""
    locked = {entry.ref for entry in entries}
    ours = locked | {entry.ref for entry in published} | {
        entry.parent for entry in (*entries, *published) if entry.parent}
    candidates = [*((entry, entry.digest) for entry in entries if entry.ref not in staying),
                  *((entry, "") for entry in published if entry.ref not in locked)]
    # an entry that names its parent is read only when it is compared; an older one, to learn its parent
    wanted = [(entry, digest) for entry, digest in candidates if entry.parent is None
              or (entry.parent and (entry.ref in moving or entry.parent in moving))]
    images = side_by_side(lambda item: _pushed(*item, registry, reader), wanted)
    watched = {entry.ref: image.digest if image else ""
               for (entry, digest), image in zip(wanted, images, strict=True) if not digest}
    return [image for image in images if image is not None and image.parent_ref in ours
            and (image.ref in moving or image.parent_ref in moving)], watched


def _pushed(entry: LockEntry, digest: str, registry: Registry, reader: ConfigReader) -> Pushed | None:
    """entry's image at digest (its tag's current one when ""), with the parent it was built on."""
    own = not digest or not entry.platforms  # read at its tag, or recorded without platforms
    digest = digest or registry.digest(entry.ref) or ""
    if not digest:
        return None
    reference = f"{entry.repository}@{digest}"
    recorded = tuple(sorted(entry.platforms)) or ("linux/amd64",)
    # such an image is compared on the platforms it has, not those a record or the stacks name
    manifest = registry.manifest(reference) if own else None
    index = manifest is not None and manifest.is_index
    platforms = (tuple(sorted(manifest.platforms())) if manifest is not None and index else ()) or recorded
    config = reader.image_config(reference, platforms[0])
    if own and manifest is not None and not index:  # a lone image: its config says its platform
        platforms = _config_platform(config) or platforms
    labels = config_labels(config)
    # the entry's parent is that of the image it records; another image at its tag names its own
    recorded_parent = entry.parent is not None and digest == entry.digest
    parent = entry.parent if recorded_parent else labels.get(BASE_NAME_LABEL)
    return Pushed(entry.node, entry.ref, digest, platforms, str(parent or ""),
                  str(labels.get(BASE_DIGEST_LABEL, "")))


def _config_platform(config: object) -> tuple[str, ...]:
    """(os/architecture[/variant],) of an image config, () when it names none."""
    fields = as_object(config)
    if not all(isinstance(fields.get(key), str) and fields[key] for key in ("os", "architecture")):
        return ()
    variant = fields.get("variant")
    # v8 is the default arm64 variant, which indexes leave out
    if not isinstance(variant, str) or (fields["architecture"] == "arm64" and variant == "v8"):
        variant = ""
    return (platform_name({**fields, "variant": variant}),)


def _problem(child: Pushed, parent_digest: str, layers: LayerReader, foreign: bool) -> str:
    """Why child would not rest on the image at its parent's tag (parent_digest), '' when it would."""
    if not parent_digest or parent_digest == child.parent_digest:
        return ""  # a parent tag that is gone has nothing published to disagree with
    parent_layers = layers.of(child.parent_ref.rsplit(":", 1)[0], parent_digest, child.platforms)
    child_layers = layers.of(child.repository, child.digest, child.platforms)
    for platform in child.platforms:
        if prefix_problem(child_layers.get(platform), parent_layers.get(platform), child.parent_ref):
            built_on = child.parent_ref + (f"@{child.parent_digest}" if child.parent_digest else "")
            return (f"node {child.node} ({child.ref} at {child.digest}) on {platform} was built on "
                    f"{built_on}, but that tag would point at {parent_digest}" + (FOREIGN if foreign else ""))
    return ""
