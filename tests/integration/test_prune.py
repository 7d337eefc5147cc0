"""`stackbuild prune` against real registries (Debian's docker-registry, distribution 2.8): with
deletion enabled it deletes only the stale builds' tags and cosign's tags of their images (signed with
the real cosign), and a following build still finds everything; without, it stops with how to enable
deletion and deletes nothing.

Tiny stacks (FROM scratch + COPY) from tests/integration/publishing.py, built with the default
registry layer cache (so sbcache- tags are there too).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from engine.build.builder import BuildxBuilder
from engine.cli.main import main
from engine.registry.client import RegistryClient
from engine.registry.cosign import Cosign
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
    assert to_delete == stale
    assert "dry run: nothing deleted; `stackbuild prune --yes` deletes 2 manifest(s)" in dry
    assert _prune(options, "--format", "json") == 0
    document = json.loads(capsys.readouterr().out)
    child = next(r for r in document["repositories"] if r["repository"] == child_repository)
    assert {entry["tag"] for entry in child["delete"]} == stale and document["dry_run"] is True
    assert [m["status"] for m in child["manifests"]] == ["would_delete"] * 2
    assert _tags(options) == before

    assert _prune(options, "--yes") == 0
    real = capsys.readouterr().out
    assert f"deleted      {child_repository}@{digest} (sb-{old}, sb-{old}-candidate)" in real
    assert f"({signature})" in real
    assert "registry garbage-collect" in real
    assert _tags(options) == {"root": before["root"], "child": before["child"] - stale}
    assert kept_signature in _tags(options)["child"]
    assert RegistryClient().manifest(f"{child_repository}@{digest}") is None

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
