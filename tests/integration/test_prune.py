"""`stackbuild prune` against real registries (Debian's docker-registry, distribution 2.8): with
deletion enabled it deletes only the stale builds' tags, and a following build still finds everything;
without, it stops with how to enable deletion and deletes nothing.

Tiny stacks (FROM scratch + COPY) from tests/integration/publishing.py, built with the default
registry layer cache (so sbcache- tags are there too).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.build.builder import BuildxBuilder
from engine.cli.main import main
from engine.registry.client import RegistryClient
from engine.run import api
from engine.state.report import RunReport
from tests.integration.conftest import start_registry
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


def test_prune_deletes_only_the_stale_tags_and_a_no_op_build_follows(
        tmp_path: Path, registry: str, builder: BuildxBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    options, first = _built_twice(tmp_path, f"{registry}/prune", builder)
    old = first.nodes["child"].fingerprint
    stale = {f"sb-{old}", f"sb-{old}-candidate"}
    before = _tags(options)
    assert stale <= before["child"]
    assert any(tag.startswith("sbcache-") for tag in before["child"])  # the layer cache is there to keep

    assert _prune(options) == 0
    dry = capsys.readouterr().out
    to_delete = {line.split()[1] for line in dry.splitlines() if line.startswith("  delete ")}
    assert to_delete == stale
    assert "dry run: nothing deleted; `stackbuild prune --yes` deletes 1 manifest(s)" in dry
    assert _tags(options) == before

    assert _prune(options, "--yes") == 0
    real = capsys.readouterr().out
    child_repository = api.load(options).nodes["child"].repository
    digest = first.nodes["child"].digest
    assert f"deleted      {child_repository}@{digest} (sb-{old}, sb-{old}-candidate)" in real
    assert "registry garbage-collect" in real
    assert _tags(options) == {"root": before["root"], "child": before["child"] - stale}
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
