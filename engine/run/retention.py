"""Which of stackbuild's own tags `stackbuild prune` deletes from a repository, and why every other one stays.

Pure: a repository's tags with their digests, and what must be kept, in; verdicts and deletions out.
A manifest is deleted by digest, which removes every tag on it, so a digest that any kept tag points
to, or that a kept tag's index refers to, or that a kept lockfile records, is never deleted. cosign's
tags of a deleted manifest (`sha256-<hex>.sig`, `.att`, `.sbom`) go with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from engine.build.request import CACHE_TAG_PREFIX, cache_key
from engine.run.planner import CANDIDATE_SUFFIX
from engine.run.reproduce import CHECK_TAG_PREFIX
from engine.state.lockfile import LockEntry
from graph.change.fingerprint import CONTENT_TAG_PREFIX
from graph.model.checks import PLATFORMS

CONTENT, CANDIDATE, STAGING, CACHE, CHECK = "content", "candidate", "staging", "cache", "check"
SIGNATURE = "signature"  # cosign's tag of a manifest: not stackbuild's, but goes when its subject goes
# why a tag is kept or deleted, for machines (Verdict.why): the reason's text says it for people
CURRENT, LOCKFILE, PROTECTED, FOREIGN, STALE = "current", "lockfile", "protected", "foreign", "stale"
_FINGERPRINT = "([0-9a-f]{64})"
# a platform stackbuild builds for, as a staging tag ends: linux/arm/v7 → -linux-arm-v7
_PLATFORM_SLUG = "-(?:" + "|".join(re.escape(platform.replace("/", "-")) for platform in PLATFORMS) + ")"
_SHAPES = (
    (CONTENT, re.compile(re.escape(CONTENT_TAG_PREFIX) + _FINGERPRINT)),
    (CANDIDATE, re.compile(re.escape(CONTENT_TAG_PREFIX) + _FINGERPRINT + re.escape(CANDIDATE_SUFFIX))),
    # a platform's image of a pool build: sb-<fingerprint>-linux-arm64, sb-<fingerprint>-linux-arm-v7
    (STAGING, re.compile(re.escape(CONTENT_TAG_PREFIX) + _FINGERPRINT + _PLATFORM_SLUG)),
    (CACHE, re.compile(re.escape(CACHE_TAG_PREFIX) + "([0-9a-f]{16})")),
    (CHECK, re.compile(re.escape(CHECK_TAG_PREFIX) + "([0-9a-f]{16})")),
)
_COSIGN = re.compile(r"sha256-([0-9a-f]{64})\.(?:sig|att|sbom)")  # cosign's tag-based storage


@dataclass(frozen=True)
class Shape:
    """What one of stackbuild's tags is, and its key: a fingerprint, a cache key or a fingerprint's start."""

    kind: str
    key: str


def shape_of(tag: str) -> Shape | None:
    """The shape of a tag stackbuild writes; None for every other tag (human or foreign)."""
    for kind, pattern in _SHAPES:
        if found := pattern.fullmatch(tag):
            return Shape(kind, found.group(1))
    return None


def cosign_subject(tag: str) -> str | None:
    """The digest a cosign signature, attestation or SBOM tag is about; None for every other tag."""
    found = _COSIGN.fullmatch(tag)
    return f"sha256:{found.group(1)}" if found else None


@dataclass(frozen=True)
class Why:
    """Why something is kept or deleted: a stable code (CURRENT, LOCKFILE, ...) and the words for people."""

    code: str
    text: str


@dataclass(frozen=True)
class Listed:
    """One tag of a repository as the registry holds it."""

    tag: str
    digest: str
    children: tuple[str, ...] = ()  # what an index refers to: platform images, attestations


@dataclass(frozen=True)
class Keep:
    """What must stay, each with why: fingerprints, cache keys, and digests kept lockfiles record."""

    fingerprints: Mapping[str, Why]
    cache_keys: Mapping[str, Why]
    digests: Mapping[str, Why]


@dataclass(frozen=True)
class Verdict:
    """One tag: kept or deleted, and why."""

    tag: str
    digest: str
    kind: str  # a Shape's kind, or SIGNATURE; "" for any other tag stackbuild does not write
    delete: bool
    reason: str
    why: str  # the reason's code: CURRENT, LOCKFILE, PROTECTED, FOREIGN, SIGNATURE or STALE


@dataclass(frozen=True)
class Deletion:
    """One manifest to delete by digest, and the tags that go with it."""

    digest: str
    tags: tuple[str, ...]


def keep_of(current: Mapping[str, tuple[str, Sequence[str]]],
            locks: Sequence[tuple[str, Sequence[LockEntry]]]) -> Keep:
    """What to keep: current maps each loaded node to its fingerprint and platforms; locks are the kept
    lockfiles (name, entries), newest first."""
    fingerprints: dict[str, Why] = {}
    caches: dict[str, Why] = {}
    digests: dict[str, Why] = {}
    for node, (fingerprint, platforms) in current.items():
        fingerprints.setdefault(fingerprint, Why(CURRENT, f"current fingerprint of {node}"))
        _cache_keys(caches, node, platforms, Why(CURRENT, f"layer cache of {node}"))
    for name, entries in locks:
        for entry in entries:
            why = Why(LOCKFILE, f"in {name} ({entry.node})")
            fingerprints.setdefault(entry.fingerprint, why)
            _cache_keys(caches, entry.node, tuple(entry.platforms),
                        Why(LOCKFILE, f"layer cache of {entry.node}"))
            for digest in (entry.digest, *entry.platforms.values()):
                digests.setdefault(digest, why)
    return Keep(fingerprints, caches, digests)


def _cache_keys(found: dict[str, Why], node: str, platforms: Iterable[str], why: Why) -> None:
    """The cache keys of a node: the whole node's and each platform's (pool builds)."""
    for key in (cache_key(node), *(cache_key(node, platform) for platform in platforms)):
        found.setdefault(key, why)


def decide(listed: Sequence[Listed], keep: Keep) -> tuple[Verdict, ...]:
    """A verdict for every tag: only stackbuild's tags that nothing keeps, on digests nothing kept uses,
    are deleted, and cosign's tags of the manifests they leave."""
    verdicts = [_by_shape(item, keep) for item in listed]
    protected = dict(keep.digests)
    while True:  # a tag kept for its digest keeps what its own index refers to, and so on
        for item, verdict in zip(listed, verdicts, strict=True):
            if not verdict.delete:
                protected.setdefault(item.digest, Why(PROTECTED, f"its manifest is also kept tag {item.tag}"))
                for child in item.children:
                    protected.setdefault(child, Why(PROTECTED, f"kept tag {item.tag}'s index refers to it"))
        doomed = {verdict.digest for verdict in verdicts if verdict.delete}
        rescued = [(number, why) for number, verdict in enumerate(verdicts)
                   if verdict.delete and (why := _rescue(verdict, protected, doomed))]
        if not rescued:
            return tuple(verdicts)
        for number, why in rescued:
            verdicts[number] = replace(verdicts[number], delete=False, reason=why.text, why=why.code)


def _rescue(verdict: Verdict, protected: Mapping[str, Why], doomed: set[str]) -> Why | None:
    """Why a tag doomed so far must stay after all: its digest is kept, or it is a cosign tag whose
    subject stays."""
    if verdict.digest in protected:
        return protected[verdict.digest]
    if verdict.kind == SIGNATURE and cosign_subject(verdict.tag) not in doomed:
        return Why(SIGNATURE, "cosign tag of a manifest prune does not delete")
    return None


def _by_shape(item: Listed, keep: Keep) -> Verdict:
    """The verdict a tag's own shape gives, before shared digests are looked at (a cosign tag: deleted
    until its subject turns out to stay)."""
    if cosign_subject(item.tag):
        return Verdict(item.tag, item.digest, SIGNATURE, True, "cosign tag of a deleted manifest", SIGNATURE)
    shape = shape_of(item.tag)
    if shape is None:
        return Verdict(item.tag, item.digest, "", False, "not a stackbuild tag", FOREIGN)
    if shape.kind == CACHE:
        why = keep.cache_keys.get(shape.key)
    elif shape.kind == CHECK:
        why = next((reason for fingerprint, reason in keep.fingerprints.items()
                    if fingerprint.startswith(shape.key)), None)
    else:
        why = keep.fingerprints.get(shape.key)
    if why is not None:
        return Verdict(item.tag, item.digest, shape.kind, False, why.text, why.code)
    what = "layer cache" if shape.kind == CACHE else "fingerprint"
    return Verdict(item.tag, item.digest, shape.kind, True, f"{what} of no loaded node or kept lockfile",
                   STALE)


def deletions(verdicts: Sequence[Verdict], listed: Sequence[Listed]) -> tuple[Deletion, ...]:
    """The manifests to delete, each once with all its tags: cosign's tags first, then indexes before the
    images they refer to, so that a deletion that stops halfway leaves neither a signature nor an index
    without its subject (a next prune still finds the stale image and deletes it then)."""
    doomed: dict[str, list[str]] = {}
    for verdict in verdicts:
        if verdict.delete:
            doomed.setdefault(verdict.digest, []).append(verdict.tag)
    signatures = {verdict.digest for verdict in verdicts if verdict.delete and verdict.kind == SIGNATURE}
    referred = {child for item in listed if item.digest in doomed for child in item.children}
    order = sorted(doomed, key=lambda digest: (digest not in signatures, digest in referred, digest))
    return tuple(Deletion(digest, tuple(sorted(doomed[digest]))) for digest in order)
