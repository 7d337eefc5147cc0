"""`stackbuild prune` against real registries (Debian's docker-registry, distribution 2.8): with
deletion enabled it deletes only the stale builds' tags and cosign's tags of their images (signed with
the real cosign), and a following build still finds everything; without, it stops with how to enable
deletion and deletes nothing.

Tiny stacks (FROM scratch + COPY) from tests/integration/publishing.py, built with the default
registry layer cache (so sbcache- tags are there too).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from engine.build.builder import BuildxBuilder
from engine.cli.main import main
from engine.registry.client import RegistryClient
from engine.registry.cosign import Cosign, sign_argv
from engine.run import api
from engine.state.report import RunReport
from tests.integration.conftest import _unavailable, start_registry
from tests.integration.publishing import QUIET, options_for, unique, write_stack


def _built_twice(tmp_path: Path, prefix: str, builder: BuildxBuilder) -> tuple[api.Options, RunReport]:
    """The tiny stack built, then built again with the child's file changed; the first run's report."""
    write_stack(tmp_path, unique("root"), unique("child"))
    options = options_for(tmp_path, prefix)
    first = api.build(options, builder, QUIET)
    assert first.status == "succeeded", {n: r.error for n, r in first.nodes.items() if r.error}
    (tmp_path / "stacks/pub/child/child.txt").write_text(unique("child changed"), encoding="utf-8")
    second = api.build(options, builder, QUIET)
    assert second.status == "succeeded", {n: r.error for n, r in second.nodes.items() if r.error}
    assert {name for name, node in second.nodes.items() if node.action == "build"} == {"child"}
    return options, first


def _prune(options: api.Options, *extra: str) -> int:
    return main(["prune", "stacks/pub", "--root", str(options.root), "--registry", options.registry,
                 "--state-dir", str(options.state_dir), "--keep-runs", "1", *extra])


def _tags(options: api.Options) -> dict[str, set[str]]:
    client = RegistryClient()
    return {name: set(client.tags(node.repository)) for name, node in api.load(options).nodes.items()}


def _signed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *references: str) -> list[str]:
    """Sign each repository@digest with the real cosign (a fresh key); the tags cosign stored."""
    if shutil.which("cosign") is None:
        _unavailable("cosign is not installed")
    monkeypatch.setenv("COSIGN_PASSWORD", "test-only-password")
    subprocess.run(["cosign", "generate-key-pair"], cwd=tmp_path, check=True, capture_output=True,
                   env={**os.environ, "COSIGN_PASSWORD": "test-only-password"})
    for reference in references:
        Cosign().sign(reference, tmp_path / "cosign.key")
    return [reference.partition("@")[2].replace(":", "-") + ".sig" for reference in references]


def test_prune_deletes_only_the_stale_tags_and_their_signatures_and_a_no_op_build_follows(
        tmp_path: Path, registry: str, builder: BuildxBuilder, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    options, first = _built_twice(tmp_path, f"{registry}/prune", builder)
    old = first.nodes["child"].fingerprint
    child_repository = api.load(options).nodes["child"].repository
    digest, current = first.nodes["child"].digest, RegistryClient().digest(f"{child_repository}:1")
    signature, kept_signature = _signed(tmp_path, monkeypatch, f"{child_repository}@{digest}",
                                        f"{child_repository}@{current}")
    stale = {f"sb-{old}", f"sb-{old}-candidate", signature}
    before = _tags(options)
    assert stale | {kept_signature} <= before["child"]
    assert any(tag.startswith("sbcache-") for tag in before["child"])  # the layer cache is there to keep

    assert _prune(options) == 0
    dry = capsys.readouterr().out
    to_delete = {line.split()[1] for line in dry.splitlines() if line.startswith("  delete ")}
    assert to_delete == stale | {"(untagged)"}
    platforms = {entry["digest"] for entry in _index(RegistryClient(), f"{child_repository}@{digest}")}
    untagged = {line.split()[2] for line in dry.splitlines() if line.startswith("  delete (untagged)")}
    assert untagged == {f"{platform[:19]}…" for platform in platforms}  # old: left for the registry's GC
    assert f"dry run: nothing deleted; `stackbuild prune --yes` deletes {2 + len(platforms)} manifest(s)" \
        in dry
    assert _prune(options, "--format", "json") == 0
    document = json.loads(capsys.readouterr().out)
    child = next(r for r in document["repositories"] if r["repository"] == child_repository)
    assert {entry["tag"] for entry in child["delete"]} == stale and document["dry_run"] is True
    assert [m["status"] for m in child["manifests"]] == ["would_delete"] * (2 + len(platforms))
    assert _tags(options) == before

    assert _prune(options, "--yes") == 0
    real = capsys.readouterr().out
    assert f"deleted      {child_repository}@{digest} (sb-{old}, sb-{old}-candidate)" in real
    assert f"({signature})" in real
    assert "registry garbage-collect" in real
    assert _tags(options) == {"root": before["root"], "child": before["child"] - stale}
    assert kept_signature in _tags(options)["child"]
    assert all(RegistryClient().manifest_gone(f"{child_repository}@{gone}") for gone in {digest, *platforms})

    third = api.build(options, builder, QUIET)
    assert third.buildx_invocations == 0
    assert {node.action for node in third.nodes.values()} == {"skip"}
    assert _prune(options) == 0
    assert "nothing to delete" in capsys.readouterr().out


def test_a_registry_that_refuses_deletion_stops_prune_with_how_to_enable_it(
        tmp_path: Path, builder: BuildxBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    process, address = start_registry(tmp_path / "registry", delete=False)
    try:
        options, _ = _built_twice(tmp_path / "repo", f"{address}/nodelete", builder)
        before = _tags(options)
        assert _prune(options, "--yes") == 1
        err = capsys.readouterr().err
        assert "does not allow deleting manifests" in err and "UNSUPPORTED" in err
        assert "storage: delete: enabled: true" in err
        assert "prune stopped: nothing deleted; the rest stays" in err
        assert "Traceback" not in err
        assert _tags(options) == before
    finally:
        process.terminate()
        process.wait(timeout=10)


def _cosign(tmp_path: Path, reference: str, *flags: str) -> None:
    """The real cosign signs reference with tmp_path's key (made on first use) and flags, e.g.
    --recursive or the OCI 1.1 referrers mode (experimental), which on distribution 2.8 (no referrers
    API) keeps the signature under the referrers tag sha256-<subject hex>."""
    if shutil.which("cosign") is None:
        _unavailable("cosign is not installed")
    env = {**os.environ, "COSIGN_PASSWORD": "test-only-password", "COSIGN_EXPERIMENTAL": "1"}
    if not (tmp_path / "cosign.key").exists():
        subprocess.run(["cosign", "generate-key-pair"], cwd=tmp_path, check=True, capture_output=True,
                       env=env)
    subprocess.run(["cosign", *sign_argv(reference, tmp_path / "cosign.key")[:-1], *flags, reference],
                   check=True, capture_output=True, env=env, timeout=120)


def _subject_tags(tags: set[str], digests: set[str]) -> set[str]:
    """The cosign and referrers tags about digests among tags."""
    return {tag for tag in tags if tag.startswith("sha256-") and tag[:71].replace("-", ":", 1) in digests}


def _index(client: RegistryClient, reference: str) -> list[dict[str, Any]]:
    """The descriptors of the index at reference."""
    manifest = client.manifest(reference)
    assert manifest is not None, reference
    return manifest.descriptors("manifests")


def _orphan(tmp_path: Path, repository: str) -> str:
    """A manifest pushed, signed by cosign and deleted again (as by an older prune): its .sig tag."""
    client = RegistryClient()
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": client.put_blob(repository, config), "size": len(config)},
                       "layers": [], "annotations": {"made-by": unique("orphan")}}).encode()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    client.put_manifest(f"{repository}@{digest}", body, "application/vnd.oci.image.manifest.v1+json")
    _cosign(tmp_path, f"{repository}@{digest}")
    assert client.delete_manifest(f"{repository}@{digest}")
    return digest.replace(":", "-") + ".sig"


def test_prune_deletes_what_signed_the_stale_platform_images_its_referrers_and_orphaned_signatures(
        tmp_path: Path, registry: str, builder: BuildxBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    options, first = _built_twice(tmp_path, f"{registry}/prunesub", builder)
    repository = api.load(options).nodes["child"].repository
    client = RegistryClient()
    stale, current = first.nodes["child"].digest, client.digest(f"{repository}:1")
    assert current is not None and stale != current
    tree = {name: {digest, *(entry["digest"] for entry in _index(client, f"{repository}@{digest}"))}
            for name, digest in (("stale", stale), ("current", current))}
    for digest in (stale, current):  # every platform image too, by tag and as OCI 1.1 referrers
        _cosign(tmp_path, f"{repository}@{digest}", "--recursive")
        _cosign(tmp_path, f"{repository}@{digest}", "--recursive", "--registry-referrers-mode=oci-1-1")
    referrers = {name: {entry["digest"] for digest in digests
                        for entry in _index(client, f"{repository}:{digest.replace(':', '-')}")}
                 for name, digests in tree.items()}
    orphan = _orphan(tmp_path, repository)
    # the stale index's referrers tag also lists the current index's referrer (a bad merge, another
    # tool): that artifact names the current index as its subject, so it must stay
    stale_referrers = f"{repository}:{stale.replace(':', '-')}"
    foreign = next(entry for entry in _index(client, f"{repository}:{current.replace(':', '-')}"))
    listing = client.manifest(stale_referrers)
    assert listing is not None
    client.put_manifest(stale_referrers, json.dumps({**listing.body, "manifests": [
        *listing.descriptors("manifests"), foreign]}).encode(), listing.media_type)
    referrer_gone = sorted(referrers["stale"])[0]  # deleted meanwhile: nothing names a subject, left
    assert client.delete_manifest(f"{repository}@{referrer_gone}")
    platform_gone = sorted(tree["stale"] - {stale})[0]  # deleted meanwhile: its DELETE answers 404
    assert client.delete_manifest(f"{repository}@{platform_gone}")
    tags = set(client.tags(repository))
    doomed = _subject_tags(tags, tree["stale"]) | {orphan}
    assert len(_subject_tags(tags, tree["stale"])) == 2 * len(tree["stale"])  # .sig and referrers tag each
    capsys.readouterr()  # the builds' logs

    assert _prune(options, "--format", "json") == 0  # old: the platform images' and referrers tags stayed
    document = json.loads(capsys.readouterr().out)
    child = next(r for r in document["repositories"] if r["repository"] == repository)
    whys = {entry["tag"]: entry["why"] for entry in child["delete"]}
    assert set(whys) == doomed | {f"sb-{first.nodes['child'].fingerprint}",
                                  f"sb-{first.nodes['child'].fingerprint}-candidate"}
    assert whys[orphan] == "orphaned"
    assert {m["digest"] for m in child["manifests"] if m["referrer_of"]} == \
        referrers["stale"] - {referrer_gone}
    # old: the stale index's untagged platform images (and attestation manifests) stayed
    assert {m["digest"] for m in child["manifests"] if m["child_of"]} == tree["stale"] - {stale}
    assert {(left["digest"], left["subject"], left["there"]) for left in child["left"]} == {
        (foreign["digest"], current, True), (referrer_gone, None, False)}  # old: foreign was deleted

    assert _prune(options, "--yes") == 0
    out = capsys.readouterr().out
    deleted = len(child["manifests"]) - 1
    assert f"already gone {repository}@{platform_gone} (untagged, deleted index {stale} refers to it)" in out
    assert f"deleted {deleted} manifest(s); 1 already gone;" in out
    assert set(client.tags(repository)) == tags - set(whys)
    left = set(client.tags(repository))
    assert _subject_tags(left, tree["current"]) == _subject_tags(tags, tree["current"])
    assert all(client.manifest_gone(f"{repository}@{digest}")
               for digest in referrers["stale"] | tree["stale"])
    assert not any(client.manifest_gone(f"{repository}@{digest}")
                   for digest in referrers["current"] | tree["current"])
    assert Cosign().verify(f"{repository}@{current}", tmp_path / "cosign.pub").ok
    assert _prune(options) == 0 and "nothing to delete" in capsys.readouterr().out


def _raw(repository: str, digest: str) -> tuple[bytes, str]:
    """The bytes and media type of the index at repository@digest, as the registry stores them."""
    host, _, name = repository.partition("/")
    request = urllib.request.Request(f"http://{host}/v2/{name}/manifests/{digest}", headers={
        "Accept": "application/vnd.oci.image.index.v1+json, "
                  "application/vnd.docker.distribution.manifest.list.v2+json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read(), response.headers["Content-Type"]


def test_a_kept_lockfile_s_index_whose_tags_were_deleted_by_hand_keeps_what_it_refers_to(
        tmp_path: Path, registry: str, builder: BuildxBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    options, first = _built_twice(tmp_path, f"{registry}/prunepin", builder)
    repository, pinned = api.load(options).nodes["child"].repository, first.nodes["child"].digest
    client = RegistryClient()
    body, media_type = _raw(repository, pinned)
    under = {entry["digest"] for entry in _index(client, f"{repository}@{pinned}")}
    # the first run's lockfile (kept: --keep-runs 2) records the index; its content and candidate tags
    # deleted by hand (the index deleted, then pushed again by digest alone), and a stale index that
    # refers to the same platform images and attestation manifests
    assert client.delete_manifest(f"{repository}@{pinned}")
    client.put_manifest(f"{repository}@{pinned}", body, media_type)
    sharing = client.put_manifest(f"{repository}:sb-{'a' * 64}", json.dumps(
        {**json.loads(body), "annotations": {"pushed": unique("again")}}).encode(), media_type)
    content = f"sb-{first.nodes['child'].fingerprint}"
    assert not {content, f"{content}-candidate"} & set(client.tags(repository))
    capsys.readouterr()  # the builds' logs

    assert _prune(options, "--keep-runs", "2", "--yes", "--format", "json") == 0
    document = json.loads(capsys.readouterr().out)
    child = next(r for r in document["repositories"] if r["repository"] == repository)
    # old: the 2 attestation manifests went with the stale index (the lockfile records only the images)
    assert [(m["digest"], m["status"]) for m in child["manifests"]] == [(sharing, "deleted")]
    assert not any(client.manifest_gone(f"{repository}@{digest}") for digest in {pinned, *under})
    fresh = RegistryClient()  # no manifest read before: each is read from the registry
    assert all(fresh.manifest(f"{repository}@{digest}") is not None for digest in {pinned, *under})
    assert len(under) == 4  # 2 platform images, 2 attestation manifests
