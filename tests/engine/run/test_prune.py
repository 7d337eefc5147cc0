"""`stackbuild prune` through the api with the in-memory registry: the tiny stack built twice with a
change leaves stale tags; prune deletes exactly those, and what it keeps still serves a no-op build."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Sequence
from pathlib import Path

import pytest

from engine.cli import prune as prune_cli
from engine.cli.main import main
from engine.errors import EngineError
from engine.registry.client import DeletionDisabled, Manifest, RegistryError
from engine.run.indexes import NESTING, PruneError
from engine.run.prune import Retention, delete, kept_lockfiles, plan_prune
from engine.run.retention import Deletion
from engine.state.lockfile import LockEntry, write_lockfile
from tests.engine.engine_fakes import (
    OCI_INDEX,
    REGISTRY,
    FakeBuilder,
    human_ref,
    write_stack,
)
from tests.engine.run.builds import options_of, run_build
from tests.engine.run.prunable import Prunable

DAY_S = 86_400


@pytest.fixture
def twice(root: Path) -> tuple[Prunable, dict[str, str]]:
    """The tiny stack built twice into a Prunable registry (build_twice)."""
    registry = Prunable()
    return registry, build_twice(root, registry)


def build_twice(root: Path, registry: Prunable) -> dict[str, str]:
    """The tiny stack built, then built again with mid's build arg changed (mid and leaf rebuilt); the
    first build's content tags of mid and leaf, by node."""
    first = run_build(root, FakeBuilder(registry), registry, test=False)
    write_stack(root, arg="2")
    second = run_build(root, FakeBuilder(registry), registry, test=False)
    assert {name for name, node in second.nodes.items() if node.action == "build"} == {"mid", "leaf"}
    return {name: f"sb-{first.nodes[name].fingerprint}" for name in ("mid", "leaf")}


def _tags(registry: Prunable) -> set[str]:
    return {ref.removeprefix(f"{REGISTRY}/") for ref in registry.refs}


def test_prune_deletes_the_stale_builds_and_a_following_build_finds_everything_current(root, twice):
    registry, stale = twice
    before = _tags(registry)
    plan = plan_prune(options_of(root), registry, Retention(runs=1))
    doomed = {f"{r.repository.rpartition('/')[2]}:{v.tag}" for r in plan.repositories for v in r.verdicts
              if v.delete}
    assert doomed == {f"{node}:{tag}{suffix}" for node, tag in stale.items() for suffix in ("", "-candidate")}
    assert _tags(registry) == before  # planning deletes nothing

    reported: list[tuple[str, Deletion, str]] = []
    # one index per stale build, and the 2 platform images and 2 attestation manifests only it refers to
    assert delete(registry, plan, lambda *args: reported.append(args)) == 2 * 5
    assert _tags(registry) == before - doomed
    assert [len(deletion.tags) for _, deletion, _ in reported if deletion.tags] == [2, 2]
    assert {status for _, _, status in reported} == {"deleted"}

    third = run_build(root, FakeBuilder(registry), registry, test=False)
    assert {node.action for node in third.nodes.values()} == {"skip"}
    assert third.buildx_invocations == 0


def test_the_lockfiles_of_the_newest_runs_keep_their_builds(root, twice):
    registry, _ = twice
    plan = plan_prune(options_of(root), registry, Retention(runs=2))
    assert not any(v.delete for r in plan.repositories for v in r.verdicts)
    reasons = {v.reason for r in plan.repositories for v in r.verdicts}
    assert any(reason.endswith("lock.json (mid)") for reason in reasons)


def test_a_tag_pushed_onto_a_doomed_manifest_after_planning_saves_it(root, twice):
    registry, stale = twice
    plan = plan_prune(options_of(root), registry, Retention(runs=1))
    registry.tag(f"{REGISTRY}/mid:{stale['mid']}", f"{REGISTRY}/mid:pinned-by-someone")
    delete(registry, plan, lambda *args: None)
    assert f"mid:{stale['mid']}" in _tags(registry) and "mid:pinned-by-someone" in _tags(registry)
    assert f"leaf:{stale['leaf']}" not in _tags(registry)


def test_a_human_tag_moved_onto_a_doomed_manifest_after_planning_saves_it(root, twice):
    # a roll-back from elsewhere points mid's human tag at the stale build: the tag names did not change,
    # its digest did; deleting the manifest would have deleted the human tag with it
    registry, stale = twice
    plan = plan_prune(options_of(root), registry, Retention(runs=1))
    registry.tag(f"{REGISTRY}/mid:{stale['mid']}", human_ref("mid"))
    delete(registry, plan, lambda *args: None)
    assert human_ref("mid") in registry.refs and f"mid:{stale['mid']}" in _tags(registry)
    assert f"leaf:{stale['leaf']}" not in _tags(registry)


def test_a_refused_deletion_stops_prune_after_reporting_what_went(root, twice):
    registry, _ = twice
    plan = plan_prune(options_of(root), registry, Retention(runs=1))
    order = [d for r in plan.repositories for d in r.deletions]
    registry.refused = order[1].digest
    reported: list[Deletion] = []
    with pytest.raises(DeletionDisabled):
        delete(registry, plan, lambda repository, deletion, there: reported.append(deletion))
    assert reported == [order[0]]
    assert len(registry.deleted) == 1


def test_human_tags_never_go_whatever_is_kept(root, twice):
    registry, _ = twice
    plan = plan_prune(options_of(root), registry, Retention(runs=0))
    delete(registry, plan, lambda *args: None)
    for name in ("base", "other", "mid", "side", "leaf"):
        assert human_ref(name) in registry.refs


def _lockfile(state: Path, run: str, age_days: float, now: float) -> Path:
    entry = LockEntry(run, f"{REGISTRY}/{run}:1", "f" * 64, f"sha256:{'a' * 64}")
    path = write_lockfile(state / "runs" / run / "lock.json", run, [entry])
    os.utime(path, (now - age_days * DAY_S, now - age_days * DAY_S))
    return path


@pytest.mark.parametrize(("runs", "days", "kept"), [
    (1, 0, ["r0"]), (2, 0, ["r0", "r1"]), (1, 4, ["r0", "r1", "r2"]), (0, 0, []),
    (9, 0, ["r0", "r1", "r2", "r3"]),
])
def test_which_lockfiles_keep_what_they_record(tmp_path: Path, runs: int, days: int, kept: Sequence[str]):
    now = 1_800_000_000.0
    for number, age in enumerate((0.5, 1.5, 3.5, 30)):
        _lockfile(tmp_path, f"r{number}", age, now)
    found = kept_lockfiles(tmp_path, Retention(runs=runs, days=days), now)
    assert [path.parent.name for path, _ in found] == list(kept)


def test_the_published_lockfile_is_always_kept(tmp_path: Path):
    latest = write_lockfile(tmp_path / "latest.lock.json", "r", [LockEntry("n", f"{REGISTRY}/n:1", "e" * 64,
                                                                           f"sha256:{'b' * 64}")])
    found = kept_lockfiles(tmp_path, Retention(runs=0), 0.0)
    assert [path for path, _ in found] == [latest]


ON_A_BASE = """\
stack: t
registry: registry.example/t
platforms: [linux/amd64]
nodes:
  debian: {kind: os, from: "registry.example/ext/debian:12"}
  app: {kind: sdk, parent: debian, tag: "1"}
"""


class BaseUnreachable(Prunable):
    """The registry of the external base fails (a rate limit, an outage) once `failing` is set."""

    failing = False

    def digest(self, reference: str) -> str | None:
        if self.failing and reference.startswith("registry.example/ext/"):
            raise RegistryError(f"HEAD {reference}: HTTP 429 Too Many Requests")
        return super().digest(reference)


def test_a_base_that_cannot_be_resolved_stops_prune_before_it_decides_anything(root):
    # without the base's digest the current fingerprints are not the builds': their content tags looked
    # stale and, with no lockfile to keep them (a fresh state folder), were deleted
    (root / "stacks" / "t" / "stack.yaml").write_text(ON_A_BASE, encoding="utf-8")
    (root / "stacks" / "t" / "app").mkdir(exist_ok=True)
    (root / "stacks" / "t" / "app" / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    registry = BaseUnreachable()
    registry.push("registry.example/ext/debian:12", "debian")
    current = plan_prune(options_of(root), registry, Retention(runs=0)).keep.fingerprints
    content = registry.push(f"{REGISTRY}/app:sb-{next(iter(current))}", "app")
    registry.failing = True
    with pytest.raises(EngineError, match=r"registry\.example/ext/debian:12"):
        plan_prune(options_of(root), registry, Retention(runs=0))
    assert registry.refs[f"{REGISTRY}/app:sb-{next(iter(current))}"] == content


def _prune_json(root: Path, registry: Prunable, monkeypatch: pytest.MonkeyPatch,
                capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict, str]:
    """`stackbuild prune --format json` of root's tiny stack against registry: exit code, stdout parsed
    (it must be one JSON document and nothing else), stderr."""
    monkeypatch.setattr(prune_cli, "RegistryClient", lambda: registry)
    code = main(["prune", "stacks/t", "--root", str(root), "--state-dir", str(root.parent / "state"),
                 "--keep-runs", "1", "--format", "json", *extra])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def _signed(registry: Prunable, node: str, digest: str, suffix: str = ".sig") -> str:
    """A cosign-style tag sha256-<hex>.<suffix> of digest in node's repository (its own manifest)."""
    tag = digest.replace(":", "-") + suffix
    registry.push_single_image(f"{REGISTRY}/{node}:{tag}", [f"signature of {digest}{suffix}"])
    return tag


def test_prune_json_lists_per_repository_what_is_kept_and_what_would_go_and_why(
        root, twice, monkeypatch, capsys):
    registry, stale = twice
    old = registry.refs[f"{REGISTRY}/mid:{stale['mid']}"]
    signature = _signed(registry, "mid", old)
    kept_signature = _signed(registry, "mid", registry.refs[human_ref("mid")], ".att")
    before = _tags(registry)
    code, document, _ = _prune_json(root, registry, monkeypatch, capsys)
    assert code == 0 and _tags(registry) == before
    assert document["dry_run"] is True and document["stopped"] is False
    assert [Path(path).name for path in document["kept_lockfiles"]] == ["latest.lock.json", "lock.json"]
    mid = next(r for r in document["repositories"] if r["repository"] == f"{REGISTRY}/mid")
    assert set(mid) == {"repository", "keep", "delete", "manifests", "left"} and mid["left"] == []
    assert {(entry["tag"], entry["kind"], entry["why"]) for entry in mid["delete"]} == {
        (stale["mid"], "content", "stale"), (f"{stale['mid']}-candidate", "candidate", "stale"),
        (signature, "signature", "signature")}
    assert all(entry["digest"] == old for entry in mid["delete"] if entry["kind"] != "signature")
    whys = {entry["tag"]: (entry["kind"], entry["why"], entry["reason"]) for entry in mid["keep"]}
    assert whys["2"] == (None, "foreign", "not a stackbuild tag")
    assert whys[kept_signature] == ("signature", "signature",
                                    "cosign tag of a manifest prune does not delete")
    assert {why for _, why, _ in whys.values()} >= {"current", "foreign", "signature"}
    children = {entry["digest"] for entry in _descriptors(registry, f"{REGISTRY}/mid@{old}")}
    assert [(m["tags"], m["child_of"], m["status"]) for m in mid["manifests"]] == [
        ([signature], None, "would_delete"), *[([], old, "would_delete")] * len(children),
        ([stale["mid"], f"{stale['mid']}-candidate"], None, "would_delete")]
    assert {m["digest"] for m in mid["manifests"] if m["child_of"]} == children and len(children) == 4
    assert document["summary"] == {"repositories": 5, "tags_kept": len(before) - 5, "tags_to_delete": 5,
                                   "manifests_to_delete": 3 + 2 * 4, "manifests_deleted": 0,
                                   "manifests_already_gone": 0, "manifests_kept_subject_back": 0,
                                   "referrers_left": 0}


def test_prune_yes_json_says_what_was_deleted_and_the_signature_went_too(root, twice, monkeypatch, capsys):
    registry, stale = twice
    signature = _signed(registry, "leaf", registry.refs[f"{REGISTRY}/leaf:{stale['leaf']}"], ".sbom")
    kept_signature = _signed(registry, "leaf", registry.refs[human_ref("leaf")])
    code, document, err = _prune_json(root, registry, monkeypatch, capsys, "--yes")
    assert code == 0 and document["dry_run"] is False and "Traceback" not in err
    statuses = [m["status"] for r in document["repositories"] for m in r["manifests"]]
    assert statuses == ["deleted"] * (3 + 2 * 4) and document["summary"]["manifests_deleted"] == 3 + 2 * 4
    assert f"leaf:{signature}" not in _tags(registry) and f"leaf:{stale['leaf']}" not in _tags(registry)
    assert f"leaf:{kept_signature}" in _tags(registry)


def test_a_stopped_prune_json_still_says_what_went_and_what_stayed(root, twice, monkeypatch, capsys):
    registry, _ = twice
    order = [d for r in plan_prune(options_of(root), registry, Retention(runs=1)).repositories
             for d in r.deletions]
    registry.refused = order[1].digest
    code, document, err = _prune_json(root, registry, monkeypatch, capsys, "--yes")
    assert code == 1 and "enable deletion" in err and "prune stopped" in err
    assert document["stopped"] is True
    statuses = [m["status"] for r in document["repositories"] for m in r["manifests"]]
    assert statuses == ["deleted"] + ["not_deleted"] * (len(order) - 1)
    assert document["summary"]["manifests_deleted"] == 1


class InterruptedPrune(Prunable):
    """Ctrl-C arrives while the manifest `interrupted_at` is being deleted."""

    def __init__(self, interrupted_at: str = "") -> None:
        super().__init__()
        self.interrupted_at = interrupted_at

    def delete_manifest(self, reference: str) -> bool:
        if reference.partition("@")[2] == self.interrupted_at:
            raise KeyboardInterrupt
        return super().delete_manifest(reference)


def test_a_prune_json_stopped_by_ctrl_c_still_prints_the_document_and_exits_130(
        root, monkeypatch, capsys):
    registry = InterruptedPrune()
    build_twice(root, registry)
    capsys.readouterr()  # the builds' logs
    order = [d for r in plan_prune(options_of(root), registry, Retention(runs=1)).repositories
             for d in r.deletions]
    registry.interrupted_at = order[1].digest
    code, document, err = _prune_json(root, registry, monkeypatch, capsys, "--yes")  # old: no document
    assert code == 130 and "prune stopped: 1 manifest(s) deleted before it stopped" in err
    assert document["stopped"] is True
    statuses = [m["status"] for r in document["repositories"] for m in r["manifests"]]
    assert statuses == ["deleted"] + ["not_deleted"] * (len(order) - 1)


def test_prune_yes_json_reports_a_repository_planned_again_as_it_was_carried_out(
        root, twice, monkeypatch, capsys):
    registry, stale = twice

    def plan_then_pin(*args, **kwargs):  # a tag pushed onto mid's doomed manifest right after planning
        plan = plan_prune(*args, **kwargs)
        registry.tag(f"{REGISTRY}/mid:{stale['mid']}", f"{REGISTRY}/mid:pinned-by-someone")
        return plan

    monkeypatch.setattr(prune_cli, "plan_prune", plan_then_pin)
    code, document, err = _prune_json(root, registry, monkeypatch, capsys, "--yes")
    assert code == 0 and "prune_replanned" in err
    mid = next(r for r in document["repositories"] if r["repository"] == f"{REGISTRY}/mid")
    assert mid["delete"] == [] and mid["manifests"] == []
    assert {e["tag"]: e["why"] for e in mid["keep"]}[stale["mid"]] == "protected"
    assert document["summary"]["manifests_deleted"] == 1 + 4 and f"mid:{stale['mid']}" in _tags(registry)


def _descriptors(registry: Prunable, reference: str) -> list[dict]:
    """Every descriptor of the index at reference (platform images and attestation manifests)."""
    manifest = registry.manifest(reference)
    assert manifest is not None
    return manifest.descriptors("manifests")


def _index_of(*digests: str, media_type: str = "application/vnd.oci.image.manifest.v1+json") -> dict:
    return {"schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": media_type, "digest": digest, "size": 1} for digest in digests]}


def test_a_platform_image_a_kept_tag_holds_through_a_nested_index_is_not_deleted(root, twice):
    # a human tag on an index of indexes: the platform image two levels down is still in use, and a
    # stale staging tag on it must not delete it (prune followed only one level of index)
    registry, stale = twice
    platform = registry.platforms(f"{REGISTRY}/mid:{stale['mid']}")["linux/amd64"]
    staging = f"{stale['mid']}-linux-amd64"
    registry.tag(f"{REGISTRY}/mid@{platform}", f"{REGISTRY}/mid:{staging}")
    nested = registry.put(f"{REGISTRY}/mid", _index_of(platform))
    registry.put(f"{REGISTRY}/mid:bundle", _index_of(nested, media_type=OCI_INDEX))
    plan = plan_prune(options_of(root), registry, Retention(runs=1))
    mid = next(r for r in plan.repositories if r.repository.endswith("/mid"))
    assert {v.tag: v.why for v in mid.verdicts}[staging] == "protected"
    delete(registry, plan, lambda *args: None)
    assert f"{REGISTRY}/mid@{platform}" in registry.stored and f"mid:{staging}" in _tags(registry)


def test_the_signatures_of_a_deleted_index_s_platform_images_go_too(root, twice):
    # `cosign sign --recursive` leaves a .sig per platform image; the image goes (untagged, only the
    # deleted index refers to it), and so does what signed it
    registry, stale = twice
    platforms = registry.platforms(f"{REGISTRY}/leaf:{stale['leaf']}")
    signatures = [_signed(registry, "leaf", digest) for digest in platforms.values()]
    current = _signed(registry, "leaf", registry.platforms(human_ref("leaf"))["linux/amd64"])
    plan = plan_prune(options_of(root), registry, Retention(runs=1))
    leaf = next(r for r in plan.repositories if r.repository.endswith("/leaf"))
    reasons = {v.tag: v.reason for v in leaf.verdicts if v.delete}
    assert all(reasons[tag] == "cosign tag of a manifest only deleted indexes refer to" for tag in signatures)
    assert delete(registry, plan, lambda *args: None) == 2 * 5 + len(signatures)
    assert not {f"leaf:{tag}" for tag in signatures} & _tags(registry)
    assert f"leaf:{current}" in _tags(registry)


def test_signatures_whose_manifest_an_earlier_prune_deleted_go_and_others_stay(root, twice):
    registry, stale = twice
    old = registry.refs[f"{REGISTRY}/leaf:{stale['leaf']}"]
    orphan = _signed(registry, "leaf", old)
    untagged = registry.platforms(human_ref("leaf"))["linux/amd64"]  # still there, under the index
    kept = _signed(registry, "leaf", untagged, ".att")
    registry.delete_manifest(f"{REGISTRY}/leaf@{old}")  # an earlier prune, before it knew cosign tags
    plan = plan_prune(options_of(root), registry, Retention(runs=1))
    leaf = next(r for r in plan.repositories if r.repository.endswith("/leaf"))
    verdicts = {v.tag: (v.delete, v.why) for v in leaf.verdicts}
    assert verdicts[orphan] == (True, "orphaned") and verdicts[kept] == (False, "signature")
    delete(registry, plan, lambda *args: None)
    assert f"leaf:{orphan}" not in _tags(registry) and f"leaf:{kept}" in _tags(registry)


class DeletedMeanwhile(Prunable):
    """Another prune deletes `raced` between this one's check of the listing and its DELETE."""

    raced = ""

    def delete_manifest(self, reference: str) -> bool:
        if reference.partition("@")[2] == self.raced:
            with self.lock:
                self.stored.discard(reference)
        return super().delete_manifest(reference)


def _raced(root: Path) -> DeletedMeanwhile:
    """The tiny stack built twice, the first manifest prune would delete deleted meanwhile by another."""
    registry = DeletedMeanwhile()
    build_twice(root, registry)
    registry.raced = next(d for r in plan_prune(options_of(root), registry, Retention(runs=1)).repositories
                          for d in r.deletions).digest
    return registry


def test_a_manifest_already_gone_is_not_counted_as_deleted(root):
    registry = _raced(root)
    reported: list[str] = []
    plan = plan_prune(options_of(root), registry, Retention(runs=1))
    assert delete(registry, plan, lambda repository, deletion, status: reported.append(status)) == sum(
        len(r.deletions) for r in plan.repositories) - 1  # old: counted the one gone too
    assert reported[0] == "already_gone" and set(reported[1:]) == {"deleted"}


def test_prune_yes_says_how_many_were_deleted_and_how_many_already_gone(root, monkeypatch, capsys):
    registry = _raced(root)
    capsys.readouterr()
    monkeypatch.setattr(prune_cli, "RegistryClient", lambda: registry)
    assert main(["prune", "stacks/t", "--root", str(root), "--state-dir", str(root.parent / "state"),
                 "--keep-runs", "1", "--yes", "-q"]) == 0
    out = capsys.readouterr().out
    assert f"already gone {REGISTRY}/" in out and "deleted 9 manifest(s); 1 already gone;" in out


def _artifact(registry: Prunable, node: str, subject: str, what: str) -> str:
    """An untagged OCI 1.1 artifact in node's repository whose `subject` is subject; its digest."""
    return registry.put(f"{REGISTRY}/{node}", {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": f"sha256:{'4' * 64}",
                   "size": 2},
        "layers": [], "annotations": {"what": what},
        "subject": {"mediaType": OCI_INDEX, "digest": subject, "size": 1}},
        media_type="application/vnd.oci.image.manifest.v1+json")


def test_a_referrers_tag_s_artifact_that_names_another_subject_is_left_and_reported(root, twice):
    # the stale build's referrers index also lists an artifact whose own subject is the current build
    # (a bad merge of referrers indexes, another tool): it is no referrer of the stale build, keep it
    registry, stale = twice
    old, current = registry.refs[f"{REGISTRY}/leaf:{stale['leaf']}"], registry.refs[human_ref("leaf")]
    own, foreign = _artifact(registry, "leaf", old, "own"), _artifact(registry, "leaf", current, "foreign")
    registry.put(f"{REGISTRY}/leaf:{old.replace(':', '-')}", _index_of(own, foreign))
    plan = plan_prune(options_of(root), registry, Retention(runs=1))
    leaf = next(r for r in plan.repositories if r.repository.endswith("/leaf"))
    assert [d.digest for d in leaf.deletions if d.referrer_of] == [own]
    assert [(u.digest, u.subject) for u in getattr(leaf, "left", ())] == [(foreign, current)]
    delete(registry, plan, lambda *args: None)
    assert f"{REGISTRY}/leaf@{foreign}" in registry.stored  # old: deleted with the referrers tag
    assert f"{REGISTRY}/leaf@{own}" not in registry.stored


def test_an_orphan_s_signature_stays_when_its_subject_is_pushed_again_after_planning(root, twice):
    # planning found the subject gone; before the deletion someone pushed it again by digest (no tag
    # changes, so the listing check sees nothing): its signature must not go
    registry, stale = twice
    old = registry.refs[f"{REGISTRY}/leaf:{stale['leaf']}"]
    orphan = _signed(registry, "leaf", old)
    artifact = _artifact(registry, "leaf", old, "referrer")
    referrers = registry.put(f"{REGISTRY}/leaf:{old.replace(':', '-')}", _index_of(artifact))
    registry.delete_manifest(f"{REGISTRY}/leaf@{old}")  # an earlier prune
    plan = plan_prune(options_of(root), registry, Retention(runs=1))
    leaf = next(r for r in plan.repositories if r.repository.endswith("/leaf"))
    assert {v.tag: v.why for v in leaf.verdicts if v.delete}[orphan] == "orphaned"
    with registry.lock:
        registry.stored.add(f"{REGISTRY}/leaf@{old}")  # pushed again by digest: same bytes, same digest
    reported: list[tuple[str, object]] = []
    deleted = delete(registry, plan, lambda repository, deletion, status: reported.append(
        (deletion.digest, status)))
    assert f"leaf:{orphan}" in _tags(registry)  # old: deleted
    assert {f"{REGISTRY}/leaf@{artifact}", f"{REGISTRY}/leaf@{referrers}"} <= registry.stored
    assert {digest for digest, status in reported if status == "subject_back"} == {
        registry.refs[f"{REGISTRY}/leaf:{orphan}"], artifact, referrers}
    assert [status for _, status in reported].count("deleted") == deleted == sum(
        len(r.deletions) for r in plan.repositories) - 3


def test_the_untagged_platform_images_only_a_deleted_index_refers_to_go_and_shared_ones_stay(root, twice):
    # content-addressed builds share identical platform images between indexes: the one the current
    # index refers to too must stay; the stale index's own ones go
    registry, stale = twice
    old = registry.refs[f"{REGISTRY}/leaf:{stale['leaf']}"]
    stale_platforms = {entry["digest"] for entry in _descriptors(registry, f"{REGISTRY}/leaf@{old}")}
    current_platforms = {entry["digest"] for entry in _descriptors(registry, human_ref("leaf"))}
    shared = registry.platforms(human_ref("leaf"))["linux/amd64"]
    extra = registry.put(f"{REGISTRY}/leaf:sb-{'0' * 64}", _index_of(shared, *stale_platforms))
    plan = plan_prune(options_of(root), registry, Retention(runs=1))
    leaf = next(r for r in plan.repositories if r.repository.endswith("/leaf"))
    untagged = {d.digest for d in leaf.deletions if not d.tags}
    assert untagged == stale_platforms and len(untagged) == 4  # old: none (2 images, 2 attestations)
    order = [d.digest for d in leaf.deletions]
    assert all(order.index(digest) < order.index(old) for digest in untagged)  # before the index
    delete(registry, plan, lambda *args: None)
    assert not {f"{REGISTRY}/leaf@{digest}" for digest in untagged} & registry.stored
    assert {f"{REGISTRY}/leaf@{digest}" for digest in current_platforms} <= registry.stored
    assert f"{REGISTRY}/leaf@{extra}" not in registry.stored
    third = run_build(root, FakeBuilder(registry), registry, test=False)
    assert {node.action for node in third.nodes.values()} == {"skip"}


def test_a_nested_index_s_untagged_images_go_before_it_and_the_dry_run_shows_what_is_untagged(
        root, twice, monkeypatch, capsys):
    registry, stale = twice
    old, current = registry.refs[f"{REGISTRY}/leaf:{stale['leaf']}"], registry.refs[human_ref("leaf")]
    image = registry.put(f"{REGISTRY}/leaf", {"schemaVersion": 2, "annotations": {"n": "1"}},
                         media_type="application/vnd.oci.image.manifest.v1+json")
    nested = registry.put(f"{REGISTRY}/leaf", _index_of(image))
    bundle = registry.put(f"{REGISTRY}/leaf:sb-{'0' * 64}", _index_of(nested, media_type=OCI_INDEX))
    foreign = _artifact(registry, "leaf", current, "foreign")
    registry.put(f"{REGISTRY}/leaf:{old.replace(':', '-')}", _index_of(foreign))
    plan = plan_prune(options_of(root), registry, Retention(runs=1))
    order = [d.digest for r in plan.repositories for d in r.deletions]
    assert order.index(image) < order.index(nested) < order.index(bundle)  # old: neither deleted
    monkeypatch.setattr(prune_cli, "RegistryClient", lambda: registry)
    capsys.readouterr()
    assert main(["prune", "stacks/t", "--root", str(root), "--state-dir", str(root.parent / "state"),
                 "--keep-runs", "1", "-q"]) == 0
    out = capsys.readouterr().out
    assert f" {image[:19]}…  only deleted indexes refer to it ({bundle[:19]}…)" in out
    assert "  leave  (untagged)" in out and f"{foreign[:19]}…  listed by {old.replace(':', '-')[:19]}…, " \
        f"but names {current[:19]}… as its subject: no referrer of it, left" in out


def _cache_index(*blobs: str) -> dict:
    """A layer cache as buildx's `--cache-to type=registry` stores it (read from the registry on :5000):
    an OCI index whose `manifests` are blobs, the layers and buildkit's cache config, not manifests."""
    return {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        *({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": blob, "size": 1}
          for blob in blobs[:-1]),
        {"mediaType": "application/vnd.buildkit.cacheconfig.v0", "digest": blobs[-1], "size": 1}]}


def test_a_stale_layer_cache_is_one_manifest_its_blobs_are_no_untagged_manifests(root, twice):
    # the blobs a cache index lists were planned as untagged manifests: the dry run counted them, the
    # table listed them as `delete (untagged)`, and each cost a DELETE reported as `already gone`
    registry, _ = twice
    blobs = [f"sha256:{digit * 64}" for digit in "567"]
    cache = registry.put(f"{REGISTRY}/mid:sbcache-{'0' * 16}", _cache_index(*blobs))
    plan = plan_prune(options_of(root), registry, Retention(runs=1))
    mid = next(r for r in plan.repositories if r.repository.endswith("/mid"))
    assert not {d.digest for d in mid.deletions} & set(blobs)
    assert [d.tags for d in mid.deletions if d.digest == cache] == [(f"sbcache-{'0' * 16}",)]
    reported: list[str] = []
    delete(registry, plan, lambda repository, deletion, status: reported.append(status))
    assert set(reported) == {"deleted"} and f"mid:sbcache-{'0' * 16}" not in _tags(registry)


def test_prune_yes_does_not_say_nothing_to_delete_when_it_kept_what_relies_on_a_subject_that_came_back(
        root, twice, monkeypatch, capsys):
    registry, _ = twice
    subject = registry.put(f"{REGISTRY}/leaf", {"schemaVersion": 2, "annotations": {"n": "gone"}},
                           media_type="application/vnd.oci.image.manifest.v1+json")
    orphan = _signed(registry, "leaf", subject)
    registry.delete_manifest(f"{REGISTRY}/leaf@{subject}")  # an earlier prune, or anyone

    def plan_then_push_back(*args, **kwargs):  # the orphan's subject pushed again by digest meanwhile
        plan = plan_prune(*args, **kwargs)
        with registry.lock:
            registry.stored.add(f"{REGISTRY}/leaf@{subject}")
        return plan

    monkeypatch.setattr(prune_cli, "plan_prune", plan_then_push_back)
    monkeypatch.setattr(prune_cli, "RegistryClient", lambda: registry)
    capsys.readouterr()
    assert main(["prune", "stacks/t", "--root", str(root), "--state-dir", str(root.parent / "state"),
                 "--keep-runs", "2", "--yes", "-q"]) == 0
    out = capsys.readouterr().out
    assert f"kept         {REGISTRY}/leaf@{registry.refs[f'{REGISTRY}/leaf:{orphan}']}" in out
    assert f"leaf:{orphan}" in _tags(registry)
    # old: "nothing to delete", though a deletion was planned, and kept
    assert out.splitlines()[-1] == \
        "nothing deleted; 1 kept: a subject it relies on is in the repository again"


class Reading(Prunable):
    """Prunable that notes every manifest read by digest."""

    def __init__(self) -> None:
        super().__init__()
        self.read: list[str] = []

    def manifest(self, reference: str) -> Manifest | None:
        if "@" in reference:
            with self.lock:
                self.read.append(reference.partition("@")[2])
        return super().manifest(reference)


def test_prune_reads_no_artifact_of_a_referrers_tag_whose_subject_a_kept_tag_holds(root):
    # cosign's OCI 1.1 mode adds an artifact to the referrers index at each signing: a kept image signed
    # nightly lists more every day, and prune read every one of them at every run (one GET each)
    registry = Reading()
    build_twice(root, registry)
    current = registry.refs[human_ref("leaf")]
    signatures = [_artifact(registry, "leaf", current, f"night {night}") for night in range(20)]
    registry.put(f"{REGISTRY}/leaf:{current.replace(':', '-')}", _index_of(*signatures))
    plan = plan_prune(options_of(root), registry, Retention(runs=1))
    assert not set(registry.read) & set(signatures)  # old: all 20 read
    leaf = next(r for r in plan.repositories if r.repository.endswith("/leaf"))
    assert not {d.digest for d in leaf.deletions} & set(signatures)


class Killed(BaseException):
    """Stands in for SIGTERM's default action in the test process: the process ends there."""


class SignalledPrune(Prunable):
    """`signalled` arrives while the DELETE of `signalled_at` is under way, once the registry did it."""

    def __init__(self) -> None:
        super().__init__()
        self.signalled_at, self.signalled = "", signal.SIGINT

    def delete_manifest(self, reference: str) -> bool:
        there = super().delete_manifest(reference)
        if reference.partition("@")[2] == self.signalled_at:
            signal.raise_signal(self.signalled)
        return there


@pytest.mark.parametrize(("signalled", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_a_delete_lets_it_finish_and_be_reported_then_prune_stops(
        root, monkeypatch, capsys, signalled, code):
    # Ctrl-C lands while prune waits for the registry's answer to a DELETE the registry carries out:
    # prune said `not_deleted` and "1 manifest(s) deleted" of two; SIGTERM (a CI job cancelled) ended it
    # without a word or the JSON document
    registry = SignalledPrune()
    build_twice(root, registry)
    capsys.readouterr()
    order = [d for r in plan_prune(options_of(root), registry, Retention(runs=1)).repositories
             for d in r.deletions]
    registry.signalled_at, registry.signalled = order[1].digest, signalled

    def killed(signum, frame):
        raise Killed

    previous = signal.signal(signal.SIGTERM, killed)
    try:
        result, document, err = _prune_json(root, registry, monkeypatch, capsys, "--yes")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert result == code and "prune stopped: 2 manifest(s) deleted before it stopped" in err
    statuses = [m["status"] for r in document["repositories"] for m in r["manifests"]]
    assert statuses == ["deleted"] * 2 + ["not_deleted"] * (len(order) - 2)
    assert document["stopped"] is True and len(registry.deleted) == 2


def _under_a_missing_nested_index(registry: Prunable, stale: dict[str, str], tag: str) -> tuple[str, str]:
    """tag on an index of one nested index, gone from the registry, that referred to the stale mid
    build's amd64 image (which only the stale index refers to otherwise): (nested index, image)."""
    platform = registry.platforms(f"{REGISTRY}/mid:{stale['mid']}")["linux/amd64"]
    nested = registry.put(f"{REGISTRY}/mid", _index_of(platform))
    registry.put(f"{REGISTRY}/mid:{tag}", _index_of(nested, media_type=OCI_INDEX))
    with registry.lock:
        registry.stored.discard(f"{REGISTRY}/mid@{nested}")  # a half-done push, a registry's own cleanup
    return nested, platform


def test_a_kept_tag_s_nested_index_that_is_gone_stops_prune_before_it_deletes_anything(
        root, twice, monkeypatch, capsys):
    # what the missing index referred to is unknown, so nothing protects it: the stale mid index took
    # the amd64 image the human tag `bundle` still holds through it (old: planned, then deleted)
    registry, stale = twice
    nested, platform = _under_a_missing_nested_index(registry, stale, "bundle")
    with pytest.raises(EngineError) as caught:
        plan_prune(options_of(root), registry, Retention(runs=1))
    message = str(caught.value)
    assert f"{REGISTRY}/mid@{nested}" in message and "kept tag bundle" in message
    assert "prune stopped before deleting anything" in message and "push" in caught.value.hint
    monkeypatch.setattr(prune_cli, "RegistryClient", lambda: registry)
    capsys.readouterr()
    code = main(["prune", "stacks/t", "--root", str(root), "--state-dir", str(root.parent / "state"),
                 "--keep-runs", "1", "--yes", "--format", "json"])
    out, err = capsys.readouterr()
    # as every stop while planning: no document, the error on stderr
    assert code == 1 and out == "" and f"error: cannot read {REGISTRY}/mid@{nested}" in err
    assert registry.deleted == [] and f"{REGISTRY}/mid@{platform}" in registry.stored


def test_a_kept_lockfile_s_index_whose_nested_index_is_gone_stops_prune(root, twice):
    # the stale-looking tag's index is what the newest run's lockfile records: kept, and so must be
    # what it refers to, through the nested index that cannot be read
    registry, stale = twice
    nested, _ = _under_a_missing_nested_index(registry, stale, f"sb-{'0' * 64}")
    recorded = registry.refs[f"{REGISTRY}/mid:sb-{'0' * 64}"]
    state = root.parent / "state"
    path = write_lockfile(state / "runs" / "zz-newest" / "lock.json", "zz-newest",
                          [LockEntry("mid", f"{REGISTRY}/mid:pinned", "0" * 64, recorded)])
    os.utime(path, (path.stat().st_mtime + DAY_S, path.stat().st_mtime + DAY_S))
    with pytest.raises(EngineError, match=rf"{REGISTRY}/mid@{nested}.*lock\.json \(mid\)"):
        plan_prune(options_of(root), registry, Retention(runs=1))


def test_a_stale_tag_s_nested_index_that_is_gone_does_not_stop_prune(root, twice):
    # an interrupted prune deletes a nested index's images, then the nested index, then the index: the
    # next one finds the index and its nested index gone, and goes on
    registry, stale = twice
    nested, platform = _under_a_missing_nested_index(registry, stale, f"sb-{'0' * 64}")
    plan = plan_prune(options_of(root), registry, Retention(runs=1))
    reported: dict[str, str] = {}
    delete(registry, plan, lambda repository, deletion, status: reported.update({deletion.digest: status}))
    assert reported[nested] == "already_gone" and reported[platform] == "deleted"
    assert f"mid:sb-{'0' * 64}" not in _tags(registry)


class NestedUnreadable(Prunable):
    """A GET of the manifest `failing` fails (a 500 past every retry)."""

    failing = ""

    def manifest(self, reference: str) -> Manifest | None:
        if self.failing and reference.endswith(f"@{self.failing}"):
            raise RegistryError(f"GET {reference}: HTTP 500")
        return super().manifest(reference)


def test_a_nested_index_that_cannot_be_read_stops_prune_saying_which_tag_holds_it(root):
    registry = NestedUnreadable()
    stale = build_twice(root, registry)
    nested, _ = _under_a_missing_nested_index(registry, stale, "bundle")
    with registry.lock:
        registry.stored.add(f"{REGISTRY}/mid@{nested}")
    registry.failing = nested
    with pytest.raises(EngineError, match=rf"cannot read {REGISTRY}/mid@{nested}, which tag bundle "
                                          r"refers to: GET .*HTTP 500; what it refers to is unknown"):
        plan_prune(options_of(root), registry, Retention(runs=1))
    assert registry.deleted == []


def test_an_index_nested_deeper_than_prune_follows_stops_it_naming_what_it_did_not_delete(root, twice):
    registry, stale = twice
    digest = registry.platforms(f"{REGISTRY}/mid:{stale['mid']}")["linux/amd64"]
    for level in range(NESTING + 1):
        digest = registry.put(f"{REGISTRY}/mid", _index_of(digest, media_type=OCI_INDEX if level else
                                                         "application/vnd.oci.image.manifest.v1+json"))
    registry.tag(f"{REGISTRY}/mid@{digest}", f"{REGISTRY}/mid:deep")
    with pytest.raises(PruneError) as caught:
        plan_prune(options_of(root), registry, Retention(runs=1))
    assert f"nests indexes deeper than {NESTING}" in caught.value.message
    assert f"prune stopped before deleting anything of {REGISTRY}/mid" in caught.value.message


def test_prune_yes_table_shows_a_repository_planned_again_before_its_deletions(
        root, twice, monkeypatch, capsys):
    # the table printed first kept saying the pinned manifest would be deleted, and nothing said otherwise
    registry, stale = twice

    def plan_then_pin(*args, **kwargs):
        plan = plan_prune(*args, **kwargs)
        registry.tag(f"{REGISTRY}/mid:{stale['mid']}", f"{REGISTRY}/mid:pinned-by-someone")
        return plan

    monkeypatch.setattr(prune_cli, "plan_prune", plan_then_pin)
    monkeypatch.setattr(prune_cli, "RegistryClient", lambda: registry)
    assert main(["prune", "stacks/t", "--root", str(root), "--state-dir", str(root.parent / "state"),
                 "--keep-runs", "1", "--yes"]) == 0
    out = capsys.readouterr().out
    first, again = out.split(f"{REGISTRY}/mid: its tags changed since they were listed; planned again:\n")
    assert f"  delete {stale['mid']}" in first
    mid = again.split(f"{REGISTRY}/mid:\n")[1].split("\n")
    assert next(line for line in mid if f" {stale['mid']} " in line).startswith("  keep ")


def _pin(root: Path, digest: str, fingerprint: str = "1" * 64,
         platforms: dict[str, str] | None = None) -> None:
    """digest, an index of mid, recorded (with its platform images) by the newest run's lockfile."""
    state = root.parent / "state"
    entry = LockEntry("mid", f"{REGISTRY}/mid:pinned", fingerprint, digest, platforms or {})
    path = write_lockfile(state / "runs" / "zz-newest" / "lock.json", "zz-newest", [entry])
    os.utime(path, (path.stat().st_mtime + DAY_S, path.stat().st_mtime + DAY_S))


def _untag(registry: Prunable, digest: str) -> None:
    """Every tag on digest deleted by hand (the manifest stays, untagged)."""
    with registry.lock:
        for ref in [ref for ref, at in registry.refs.items() if at == digest]:
            del registry.refs[ref]


def _first_mid_untagged_and_pinned(root: Path, registry: Prunable,
                                   stale: dict[str, str]) -> tuple[str, set[str]]:
    """The first build's mid index, recorded by the newest lockfile with its fingerprint, its content and
    candidate tags deleted by hand: (index, what it refers to: platform images, attestation manifests)."""
    first = registry.refs[f"{REGISTRY}/mid:{stale['mid']}"]
    _pin(root, first, stale["mid"].removeprefix("sb-"), registry.platforms(f"{REGISTRY}/mid@{first}"))
    _untag(registry, first)
    return first, {entry["digest"] for entry in _descriptors(registry, f"{REGISTRY}/mid@{first}")}


def test_what_a_kept_lockfile_s_index_no_tag_holds_refers_to_stays_when_a_stale_index_shares_it(root, twice):
    # the index is kept, but was kept as one manifest: its attestation manifests (not recorded in the
    # lockfile as its platform images are) went with a stale index referring to the same ones
    registry, stale = twice
    first, under = _first_mid_untagged_and_pinned(root, registry, stale)
    body = json.loads(registry.manifest_body(f"{REGISTRY}/mid@{first}") or b"{}")
    sharing = registry.put(f"{REGISTRY}/mid:sb-{'a' * 64}", {**body, "annotations": {"re": "pushed"}})
    plan = plan_prune(options_of(root), registry, Retention(runs=1))
    mid = next(r for r in plan.repositories if r.repository.endswith("/mid"))
    assert {d.digest for d in mid.deletions} == {sharing}  # old: and the 2 attestation manifests
    delete(registry, plan, lambda *args: None)
    assert {f"{REGISTRY}/mid@{digest}" for digest in {first, *under}} <= registry.stored


def test_a_kept_lockfile_s_untagged_index_keeps_its_nested_indexes_and_what_they_refer_to(root, twice):
    registry, _ = twice
    image = registry.put(f"{REGISTRY}/mid", {"schemaVersion": 2, "annotations": {"n": "pinned"}},
                         media_type="application/vnd.oci.image.manifest.v1+json")
    nested = registry.put(f"{REGISTRY}/mid", _index_of(image))
    pinned = registry.put(f"{REGISTRY}/mid", _index_of(nested, media_type=OCI_INDEX))  # no tag holds it
    _pin(root, pinned)
    bundle = registry.put(f"{REGISTRY}/mid:sb-{'a' * 64}", {**_index_of(nested, media_type=OCI_INDEX),
                                                             "annotations": {"a": "stale"}})
    plan = plan_prune(options_of(root), registry, Retention(runs=1))
    mid = next(r for r in plan.repositories if r.repository.endswith("/mid"))
    going = {d.digest for d in mid.deletions}
    assert bundle in going and not going & {pinned, nested, image}  # old: nested and image went
    delete(registry, plan, lambda *args: None)
    assert {f"{REGISTRY}/mid@{digest}" for digest in (pinned, nested, image)} <= registry.stored


def test_a_kept_lockfile_s_index_nested_in_a_stale_index_keeps_what_it_refers_to(root, twice):
    # the pinned index itself stayed, but what it refers to went with the stale index above it
    registry, stale = twice
    first, under = _first_mid_untagged_and_pinned(root, registry, stale)
    bundle = registry.put(f"{REGISTRY}/mid:sb-{'a' * 64}", _index_of(first, media_type=OCI_INDEX))
    plan = plan_prune(options_of(root), registry, Retention(runs=1))
    mid = next(r for r in plan.repositories if r.repository.endswith("/mid"))
    assert {d.digest for d in mid.deletions} == {bundle}  # old: and the 2 attestation manifests
    delete(registry, plan, lambda *args: None)
    assert {f"{REGISTRY}/mid@{digest}" for digest in {first, *under}} <= registry.stored


def test_a_kept_lockfile_s_untagged_index_that_cannot_be_read_stops_prune(root):
    registry = NestedUnreadable()
    stale = build_twice(root, registry)
    first, _ = _first_mid_untagged_and_pinned(root, registry, stale)
    registry.failing = first
    with pytest.raises(PruneError, match=rf"cannot read {REGISTRY}/mid@{first}, kept \(in .*zz-newest/lock"
                                         r"\.json \(mid\)\): GET .*HTTP 500; what it refers to is unknown"):
        plan_prune(options_of(root), registry, Retention(runs=1))
    assert registry.deleted == []


def test_a_kept_lockfile_s_untagged_index_whose_nested_index_is_gone_stops_prune(root, twice):
    registry, stale = twice
    nested, platform = _under_a_missing_nested_index(registry, stale, "bundle")
    pinned = registry.refs.pop(f"{REGISTRY}/mid:bundle")
    _pin(root, pinned)
    with pytest.raises(PruneError, match=rf"cannot read {REGISTRY}/mid@{nested}: the registry does not have "
                                         rf"that index, which must stay \(the index {pinned} .*zz-newest"):
        plan_prune(options_of(root), registry, Retention(runs=1))
    assert registry.deleted == [] and f"{REGISTRY}/mid@{platform}" in registry.stored


def test_a_kept_lockfile_s_index_the_registry_no_longer_has_keeps_nothing_and_prune_goes_on(root, twice):
    # deleted by hand: nothing can be pulled through it, so nothing under it is kept for it
    registry, stale = twice
    first, _ = _first_mid_untagged_and_pinned(root, registry, stale)
    registry.delete_manifest(f"{REGISTRY}/mid@{first}")
    plan = plan_prune(options_of(root), registry, Retention(runs=1))
    assert any(d.tags for r in plan.repositories for d in r.deletions)  # leaf's stale build still goes
