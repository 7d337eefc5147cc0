"""Which of stackbuild's own tags `stackbuild prune` deletes from a repository, and why every other one stays.

Pure: a repository's tags with their digests, and what must be kept, in; verdicts and deletions out.
A manifest is deleted by digest, which removes every tag on it, so a digest that any kept tag points
to, or that a kept tag's index refers to (nested indexes too), or that a kept lockfile records (and,
once engine.run.indexes has read it, what its index refers to), is never deleted. cosign's and OCI
1.1 referrers' tags about a manifest that goes go with it (engine.run.subjects), and so do the
untagged manifests only deleted indexes refer to (engine.run.doomed).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from engine.build.request import CACHE_TAG_PREFIX, cache_key
from engine.run.planner import CANDIDATE_SUFFIX
from engine.run.reproduce import CHECK_TAG_PREFIX
from engine.run.subjects import GONE, REFERRERS, SIGNATURE, Going, Held, fate, subject_tag
from engine.state.lockfile import LockEntry
from graph.change.fingerprint import CONTENT_TAG_PREFIX
from graph.model.checks import PLATFORMS

CONTENT, CANDIDATE, STAGING, CACHE, CHECK = "content", "candidate", "staging", "cache", "check"
# why a tag is kept or deleted, for machines (Verdict.why): the reason's text says it for people; a tag
# about a subject has its kind (SIGNATURE, REFERRERS) as its why, or ORPHANED when its subject is gone
CURRENT, LOCKFILE, PROTECTED, FOREIGN, STALE = "current", "lockfile", "protected", "foreign", "stale"
ORPHANED = "orphaned"
_LABELS = {SIGNATURE: "cosign tag", REFERRERS: "referrers tag"}
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
    # what an index refers to, nested indexes' too (each after what it refers to): platform images, ...
    children: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()  # nested indexes the registry does not have: what they refer to is unknown


@dataclass(frozen=True)
class Keep:
    """What must stay, each with why: fingerprints, cache keys, and digests kept lockfiles record."""

    fingerprints: Mapping[str, Why]
    cache_keys: Mapping[str, Why]
    digests: Mapping[str, Why]
    # repository → the digests (each node's index or image) kept lockfiles record there: what they
    # refer to stays too, read where no tag holds them (engine.run.indexes.with_recorded)
    recorded: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """One tag: kept or deleted, and why."""

    tag: str
    digest: str
    kind: str  # a Shape's kind, SIGNATURE or REFERRERS; "" for any other tag stackbuild does not write
    delete: bool
    reason: str
    why: str  # the code: CURRENT, LOCKFILE, PROTECTED, FOREIGN, SIGNATURE, REFERRERS, ORPHANED or STALE
    gone: tuple[str, ...] = ()  # the subjects found gone its deletion relies on (engine.run.subjects.Going)


@dataclass(frozen=True)
class Deletion:
    """One manifest to delete by digest, and the tags that go with it (none for an untagged one: a
    referrer, which the referrers tag of the manifest referrer_of lists, or what the deleted index
    child_of refers to)."""

    digest: str
    tags: tuple[str, ...]
    referrer_of: str = ""
    child_of: str = ""
    gone: tuple[str, ...] = ()  # subjects found gone that must still be gone when it is deleted


@dataclass(frozen=True)
class Unconfirmed:
    """An untagged manifest a referrers tag that goes lists, left because its own `subject` does not name
    that tag's subject (subject: what it names, "" for none; there: False when the registry has no such
    manifest, so nothing names anything)."""

    digest: str
    listed_by: str
    subject: str
    there: bool = True


def keep_of(current: Mapping[str, tuple[str, Sequence[str]]],
            locks: Sequence[tuple[str, Sequence[LockEntry]]]) -> Keep:
    """What to keep: current maps each loaded node to its fingerprint and platforms; locks are the kept
    lockfiles (name, entries), newest first."""
    fingerprints: dict[str, Why] = {}
    caches: dict[str, Why] = {}
    digests: dict[str, Why] = {}
    recorded: dict[str, set[str]] = {}
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
            recorded.setdefault(entry.repository, set()).add(entry.digest)
    return Keep(fingerprints, caches, digests, {name: frozenset(found) for name, found in recorded.items()})


def _cache_keys(found: dict[str, Why], node: str, platforms: Iterable[str], why: Why) -> None:
    """The cache keys of a node: the whole node's and each platform's (pool builds)."""
    for key in (cache_key(node), *(cache_key(node, platform) for platform in platforms)):
        found.setdefault(key, why)


def decide(listed: Sequence[Listed], keep: Keep, gone: Collection[str] = (),
           subject_of: Mapping[str, str] | None = None) -> tuple[Verdict, ...]:
    """A verdict for every tag: only stackbuild's tags that nothing keeps, on digests nothing kept uses,
    are deleted, and the cosign and referrers tags about what goes (gone: subjects found gone from the
    repository; subject_of: the subject each artifact referrers tags list names, as read)."""
    verdicts = [_by_shape(item, keep) for item in listed]
    while True:  # a tag kept for its digest keeps what its own index refers to, and so on
        protected = _protected(listed, verdicts, keep)
        rescued = [(number, protected[verdict.digest]) for number, verdict in enumerate(verdicts)
                   if verdict.delete and verdict.digest in protected]
        if not rescued:
            break
        for number, why in rescued:
            verdicts[number] = replace(verdicts[number], delete=False, reason=why.text, why=why.code)
    about = [number for number, item in enumerate(listed) if subject_tag(item.tag)]
    others = [Verdict("", "", "", True, "", "") if number in about else verdict  # stay as their subjects do
              for number, verdict in enumerate(verdicts)]
    protected = _protected(listed, others, keep)
    going = fate([_held(listed[number]) for number in about],
                 [_held(item) for item, verdict in zip(listed, verdicts, strict=True) if verdict.delete],
                 protected, gone, subject_of or {})
    for number in about:
        verdicts[number] = _about(verdicts[number], going.get(listed[number].tag), protected)
    return tuple(verdicts)


def _about(verdict: Verdict, going: Going | None, protected: Mapping[str, Why]) -> Verdict:
    """The verdict on a cosign or referrers tag: deleted when its subject goes (going: how), kept when
    its subject stays or its own manifest is kept for another tag."""
    label = _LABELS[verdict.kind]
    if going is not None:
        return replace(verdict, delete=True, reason=f"{label} of {going.what}",
                       why=ORPHANED if going.what == GONE else verdict.kind, gone=going.gone)
    if (why := protected.get(verdict.digest)) is not None:
        return replace(verdict, reason=why.text, why=why.code)
    return verdict


def settled(listed: Sequence[Listed], keep: Keep) -> set[str]:
    """Digests that stay whatever else goes: kept lockfiles' and those the tags their own shape keeps
    (not cosign's or referrers') point to and refer to; a tag about one of them never goes."""
    verdicts = [_by_shape(item, keep) for item in listed]
    kept = [(item, verdict) for item, verdict in zip(listed, verdicts, strict=True)
            if not verdict.delete and not subject_tag(item.tag)]
    return set(_protected([item for item, _ in kept], [verdict for _, verdict in kept], keep))


def kept_missing(listed: Sequence[Listed], verdicts: Sequence[Verdict],
                 keep: Keep) -> list[tuple[str, str, str]]:
    """(digest, the tag that refers to it, why it stays) for each nested index the registry does not have
    under a tag that stays, or that stays itself (a kept lockfile records it, a kept tag refers to it)."""
    protected = _protected(listed, verdicts, keep)
    return [(digest, item.tag, f"kept tag {item.tag}: {verdict.reason}" if not verdict.delete
             else f"tag {item.tag} refers to it; {protected[digest].text}")
            for item, verdict in zip(listed, verdicts, strict=True) for digest in item.missing
            if not verdict.delete or digest in protected]


def _protected(listed: Sequence[Listed], verdicts: Sequence[Verdict], keep: Keep) -> dict[str, Why]:
    """Every digest that stays, with why: kept lockfiles', kept tags' and what their indexes refer to
    (a cosign or referrers tag counts as kept here: its subject decides later whether it goes)."""
    protected = dict(keep.digests)
    for item, verdict in zip(listed, verdicts, strict=True):
        if not verdict.delete:
            protected.setdefault(item.digest, Why(PROTECTED, f"its manifest is also kept tag {item.tag}"))
            for child in item.children:
                protected.setdefault(child, Why(PROTECTED, f"kept tag {item.tag}'s index refers to it"))
    return protected


def _held(item: Listed) -> Held:
    return Held(item.tag, item.digest, item.children)


def _by_shape(item: Listed, keep: Keep) -> Verdict:
    """The verdict a tag's own shape gives, before shared digests are looked at (a cosign or referrers
    tag: kept until its subject turns out to go)."""
    if about := subject_tag(item.tag):
        kind = about[0]
        return Verdict(item.tag, item.digest, kind, False,
                       f"{_LABELS[kind]} of a manifest prune does not delete", kind)
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
