"""prune's keep/delete decision (engine.run.retention), pure: a registry listing and what is kept, in."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from engine.build.request import cache_key
from engine.run.doomed import deletions, unconfirmed
from engine.run.retention import (
    CACHE,
    CANDIDATE,
    CHECK,
    CONTENT,
    LOCKFILE,
    STAGING,
    Deletion,
    Keep,
    Listed,
    Unconfirmed,
    Why,
    decide,
    keep_of,
    settled,
    shape_of,
)
from engine.state.lockfile import LockEntry

CURRENT, OLD, LOCKED = "c" * 64, "0" * 64, "1" * 64
D1, D2, D3, D4 = (f"sha256:{digit * 64}" for digit in "abcd")
KEEP = keep_of({"numpy": (CURRENT, ("linux/amd64", "linux/arm64"))}, [])


def _verdicts(listed: list[Listed], keep: Keep = KEEP) -> dict[str, tuple[bool, str]]:
    return {v.tag: (v.delete, v.reason) for v in decide(listed, keep)}


@pytest.mark.parametrize(("tag", "kind", "key"), [
    (f"sb-{CURRENT}", CONTENT, CURRENT),
    (f"sb-{CURRENT}-candidate", CANDIDATE, CURRENT),
    (f"sb-{CURRENT}-linux-arm64", STAGING, CURRENT),
    (f"sb-{CURRENT}-linux-arm-v7", STAGING, CURRENT),
    ("sbcache-0123456789abcdef", CACHE, "0123456789abcdef"),
    ("sbrepro-0123456789abcdef", CHECK, "0123456789abcdef"),
])
def test_every_tag_shape_stackbuild_writes_is_recognised(tag, kind, key):
    shape = shape_of(tag)
    assert shape is not None and (shape.kind, shape.key) == (kind, key)


@pytest.mark.parametrize("tag", [
    "latest", "1", "numpy2.2.6-cpu-py311-deb12", f"sha256-{'a' * 64}.sig", "sb-", "sb-abc",
    f"sb-{'c' * 63}", f"sb-{'c' * 65}", f"sb-{'C' * 64}", f"sb-{CURRENT}-mine", f"sb-{CURRENT}-candidate-2",
    f"sb-{CURRENT}-linux-arm64-v8-x", "sbcache-0123", "sbcache-0123456789abcdefg", "sbrepro-xyz",
    f"xsb-{CURRENT}", "sbcache", "sb-release-1",
])
def test_tags_of_other_shapes_are_not_stackbuilds(tag):
    assert shape_of(tag) is None


def test_the_stale_content_and_candidate_tags_of_one_build_go_in_one_deletion():
    listed = [Listed(f"sb-{OLD}", D1), Listed(f"sb-{OLD}-candidate", D1), Listed(f"sb-{CURRENT}", D2),
              Listed(f"sb-{CURRENT}-candidate", D2)]
    verdicts = decide(listed, KEEP)
    assert {v.tag for v in verdicts if v.delete} == {f"sb-{OLD}", f"sb-{OLD}-candidate"}
    assert deletions(verdicts, listed) == (Deletion(D1, (f"sb-{OLD}", f"sb-{OLD}-candidate")),)
    assert _verdicts(listed)[f"sb-{CURRENT}"] == (False, "current fingerprint of numpy")


def test_a_digest_shared_by_a_kept_tag_is_never_deleted():
    # the human tag still points at the old build: deleting its digest would delete the human tag too
    listed = [Listed(f"sb-{OLD}", D1), Listed("numpy2.2.6", D1), Listed(f"sb-{CURRENT}", D2)]
    verdicts = decide(listed, KEEP)
    assert not any(v.delete for v in verdicts)
    assert deletions(verdicts, listed) == ()
    assert _verdicts(listed)[f"sb-{OLD}"] == (False, "its manifest is also kept tag numpy2.2.6")


def test_a_digest_shared_with_a_current_content_tag_is_never_deleted():
    # a reproducible build: the old fingerprint's image is the same digest as the current one's
    listed = [Listed(f"sb-{OLD}", D2), Listed(f"sb-{CURRENT}", D2)]
    assert not any(v.delete for v in decide(listed, KEEP))


def test_an_image_a_kept_index_refers_to_is_never_deleted():
    # a pool build's staging tag of an old fingerprint whose platform image the current index reuses
    listed = [Listed(f"sb-{CURRENT}", D1, children=(D2, D3)), Listed(f"sb-{OLD}-linux-amd64", D2),
              Listed(f"sb-{OLD}-linux-arm64", D4)]
    verdicts = _verdicts(listed)
    assert verdicts[f"sb-{OLD}-linux-amd64"] == (False, f"kept tag sb-{CURRENT}'s index refers to it")
    assert verdicts[f"sb-{OLD}-linux-arm64"][0] is True


def test_foreign_tags_are_never_touched_even_when_nothing_is_kept():
    nothing = Keep({}, {}, {})
    listed = [Listed(tag, digest) for tag, digest in (("latest", D1), ("sha256-abc.sig", D2),
                                                      (f"sb-{OLD}-mine", D3), ("sb-release-1", D4))]
    verdicts = decide(listed, nothing)
    assert [(v.delete, v.kind, v.reason) for v in verdicts] == [(False, "", "not a stackbuild tag")] * 4
    # and they protect the digests they point to
    assert not any(v.delete for v in decide([*listed, Listed(f"sb-{OLD}", D1)], nothing))


def test_what_a_kept_lockfile_records_is_kept():
    entry = LockEntry("tinygrad", "localhost:5000/x/framework:t1", LOCKED, D3, {"linux/amd64": D4})
    keep = keep_of({"numpy": (CURRENT, ("linux/amd64",))}, [("runs/r1/lock.json", [entry])])
    listed = [Listed(f"sb-{LOCKED}", D3), Listed(f"sb-{OLD}-linux-amd64", D4), Listed(f"sb-{OLD}", D1),
              Listed(f"sbcache-{cache_key('tinygrad')}", D2)]
    verdicts = _verdicts(listed, keep)
    assert verdicts[f"sb-{LOCKED}"] == (False, "in runs/r1/lock.json (tinygrad)")
    assert verdicts[f"sb-{OLD}-linux-amd64"] == (False, "in runs/r1/lock.json (tinygrad)")  # its digest
    assert verdicts[f"sbcache-{cache_key('tinygrad')}"] == (False, "layer cache of tinygrad")
    assert verdicts[f"sb-{OLD}"] == (True, "fingerprint of no loaded node or kept lockfile")


def test_the_layer_caches_of_loaded_nodes_are_kept_and_those_of_gone_nodes_deleted():
    listed = [Listed(f"sbcache-{cache_key('numpy')}", D1),
              Listed(f"sbcache-{cache_key('numpy', 'linux/arm64')}", D2),
              Listed(f"sbcache-{cache_key('renamed-away')}", D3)]
    verdicts = _verdicts(listed)
    assert verdicts[f"sbcache-{cache_key('numpy')}"] == (False, "layer cache of numpy")
    assert verdicts[f"sbcache-{cache_key('numpy', 'linux/arm64')}"] == (False, "layer cache of numpy")
    assert verdicts[f"sbcache-{cache_key('renamed-away')}"] == (True, "layer cache of no loaded node or kept "
                                                                       "lockfile")


def test_a_reproducibility_check_tag_is_kept_for_a_current_fingerprint_only():
    listed = [Listed(f"sbrepro-{CURRENT[:16]}", D1), Listed(f"sbrepro-{OLD[:16]}", D2)]
    verdicts = _verdicts(listed)
    assert verdicts[f"sbrepro-{CURRENT[:16]}"] == (False, "current fingerprint of numpy")
    assert verdicts[f"sbrepro-{OLD[:16]}"][0] is True


def test_an_index_is_deleted_before_the_images_it_refers_to():
    listed = [Listed(f"sb-{OLD}-linux-amd64", D1), Listed(f"sb-{OLD}-candidate", D4, children=(D1,))]
    assert [d.digest for d in deletions(decide(listed, KEEP), listed)] == [D4, D1]


def _cosign(digest: str, suffix: str = ".sig") -> str:
    """The tag cosign stores a signature (.sig), attestation (.att) or SBOM (.sbom) of digest under."""
    return digest.replace(":", "-") + suffix


S1, S2, S3, S4, S5 = (f"sha256:{digit * 64}" for digit in "ef012")


def test_the_cosign_tags_of_a_deleted_manifest_go_with_it_and_first():
    listed = [Listed(f"sb-{OLD}", D1), Listed(f"sb-{OLD}-candidate", D1), Listed(_cosign(D1), S1),
              Listed(_cosign(D1, ".att"), S2), Listed(_cosign(D1, ".sbom"), S3),
              Listed(f"sb-{CURRENT}", D2), Listed(_cosign(D2), S4),
              Listed(_cosign(D3), S5),  # a signature of a manifest this listing does not hold
              Listed(_cosign(D1) + ".bak", D4), Listed(D1.replace(":", "-"), D4)]  # other tags: never
    verdicts = _verdicts(listed)
    assert {tag for tag, (delete, _) in verdicts.items() if delete} == {
        f"sb-{OLD}", f"sb-{OLD}-candidate", _cosign(D1), _cosign(D1, ".att"), _cosign(D1, ".sbom")}
    assert verdicts[_cosign(D1)] == (True, "cosign tag of a deleted manifest")
    assert verdicts[_cosign(D2)] == (False, "cosign tag of a manifest prune does not delete")
    # the signatures first: a prune stopped halfway leaves a stale image to delete next time, not a
    # signature whose subject is gone (which no later prune would know to delete)
    assert deletions(decide(listed, KEEP), listed) == (
        Deletion(S3, (_cosign(D1, ".sbom"),)), Deletion(S1, (_cosign(D1),)),
        Deletion(S2, (_cosign(D1, ".att"),)),
        Deletion(D1, (f"sb-{OLD}", f"sb-{OLD}-candidate")))


def test_a_cosign_tag_stays_while_a_kept_tag_or_index_uses_its_subject():
    shared = [Listed(f"sb-{OLD}", D1), Listed("numpy2.2.6", D1), Listed(_cosign(D1), S1)]
    assert not any(delete for delete, _ in _verdicts(shared).values())
    child = [Listed(f"sb-{CURRENT}", D2, children=(D1,)), Listed(f"sb-{OLD}-linux-amd64", D1),
             Listed(_cosign(D1, ".att"), S1)]
    assert not any(delete for delete, _ in _verdicts(child).values())


def test_a_cosign_tag_whose_own_manifest_a_kept_tag_uses_stays():
    # deleting the signature's manifest by digest would delete the human tag on it too
    listed = [Listed(f"sb-{OLD}", D1), Listed(_cosign(D1), S1), Listed("pinned-signature", S1)]
    verdicts = _verdicts(listed)
    assert verdicts[f"sb-{OLD}"][0] is True
    assert verdicts[_cosign(D1)] == (False, "its manifest is also kept tag pinned-signature")


TAGS = st.one_of(
    st.sampled_from(["latest", "1", "dev", "sb-x", f"sb-{OLD}-mine"]),
    st.builds(lambda fp, suffix: f"sb-{fp}{suffix}", st.sampled_from([CURRENT, OLD, LOCKED]),
              st.sampled_from(["", "-candidate", "-linux-amd64"])),
    st.builds(lambda name: f"sbcache-{cache_key(name)}", st.sampled_from(["numpy", "gone"])),
    st.builds(_cosign, st.sampled_from([D1, D2, D3, D4]), st.sampled_from([".sig", ".att", ".sbom", ""])),
)
DIGESTS = st.sampled_from([D1, D2, D3, D4])


LISTINGS = st.lists(st.tuples(TAGS, DIGESTS, st.lists(DIGESTS, max_size=2)), max_size=12,
                    unique_by=lambda item: item[0])


@given(LISTINGS, st.sets(DIGESTS, max_size=2))
def test_no_deleted_manifest_is_one_a_kept_tag_uses_and_no_foreign_tag_goes(items, gone):
    listed = [Listed(tag, digest, tuple(children)) for tag, digest, children in items]
    verdicts = decide(listed, KEEP, gone)
    kept = [item for item, verdict in zip(listed, verdicts, strict=True) if not verdict.delete]
    used = {item.digest for item in kept} | {child for item in kept for child in item.children}
    doomed = {deletion.digest for deletion in deletions(verdicts, listed)}
    assert not doomed & used
    signed = {v.tag: v.tag.partition(".")[0].replace("-", ":", 1) for v in verdicts
              if v.delete and v.tag.startswith("sha256-")}
    assert all(shape_of(v.tag) is not None for v in verdicts if v.delete and v.tag not in signed)
    # a cosign or referrers tag goes only with its subject: a manifest deleted, one only deleted
    # manifests refer to, or one gone; never while a kept tag or index uses it
    going = doomed | {child for item in listed if item.digest in doomed for child in item.children} | gone
    assert set(signed.values()) <= going and not set(signed.values()) & used
    assert all(not v.delete for v in verdicts if v.tag.startswith("sb-") and CURRENT in v.tag)


P1, P2, P3, R1, R2, A1, A2, A3 = (f"sha256:{digit * 64}" for digit in "34567890")


UNTAGGED = [P1, P2, A1]  # digests no generated tag points to: platform images, attestations, artifacts
EVERY = st.sampled_from([D1, D2, D3, D4, *UNTAGGED])
STALE = st.builds(lambda fingerprint, suffix: f"sb-{fingerprint}{suffix}", st.sampled_from([OLD, LOCKED]),
                  st.sampled_from(["", "-candidate", "-linux-amd64"]))
WIDE = st.lists(st.tuples(st.one_of(TAGS, STALE, st.builds(_cosign, EVERY, st.sampled_from([".sig", ""]))),
                          DIGESTS, st.lists(EVERY, max_size=3)), max_size=12, unique_by=lambda item: item[0])


@settings(max_examples=300)
@given(WIDE, st.sets(EVERY, max_size=2), st.dictionaries(EVERY, st.one_of(EVERY, st.just(""))),
       st.sets(EVERY, max_size=2))
def test_no_untagged_manifest_a_kept_tag_or_lockfile_uses_goes_and_every_other_one_a_deleted_index_had_does(
        items, gone, subject_of, locked):
    # content-addressed builds share platform images between indexes: whatever a kept tag holds, directly
    # or through its index (nested ones are in children), or a kept lockfile records, stays
    listed = [Listed(tag, digest, tuple(children)) for tag, digest, children in items]
    keep = Keep(KEEP.fingerprints, KEEP.cache_keys, {digest: Why(LOCKFILE, "in a lock") for digest in locked})
    verdicts = decide(listed, keep, gone, subject_of)
    order = deletions(verdicts, listed, keep.digests, subject_of)
    kept = [item for item, verdict in zip(listed, verdicts, strict=True) if not verdict.delete]
    used = {item.digest for item in kept} | {child for item in kept for child in item.children} | locked
    doomed = {deletion.digest for deletion in order}
    assert not doomed & used and len(doomed) == len(order)
    tagged = {item.digest for item in listed}
    deleted = {verdict.digest for verdict in verdicts if verdict.delete}
    position = {deletion.digest: number for number, deletion in enumerate(order)}
    for deletion in order:
        assert bool(deletion.tags) == (deletion.digest in tagged)  # a tagged one goes only with its tags
        if deletion.child_of:  # what a deleted index refers to, deleted before it
            assert deletion.child_of in deleted and position[deletion.digest] < position[deletion.child_of]
            assert any(deletion.digest in item.children for item in listed
                       if item.digest == deletion.child_of)
        if deletion.referrer_of:  # a referrer: its own subject is the one whose referrers tag goes
            assert subject_of.get(deletion.digest) == deletion.referrer_of
            assert deletion.referrer_of.replace(":", "-") in {v.tag for v in verdicts if v.delete}
        assert deletion.tags or deletion.child_of or deletion.referrer_of
    indexes = [item for item, verdict in zip(listed, verdicts, strict=True)
               if verdict.delete and verdict.kind not in ("signature", "referrers")]
    assert {child for item in indexes for child in item.children} - used - tagged <= doomed
    left = unconfirmed(verdicts, listed, keep.digests, subject_of)
    assert not {u.digest for u in left} & doomed
    assert all(subject_of.get(u.digest) != u.listed_by.replace("-", ":", 1) for u in left)


@settings(max_examples=300)
@given(WIDE, st.sets(EVERY, max_size=2), st.dictionaries(EVERY, st.one_of(EVERY, st.just(""))),
       st.sets(EVERY, max_size=2))
@example([(f"sb-{OLD}", D1, []), (_cosign(D1, ""), D2, [A1])], set(), {}, set())
def test_what_the_artifacts_of_referrers_tags_about_settled_digests_name_changes_no_decision(
        items, gone, others, locked):
    # prune reads only the artifacts of referrers tags whose subject is not settled: the others' must
    # not matter to any verdict, deletion or artifact left
    listed = [Listed(tag, digest, tuple(children)) for tag, digest, children in items]
    # the artifacts a referrers tag lists name its subject, as cosign's do, but for those others say
    subject_of = {**{child: item.tag.replace("-", ":", 1) for item in listed
                     if item.tag.startswith("sha256-") and "." not in item.tag for child in item.children},
                  **others}
    keep = Keep(KEEP.fingerprints, KEEP.cache_keys, {digest: Why(LOCKFILE, "in a lock") for digest in locked})
    staying = settled(listed, keep)
    read = {child for item in listed if item.tag.startswith("sha256-") and "." not in item.tag
            and item.tag.replace("-", ":", 1) not in staying for child in item.children}
    partial = {digest: subject for digest, subject in subject_of.items() if digest in read}
    verdicts = decide(listed, keep, gone, subject_of)
    assert decide(listed, keep, gone, partial) == verdicts
    assert deletions(verdicts, listed, keep.digests, partial) == deletions(verdicts, listed, keep.digests,
                                                                           subject_of)
    assert unconfirmed(verdicts, listed, keep.digests, partial) == unconfirmed(verdicts, listed, keep.digests,
                                                                               subject_of)


def test_the_cosign_tags_of_the_platform_images_only_a_deleted_index_refers_to_go_too():
    # `cosign sign --recursive` signs every platform image; `stackbuild sign` only the index
    listed = [Listed(f"sb-{OLD}", D1, (P1, P2)), Listed(f"sb-{CURRENT}", D2, (P3, P2)),
              Listed(_cosign(P1), S1), Listed(_cosign(P2), S2), Listed(_cosign(P3), S3)]
    verdicts = _verdicts(listed)
    assert verdicts[_cosign(P1)] == (True, "cosign tag of a manifest only deleted indexes refer to")
    assert verdicts[_cosign(P2)] == (False, "cosign tag of a manifest prune does not delete")  # shared
    assert not verdicts[_cosign(P3)][0]
    assert deletions(decide(listed, KEEP), listed) == (Deletion(S1, (_cosign(P1),)),
                                                       Deletion(P1, (), child_of=D1),  # untagged
                                                       Deletion(D1, (f"sb-{OLD}",)))


def test_the_referrers_tag_of_a_deleted_manifest_goes_with_its_referrers_first():
    # OCI 1.1 referrers on a registry without the referrers API: the tag sha256-<subject> holds an index
    # of the artifacts whose subject is that manifest; a signature of one of them goes too
    referrers = D1.replace(":", "-")
    listed = [Listed(f"sb-{OLD}", D1), Listed(f"sb-{CURRENT}", D2), Listed(referrers, R1, (A1, A2)),
              Listed(D2.replace(":", "-"), R2, (A3,)), Listed(_cosign(A2), S1)]
    subject_of = {A1: D1, A2: D1, A3: D2}  # what each artifact's own `subject` names
    verdicts = decide(listed, KEEP, subject_of=subject_of)
    assert {(v.tag, v.kind, v.why, v.reason) for v in verdicts if v.delete} == {
        (f"sb-{OLD}", "content", "stale", "fingerprint of no loaded node or kept lockfile"),
        (referrers, "referrers", "referrers", "referrers tag of a deleted manifest"),
        (_cosign(A2), "signature", "signature", "cosign tag of a deleted referrer")}
    assert deletions(verdicts, listed, subject_of=subject_of) == (
        Deletion(A1, (), referrer_of=D1), Deletion(A2, (), referrer_of=D1), Deletion(R1, (referrers,)),
        Deletion(S1, (_cosign(A2),)), Deletion(D1, (f"sb-{OLD}",)))


def test_a_referrers_index_shared_with_a_staying_subject_stays():
    # an empty referrers index is the same bytes for every subject: deleting it by digest would delete
    # the referrers tag of the manifest that stays too
    gone_subject, staying_subject = D1.replace(":", "-"), D2.replace(":", "-")
    listed = [Listed(f"sb-{OLD}", D1), Listed(f"sb-{CURRENT}", D2), Listed(gone_subject, R1),
              Listed(staying_subject, R1)]
    verdicts = _verdicts(listed)
    assert verdicts[f"sb-{OLD}"][0] and not verdicts[gone_subject][0] and not verdicts[staying_subject][0]
    kept_artifact = [Listed(f"sb-{OLD}", D1), Listed(D1.replace(":", "-"), R1, (A1,)), Listed("pinned", A1)]
    verdicts_of_kept = decide(kept_artifact, KEEP, subject_of={A1: D1})
    assert [d.digest for d in deletions(verdicts_of_kept, kept_artifact, subject_of={A1: D1})] == [
        R1, D1]  # A1, a referrer of D1, is pinned


def test_the_cosign_and_referrers_tags_of_a_manifest_gone_from_the_repository_go():
    listed = [Listed(f"sb-{CURRENT}", D2), Listed(_cosign(D3), S1), Listed(D3.replace(":", "-"), R1, (A1,)),
              Listed(_cosign(D4), S2)]  # D4 is an untagged manifest still there: not gone
    verdicts = decide(listed, KEEP, gone={D3}, subject_of={A1: D3})
    assert {(v.tag, v.why, v.reason) for v in verdicts if v.delete} == {
        (_cosign(D3), "orphaned", "cosign tag of a manifest no longer in the repository"),
        (D3.replace(":", "-"), "orphaned", "referrers tag of a manifest no longer in the repository")}
    # each relies on D3 being gone: asked again right before it is deleted
    assert deletions(verdicts, listed, subject_of={A1: D3}) == (
        Deletion(A1, (), D3, gone=(D3,)), Deletion(R1, (D3.replace(":", "-"),), gone=(D3,)),
        Deletion(S1, (_cosign(D3),), gone=(D3,)))


def test_an_artifact_a_referrers_tag_lists_that_names_another_subject_is_left_with_its_signature():
    # the referrers index of the deleted D1 lists A2, whose own subject is the current D2 (or that names
    # none, A3): no referrer of D1, so neither it nor what signed it goes; prune says so
    listed = [Listed(f"sb-{OLD}", D1), Listed(f"sb-{CURRENT}", D2),
              Listed(D1.replace(":", "-"), R1, (A1, A2, A3)), Listed(_cosign(A2), S1)]
    subject_of = {A1: D1, A2: D2, A3: ""}
    verdicts = decide(listed, KEEP, subject_of=subject_of)
    assert {v.tag: v.delete for v in verdicts}[_cosign(A2)] is False
    assert [(d.digest, d.referrer_of) for d in deletions(verdicts, listed, subject_of=subject_of)] == [
        (A1, D1), (R1, ""), (D1, "")]
    assert unconfirmed(verdicts, listed, subject_of=subject_of) == (
        Unconfirmed(A2, D1.replace(":", "-"), D2), Unconfirmed(A3, D1.replace(":", "-"), ""))
    assert unconfirmed(verdicts, listed, subject_of={A1: D1})[-1] == Unconfirmed(  # not there: read none
        A3, D1.replace(":", "-"), "", there=False)


def test_what_a_signature_of_an_orphan_s_referrer_relies_on_is_the_orphan_s_subject():
    listed = [Listed(f"sb-{CURRENT}", D2), Listed(D3.replace(":", "-"), R1, (A1,)), Listed(_cosign(A1), S1)]
    verdicts = decide(listed, KEEP, gone={D3}, subject_of={A1: D3})
    assert {v.tag: (v.reason, v.gone) for v in verdicts if v.delete}[_cosign(A1)] == (
        "cosign tag of a deleted referrer", (D3,))


def test_the_untagged_manifests_of_a_deleted_index_go_before_it_what_a_nested_index_refers_to_first():
    # D1 (stale) → nested index N (untagged) → P1, P2 (a stale staging tag's); D1 → P3, which the current
    # index D2 shares, A1, which a kept lockfile records, and A2 (an attestation manifest)
    lock = LockEntry("numpy", "localhost:5000/x/numpy:1", LOCKED, D4, {"linux/amd64": A1})
    keep = keep_of({"numpy": (CURRENT, ("linux/amd64",))}, [("runs/r1/lock.json", [lock])])
    nested = f"sha256:{'ab' * 32}"
    listed = [Listed(f"sb-{OLD}", D1, (P1, P2, nested, P3, A1, A2)),  # as listed: N after what it refers to
              Listed(f"sb-{CURRENT}", D2, (P3,)), Listed(f"sb-{OLD}-linux-amd64", P2)]
    verdicts = decide(listed, keep)
    assert deletions(verdicts, listed, keep.digests) == (
        Deletion(P1, (), child_of=D1), Deletion(nested, (), child_of=D1), Deletion(A2, (), child_of=D1),
        Deletion(D1, (f"sb-{OLD}",)),
        Deletion(P2, (f"sb-{OLD}-linux-amd64",)))  # tagged: goes with its tag, after the index
