"""The sign, verify and build --sign commands: keys checked before anything runs; build --sign by digest."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from engine.cli import main as cli
from engine.cli import signing
from engine.state.report import NodeReport, RunReport
from graph.expand.dag import graph_of
from tests.engine.supply_fakes import FakeCosign, R, published_stack, stack_nodes

ROOT = Path(__file__).parents[3]


@pytest.mark.parametrize("command", [["sign"], ["verify"], ["build", "--sign", "missing.key"]])
def test_a_missing_key_is_bad_input_without_a_traceback(command: list[str], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STACKBUILD_SIGN_KEY", raising=False)
    monkeypatch.delenv("STACKBUILD_VERIFY_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    code = cli.main([*command, "--root", str(ROOT), "--state-dir", str(tmp_path / "state"), "stacks/demo"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: --sign: missing.key is not a file" if "build" in command
                          else "error: --key is required")
    assert "cosign generate-key-pair" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("command", [["sign", "--key"], ["build", "--sign"]])
def test_a_private_key_others_can_read_is_refused_before_anything_runs(
        command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "cosign.key"
    key.write_text("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n", encoding="utf-8")
    key.chmod(0o644)
    code = cli.main([*command, str(key), "--root", str(ROOT), "--state-dir", str(tmp_path / "state"),
                     "stacks/demo"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: {command[-1]}: the private key {key} is open to other users (mode 644)")
    assert f"chmod 600 {key}" in err


def test_an_owner_only_private_key_and_a_readable_public_key_are_accepted(tmp_path: Path) -> None:
    private, public = tmp_path / "cosign.key", tmp_path / "cosign.pub"
    for path, mode in ((private, 0o600), (public, 0o644)):
        path.write_text("key\n", encoding="utf-8")
        path.chmod(mode)
    assert signing.sign_key_file(str(private)) == private
    assert signing.key_file(str(public), "STACKBUILD_VERIFY_KEY") == public


def _signed_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                published: tuple[str, ...]) -> tuple[dict[str, str], FakeCosign]:
    """build --sign after a run that built base and leaf and published those named; another run moved
    base's tag since. The digests built and the cosign fake."""
    registry, _ = published_stack()
    base, leaf = stack_nodes()
    promoted = {"base": registry.tags[base.ref], "leaf": registry.tags[leaf.ref]}
    registry.push(base, sbom=False)  # another run moved base's tag after this one promoted it
    registry.close = lambda: None  # type: ignore[attr-defined]
    cosign = FakeCosign(set())
    monkeypatch.setattr(signing, "options_of", lambda args: None)
    monkeypatch.setattr(signing.api, "load", lambda options: graph_of([base, leaf]))
    monkeypatch.setattr(signing, "RegistryClient", lambda: registry)
    monkeypatch.setattr(signing, "Cosign", lambda: cosign)
    key = tmp_path / "cosign.key"
    key.write_text("key\n", encoding="utf-8")
    key.chmod(0o600)
    report = RunReport("r", str(tmp_path), "now", status="succeeded", nodes={
        name: NodeReport(name, "", "build", "", "succeeded", digest=digest, published=name in published)
        for name, digest in promoted.items()})
    signing.sign_run(argparse.Namespace(sign=str(key)), report)
    return promoted, cosign


def test_build_sign_signs_the_digests_the_run_promoted_not_the_tags_current(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    promoted, cosign = _signed_run(tmp_path, monkeypatch, ("base", "leaf"))
    assert cosign.signed == {f"{R}/img@{digest}" for digest in promoted.values()}


def test_build_sign_signs_only_what_the_run_published(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    promoted, cosign = _signed_run(tmp_path, monkeypatch, ("leaf",))  # base: a PR's parent, only built on
    assert cosign.signed == {f"{R}/img@{promoted['leaf']}"}
