"""`stackbuild build` after a Ctrl-C or SIGTERM that arrived while the tags moved: every tag moved and the
run says so, yet the command exits 130 or 143 so that a calling script stops."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

import engine.build.localstore
from engine.build.builder import BuildResult, PushGate
from engine.build.request import BuildRequest
from engine.cli import buildcmd, signing
from engine.run import api, outcomes
from engine.state.history import History
from engine.state.loaded import read_loaded
from engine.state.lockfile import read_lockfile
from engine.state.report import RunReport
from tests.engine.engine_fakes import NODES, FakeRegistry, human_ref, write_stack
from tests.engine.run.signalled import SIGNALS, CheckedBuilder, build
from tests.engine.run.tagging import InterruptedWhileTagging, TaggingTrouble


def last_report(root: Path) -> dict[str, Any]:
    # the newest by time: run ids started in one second sort in any order
    reports = sorted((root.parent / "state" / "runs").glob("*/report.json"),
                     key=lambda path: path.stat().st_mtime_ns)
    data: dict[str, Any] = json.loads(reports[-1].read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize(("sent", "exit_code"), SIGNALS)
def test_a_signal_while_the_tags_move_exits_130_or_143_once_every_tag_moved_and_is_recorded(
        root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        sent: signal.Signals, exit_code: int) -> None:
    registry = InterruptedWhileTagging("mid", sent=sent)
    monkeypatch.setattr(api, "RegistryClient", lambda: registry)
    builder = CheckedBuilder(registry)
    assert build(root, builder, monkeypatch) == exit_code
    assert registry.tags({human_ref(name) for name in NODES}) == {
        human_ref(name): builder.digests[name] for name in NODES}
    report = last_report(root)
    assert (report["status"], report["signal"]) == ("succeeded", sent.name)
    assert sorted(report["promoted"]) == sorted(human_ref(name) for name in NODES)
    latest = read_lockfile(root.parent / "state" / "latest.lock.json")
    assert {entry.node: entry.digest for entry in latest} == builder.digests
    with History(root.parent / "state" / "history.db") as history:
        assert [run.status for run in history.runs()] == ["succeeded"]
    out, err = capsys.readouterr()
    assert out.splitlines()[-2].endswith("status succeeded")
    assert (f"stopped by {sent.name} once every human tag had moved and was recorded (lockfile, report): "
            "nothing is half-done") in err


@pytest.mark.parametrize(("sent", "exit_code"), SIGNALS)
def test_a_signal_while_local_tags_are_set_exits_130_or_143_once_every_tag_is_set_and_recorded(
        root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        sent: signal.Signals, exit_code: int) -> None:
    images = FakeRegistry()
    monkeypatch.setattr(engine.build.localstore, "LocalStore",
                        lambda _docker: TaggingTrouble(images, interrupted_at="mid", sent=sent))
    builder = CheckedBuilder(images)
    assert build(root, builder, monkeypatch, "--load") == exit_code
    report = last_report(root)
    assert (report["status"], report["signal"]) == ("succeeded", sent.name)
    assert {name: images.refs[human_ref(name)] for name in NODES} == {
        name: report["nodes"][name]["digest"] for name in NODES}
    assert set(read_loaded(root.parent / "state")) == set(NODES)
    assert (f"stopped by {sent.name} once every human tag was set locally and recorded (loaded.json, "
            "report): nothing is half-done") in capsys.readouterr().err


def test_a_signal_while_the_tags_move_signs_nothing(root: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    registry = InterruptedWhileTagging("mid")
    monkeypatch.setattr(api, "RegistryClient", lambda: registry)
    signed: list[str] = []
    monkeypatch.setattr(signing, "sign_run", lambda _args, report: signed.append(report.run_id))
    key = tmp_path / "cosign.key"
    key.write_text("key\n", encoding="utf-8")
    key.chmod(0o600)
    assert build(root, CheckedBuilder(registry), monkeypatch, "--sign", str(key)) == 130
    assert signed == []  # the user asked to stop: signing is the next step, not a half-done one
    assert f"not signed: stackbuild sign --key {key}" in capsys.readouterr().err


def test_a_shard_stopped_after_its_builds_does_not_claim_human_tags_moved(
        capsys: pytest.CaptureFixture[str]) -> None:
    report = RunReport(run_id="r", folder="f", started="2026-12-07T00:00:00Z", status="succeeded")
    report.signal = "SIGINT"
    buildcmd._stopped_once_published(report, None, shard=True)
    err = capsys.readouterr().err
    assert "human tag" not in err.split("(")[0] and "shard" in err


@pytest.mark.parametrize(("sent", "exit_code"), SIGNALS)
def test_a_signal_then_a_failed_tag_move_exits_130_or_143_with_every_tag_moved_back(
        root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        sent: signal.Signals, exit_code: int) -> None:
    registry = InterruptedWhileTagging("mid", refused="leaf", sent=sent, armed=False)
    monkeypatch.setattr(api, "RegistryClient", lambda: registry)
    assert build(root, CheckedBuilder(registry), monkeypatch) == 0
    published = registry.tags({human_ref(name) for name in NODES})
    write_stack(root, arg="2")
    registry.armed = True  # mid moves: the signal; leaf cannot move (403)
    assert build(root, CheckedBuilder(registry), monkeypatch) == exit_code  # was the error's own exit 1
    assert registry.tags({human_ref(name) for name in NODES}) == published  # all or none: none
    report = last_report(root)
    assert (report["status"], report["signal"]) == ("interrupted", sent.name)
    with History(root.parent / "state" / "history.db") as history:
        assert [run.status for run in history.runs()] == ["interrupted", "succeeded"]
    assert "HTTP 403 Forbidden" in capsys.readouterr().err  # the failure itself is still said


@pytest.mark.parametrize(("sent", "exit_code"), SIGNALS)
def test_a_signal_while_the_run_is_recorded_lets_the_record_finish_then_exits_130_or_143(
        root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], sent: signal.Signals,
        exit_code: int) -> None:
    registry = FakeRegistry()
    monkeypatch.setattr(api, "RegistryClient", lambda: registry)
    real_write_summaries = outcomes.write_summaries

    def interrupted_write(report: RunReport) -> None:
        os.kill(os.getpid(), sent)  # before the summaries, the history's end of the run
        real_write_summaries(report)

    monkeypatch.setattr(outcomes, "write_summaries", interrupted_write)
    previous = signal.signal(signal.SIGTERM, raise_keyboard_interrupt)  # unhandled, it would end pytest
    try:
        # the old code was cut short: exit 130 (or pytest ended by the SIGTERM), the history's run unfinished
        assert build(root, CheckedBuilder(registry), monkeypatch) == exit_code
    finally:
        signal.signal(signal.SIGTERM, previous)
    report = last_report(root)
    assert report["status"] == "succeeded"
    assert (Path(report["folder"]) / "summary.md").exists()
    out, err = capsys.readouterr()
    assert out.splitlines()[-2].endswith("status succeeded")  # the run's summary is still printed
    assert f"stopped by {sent.name} once every human tag had moved and was recorded" in err
    with History(root.parent / "state" / "history.db") as history:
        assert [(run.status, bool(run.finished)) for run in history.runs()] == [("succeeded", True)]


def raise_keyboard_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


class SignalledWhileBuilding(CheckedBuilder):
    """The signal (sent) arrives while base builds: base ends, nothing else starts."""

    sent = signal.SIGINT

    def build(self, request: BuildRequest, log_path: Path, gate: PushGate | None = None) -> BuildResult:
        if request.node == "base":
            os.kill(os.getpid(), self.sent)
        return super().build(request, log_path, gate)


@pytest.mark.parametrize(("sent", "exit_code"), SIGNALS)
def test_a_signal_while_a_node_builds_exits_130_or_143_says_which_and_moves_no_tag(
        root: Path, monkeypatch: pytest.MonkeyPatch, sent: signal.Signals, exit_code: int) -> None:
    registry = FakeRegistry()
    monkeypatch.setattr(api, "RegistryClient", lambda: registry)
    builder = SignalledWhileBuilding(registry)
    builder.sent = sent
    assert build(root, builder, monkeypatch, "--jobs", "1") == exit_code
    assert builder.order == ["base"]
    report = last_report(root)
    assert (report["status"], report["signal"]) == ("interrupted", sent.name)
    assert registry.tags({human_ref(name) for name in NODES}) == {}
