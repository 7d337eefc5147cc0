"""Which manifests `stackbuild prune` deletes, given the verdicts on a repository's tags, and in which order.

Pure. A manifest goes with its tags that go (by digest, so all of them); untagged ones go too: the
artifacts a referrers tag that goes lists whose own `subject` names its subject (the others are left,
and said), and what only deleted indexes refer to (platform images, attestation manifests, nested
indexes). An untagged manifest that any tag that stays points to or refers to (nested too), or that a
kept lockfile records or its index refers to (kept_digests holds both), stays; a tagged one goes only
with its tags.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

from engine.run.retention import Deletion, Listed, Unconfirmed, Verdict
from engine.run.subjects import REFERRERS, SIGNATURE, Held, referrers, subject_tag

ABOUT = (SIGNATURE, REFERRERS)  # the kinds of tags about a subject, whose manifests are no index of builds


def deletions(verdicts: Sequence[Verdict], listed: Sequence[Listed], kept_digests: Collection[str] = (),
              subject_of: Mapping[str, str] | None = None) -> tuple[Deletion, ...]:
    """The manifests to delete, each once: the referrers of referrers tags that go, then cosign's and
    referrers' tags, then the untagged manifests of deleted indexes (what a nested index refers to
    before it), then the tagged indexes before the tagged images they refer to, so that a deletion that
    stops halfway leaves no manifest that a next prune could not find (it finds the stale index and what
    it still refers to, or the tag whose subject is gone, and deletes it then). kept_digests: what kept
    lockfiles record; subject_of: the subject each artifact referrers tags list names, as read ("" for
    none; one not there is absent)."""
    doomed: dict[str, list[Verdict]] = {}
    for verdict in verdicts:
        if verdict.delete:
            doomed.setdefault(verdict.digest, []).append(verdict)
    tagged = [Deletion(digest, tuple(sorted(v.tag for v in found)), gone=_gone(v.gone for v in found))
              for digest, found in doomed.items()]
    about = {v.digest for v in verdicts if v.delete and v.kind in ABOUT}
    referred = {child for item in listed if item.digest in doomed for child in item.children}
    excluded = _excluded(verdicts, listed, kept_digests)
    untagged = {**_children(verdicts, listed, excluded),
                **_referrers(verdicts, listed, excluded, subject_of or {})}
    rank = {digest: number for number, digest in enumerate(untagged)}  # in the order found: see _children
    order = sorted([*tagged, *untagged.values()], key=lambda d: (
        not d.referrer_of, d.digest not in about, d.digest not in untagged, d.digest in referred,
        rank.get(d.digest, 0), d.digest))
    return tuple(order)


def unconfirmed(verdicts: Sequence[Verdict], listed: Sequence[Listed], kept_digests: Collection[str] = (),
                subject_of: Mapping[str, str] | None = None) -> tuple[Unconfirmed, ...]:
    """The manifests referrers tags that go list but that are no referrers of their subject (their own
    `subject` names another manifest, or none), and that nothing else deletes: they stay."""
    going = {d.digest for d in deletions(verdicts, listed, kept_digests, subject_of)}
    subject_of = subject_of or {}
    return tuple(Unconfirmed(child, item.tag, subject_of.get(child, ""), child in subject_of)
                 for item, verdict in zip(listed, verdicts, strict=True)
                 if verdict.delete and verdict.kind == REFERRERS
                 for child in item.children if child not in going
                 and child not in referrers(Held(item.tag, item.digest, item.children), subject_of))


def _gone(found: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    """The subjects found gone any of a manifest's tags relies on (all its tags go with it)."""
    return tuple(sorted({subject for gone in found for subject in gone}))


def _excluded(verdicts: Sequence[Verdict], listed: Sequence[Listed],
              kept_digests: Collection[str]) -> set[str]:
    """What no untagged deletion may take: every tag's manifest (a tagged one goes only with its tags),
    what a tag that stays refers to, and what kept lockfiles record."""
    kept = {child for item, verdict in zip(listed, verdicts, strict=True) if not verdict.delete
            for child in item.children}
    return kept | {item.digest for item in listed} | set(kept_digests)


def _children(verdicts: Sequence[Verdict], listed: Sequence[Listed],
              excluded: Collection[str]) -> dict[str, Deletion]:
    """The untagged manifests deleted indexes refer to and nothing that stays does (excluded: _excluded),
    in the order found: an index's own children in the order its listing gives them (what a nested
    index refers to first)."""
    found: dict[str, Deletion] = {}
    for item, verdict in zip(listed, verdicts, strict=True):
        if verdict.delete and verdict.kind not in ABOUT:  # a referrers tag's children: _referrers
            for child in item.children:
                if child not in excluded:
                    found.setdefault(child, Deletion(child, (), child_of=item.digest))
    return found


def _referrers(verdicts: Sequence[Verdict], listed: Sequence[Listed], excluded: Collection[str],
               subject_of: Mapping[str, str]) -> dict[str, Deletion]:
    """The untagged referrers of the subjects whose referrers tags go (engine.run.subjects.referrers),
    but those excluded (_excluded)."""
    return {child: Deletion(child, (), referrer_of=about[1], gone=verdict.gone)
            for item, verdict in zip(listed, verdicts, strict=True)
            if verdict.delete and verdict.kind == REFERRERS and (about := subject_tag(item.tag))
            for child in referrers(Held(item.tag, item.digest, item.children), subject_of)
            if child not in excluded}
