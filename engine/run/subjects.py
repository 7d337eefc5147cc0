"""Which tags about another manifest (their subject) prune deletes with it: cosign's and OCI 1.1 referrers'.

Pure. cosign stores a manifest `sha256:<hex>`'s signature, attestations and SBOM under the tags
`sha256-<hex>.sig`, `.att` and `.sbom`; a registry without the OCI 1.1 referrers API holds the
artifacts whose `subject` is that manifest in an index under the referrers tag `sha256-<hex>`. Such a
tag goes when its subject goes: a manifest prune deletes, one only deleted indexes refer to (a platform
image, signed by `cosign sign --recursive`), a referrer of one of those (an artifact the referrers tag
lists whose own `subject` names that manifest), or one already gone from the repository. Its manifest
stays while another tag that stays points to it or refers to it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

SIGNATURE, REFERRERS = "signature", "referrers"  # the kinds of tags about a subject
_TAGS = ((SIGNATURE, re.compile(r"sha256-([0-9a-f]{64})\.(?:sig|att|sbom)")),
         (REFERRERS, re.compile(r"sha256-([0-9a-f]{64})")))
DELETED, REFERRED, REFERRER, GONE = ("a deleted manifest", "a manifest only deleted indexes refer to",
                                     "a deleted referrer", "a manifest no longer in the repository")


def subject_tag(tag: str) -> tuple[str, str] | None:
    """(kind, subject digest) of a cosign or referrers tag; None for every other tag."""
    for kind, pattern in _TAGS:
        if found := pattern.fullmatch(tag):
            return kind, f"sha256:{found.group(1)}"
    return None


@dataclass(frozen=True)
class Going:
    """What of a manifest makes the tags about it go (DELETED, ...), and the subjects found gone that this
    relies on: each must still be gone when what goes because of it is deleted."""

    what: str
    gone: tuple[str, ...] = ()


@dataclass(frozen=True)
class Held:
    """One tag's manifest and what it refers to (every manifest under an index, nested ones too)."""

    tag: str
    digest: str
    children: tuple[str, ...]


def fate(subjects: Sequence[Held], doomed: Sequence[Held], protected: Collection[str],
         gone: Collection[str], subject_of: Mapping[str, str]) -> dict[str, Going]:
    """Which of subjects (the cosign and referrers tags) go, each with what of its subject makes it go,
    given the other tags that go (doomed), the digests that stay whatever happens (protected), the
    subjects found gone from the repository and the subject each artifact a referrers tag lists names."""
    going_tags: dict[str, Going] = {}
    while True:  # a referrer that goes takes its own cosign and referrers tags with it, and so on
        kept = [item for item in subjects if item.tag not in going_tags]
        going = _going(doomed, [(item, going_tags[item.tag]) for item in subjects if item.tag in going_tags],
                       {*protected, *_held(kept)}, gone, subject_of)
        candidates = _unshared(kept, {item.tag: going[subject] for item in kept
                                      if (subject := _subject(item.tag)) in going
                                      and item.digest not in protected})
        if not candidates:
            return going_tags
        going_tags.update(candidates)


def _held(items: Sequence[Held]) -> set[str]:
    """The manifests items point to and refer to."""
    return {digest for item in items for digest in (item.digest, *item.children)}


def _unshared(kept: Sequence[Held], candidates: dict[str, Going]) -> dict[str, Going]:
    """candidates without those whose manifest a staying tag holds too (an empty referrers index is the
    same bytes for every subject), in rounds: one left out stays, and holds its own manifest."""
    while True:
        held = _held([item for item in kept if item.tag not in candidates])
        refused = {item.tag for item in kept if item.tag in candidates and item.digest in held}
        if not refused:
            return candidates
        candidates = {tag: what for tag, what in candidates.items() if tag not in refused}


def _subject(tag: str) -> str:
    found = subject_tag(tag)
    return found[1] if found else ""


def referrers(item: Held, subject_of: Mapping[str, str]) -> tuple[str, ...]:
    """The artifacts a referrers tag lists whose own `subject` names its subject (subject_of: what each
    artifact read names); a listed one that names another, or none, is no referrer of it."""
    return tuple(child for child in item.children if subject_of.get(child) == _subject(item.tag))


def _going(doomed: Sequence[Held], going_tags: Sequence[tuple[Held, Going]], staying: Collection[str],
           gone: Collection[str], subject_of: Mapping[str, str]) -> dict[str, Going]:
    """Every manifest that goes or is gone, with what it is (DELETED, REFERRED, REFERRER, GONE)."""
    going = {digest: Going(GONE, (digest,)) for digest in gone if digest not in staying}  # held: not gone
    for item in doomed:
        going.update({child: Going(REFERRED) for child in item.children if child not in staying})
    for item, why in going_tags:  # a referrer goes with its referrers tag, so relies on what that does
        going.update({child: Going(REFERRER, why.gone) for child in referrers(item, subject_of)
                      if child not in staying})
    going.update({item.digest: Going(DELETED) for item in doomed if item.digest not in staying})
    going.update({item.digest: Going(DELETED, why.gone) for item, why in going_tags
                  if item.digest not in staying})
    return going

