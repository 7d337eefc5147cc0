"""`build --no-publish` (a pull request's check) and `build --no-secrets` (an untrusted one): what is built
is pushed under its content tag, no human tag moves, nothing is recorded as published; a later run of
the same content finds every image by fingerprint and only moves the tags."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main as cli
from engine.run import api, reproduce
from engine.run.settings import BuildSettings
from graph.model.secrets import SecretPolicy
from tests.engine.cli.clifakes import fake_engine
from tests.engine.engine_fakes import NODES, FakeBuilder, FakeRegistry, human_ref
from tests.engine.run.builds import options_of

UNPUBLISHED = [BuildSettings(publish=False), BuildSettings(secrets=SecretPolicy(withhold=True))]


@pytest.mark.parametrize("settings", UNPUBLISHED, ids=["no-publish", "no-secrets"])
def test_a_run_that_does_not_publish_pushes_content_tags_and_moves_no_human_tag(
        root: Path, settings: BuildSettings) -> None:
    registry = FakeRegistry()
    builder = FakeBuilder(registry)
    report = api.build(options_of(root), builder, settings, registry)
    assert report.status == "succeeded"
    assert report.promoted == []
    assert registry.tags({human_ref(name) for name in NODES}) == {}  # every human tag moved before
    assert set(builder.order) == set(NODES)
    assert not (root.parent / "state" / "latest.lock.json").exists()  # nothing is recorded as published


def test_the_run_after_an_unpublished_one_builds_nothing_and_moves_every_human_tag(root: Path) -> None:
    registry = FakeRegistry()
    first = FakeBuilder(registry)
    api.build(options_of(root), first, BuildSettings(publish=False), registry)
    merged = FakeBuilder(registry)  # main's run once the pull request is merged
    report = api.build(options_of(root), merged, BuildSettings(), registry)
    assert merged.order == []
    assert registry.tags({human_ref(name) for name in NODES}) == {
        human_ref(name): first.digests[name] for name in NODES}
    assert sorted(report.promoted) == sorted(human_ref(name) for name in NODES)


@pytest.mark.parametrize(("flags", "words"), [
    (["--no-publish", "--sign", "cosign.key"], "--sign cannot be combined with --no-publish"),
    (["--no-secrets", "--sign", "cosign.key"], "--sign cannot be combined with --no-secrets"),
    # these published nothing, and --sign signed nothing, silently
    (["--only", "leaf", "--sign", "cosign.key"], "--sign cannot be combined with --only"),
    (["--platform", "linux/amd64", "--sign", "cosign.key"], "--sign cannot be combined with --platform"),
    (["--load", "--sign", "cosign.key"], "--sign cannot be combined with --load"),
    (["--no-publish", "--load"], "--no-publish cannot be combined with --load"),
    (["--full", "--changed-since", "HEAD"], "--full cannot be combined with --changed-since")])
def test_no_publication_beside_what_needs_one_is_refused_before_anything_runs(
        root: Path, capsys: pytest.CaptureFixture[str], flags: list[str], words: str) -> None:
    assert cli.main(["build", "--root", str(root), "--state-dir", str(root.parent / "state"), *flags]) == 2
    assert words in capsys.readouterr().err
    assert not (root.parent / "state" / "runs").exists()


@pytest.mark.parametrize("flags", [
    ["--no-publish"], ["--load"], ["--sign", "cosign.key"], ["--report-dir", "reports"], ["--full"],
    ["--changed-since", "HEAD"], ["--cache-dir", "c"], ["--adopt"], ["--builders", "pool.yaml"],
    ["--only", "leaf"], ["--keep-going"], ["--no-test"], ["--platform", "linux/amd64"]])
def test_an_option_a_reproducibility_check_would_ignore_is_a_usage_error_before_anything_runs(
        root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        flags: list[str]) -> None:
    # each was accepted and ignored: the check rebuilds one node at a time, without cache or smoke tests,
    # and moves, signs, loads and copies nothing
    builder = fake_engine(monkeypatch)
    monkeypatch.setattr(reproduce, "RegistryClient", lambda: builder.registry)
    (root / "cosign.key").write_text("not a key\n", encoding="utf-8")
    (root / "pool.yaml").write_text("builders: {}\n", encoding="utf-8")
    monkeypatch.chdir(root)
    argv = ["build", "--root", str(root), "--state-dir", str(root.parent / "state"), "--log-format", "json"]
    assert cli.main([*argv, "--check-reproducible", "leaf", *flags]) == 2
    assert capsys.readouterr().err == (
        f"error: {flags[0]} cannot be combined with --check-reproducible: a reproducibility check rebuilds "
        "the named published nodes one by one without cache or smoke tests under sbrepro- tags, and moves, "
        f"signs, loads and reports nothing else (drop {flags[0]}, or run the check on its own)\n")
    assert builder.order == [] and builder.registry.events == []
    assert not (root.parent / "state" / "runs").exists() and not (root / "reports").exists()
