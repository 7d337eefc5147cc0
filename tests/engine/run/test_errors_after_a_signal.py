"""`stackbuild build`: any error raised once a Ctrl-C or SIGTERM arrived (a stack error, an OSError, not
only the engine's own) is still said, without a traceback, but exits 130 or 143: a calling script
(`build && deploy`) sees that the run was stopped."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from engine.build.builder import BuildResult, PushGate
from engine.build.request import BuildRequest
from engine.run import api, outcomes
from engine.state.report import RunReport
from tests.engine.engine_fakes import NODES, REGISTRY, FakeRegistry, human_ref
from tests.engine.run.signalled import SIGNALS, CheckedBuilder, build
from tests.engine.run.tagging import InterruptedWhileTagging

BROKEN_STACK = "stack: t\nnodes: [\n"


class EditedWhileReading(FakeRegistry):
    """A signal arrives while the human tag of mid is read before the tags move (once armed), and the
    stack file is broken meanwhile (its author edits it)."""

    def __init__(self, stack_file: Path, sent: signal.Signals) -> None:
        super().__init__()
        self.stack_file, self.sent, self.armed = stack_file, sent, False

    def digest(self, reference: str) -> str | None:
        if self.armed and reference == human_ref("mid"):
            self.armed = False
            self.stack_file.write_text(BROKEN_STACK, encoding="utf-8")
            os.kill(os.getpid(), self.sent)
        return super().digest(reference)


class ArmingBuilder(CheckedBuilder):
    """Arms the registry once every node is built: the signal arrives once the tags are to move."""

    def build(self, request: BuildRequest, log_path: Path, gate: PushGate | None = None) -> BuildResult:
        result = super().build(request, log_path, gate)
        if request.node == NODES[-1] and isinstance(self.registry, EditedWhileReading):
            self.registry.armed = True
        return result


class FailsWhileTagging(InterruptedWhileTagging):
    """A signal arrives while the human tag of mid moves; that move then fails with `error`."""

    error: Exception = ConnectionResetError(104, "Connection reset by peer")

    def tag(self, source: str, target: str) -> str:
        digest = super().tag(source, target)
        if target == human_ref(self.node):
            raise self.error
        return digest


class ReportDirTaken(InterruptedWhileTagging):
    """A signal arrives while the human tag of mid moves; meanwhile a file takes the --report-dir's name."""

    taken = Path()

    def tag(self, source: str, target: str) -> str:
        if target == human_ref(self.node):
            self.taken.write_text("not a folder\n", encoding="utf-8")
        return super().tag(source, target)


@pytest.mark.parametrize(("sent", "exit_code"), SIGNALS)
def test_a_stack_error_once_a_signal_arrived_exits_130_or_143(
        root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        sent: signal.Signals, exit_code: int) -> None:
    registry = EditedWhileReading(root / "stacks" / "t" / "stack.yaml", sent)
    monkeypatch.setattr(api, "RegistryClient", lambda: registry)
    foreign = registry.push(f"{REGISTRY}/leaf:elsewhere", "someone else's leaf")
    registry.tag(f"{REGISTRY}/leaf@{foreign}", human_ref("leaf"))  # the guard reads the stacks' `adopt`
    assert build(root, ArmingBuilder(registry), monkeypatch) == exit_code  # was 2 (a bad stack file)
    err = capsys.readouterr().err
    assert "error: stacks/t/stack.yaml:2: invalid YAML" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("sent", "exit_code"), SIGNALS)
def test_an_os_error_once_a_signal_arrived_exits_130_or_143(
        root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        sent: signal.Signals, exit_code: int) -> None:
    registry = FailsWhileTagging("mid", sent=sent)
    monkeypatch.setattr(api, "RegistryClient", lambda: registry)
    assert build(root, CheckedBuilder(registry), monkeypatch) == exit_code  # was 2
    err = capsys.readouterr().err
    assert "error: Connection reset by peer" in err
    assert "Traceback" not in err


def test_any_other_error_once_a_signal_arrived_is_said_and_exits_130(
        root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    registry = FailsWhileTagging("mid")
    registry.error = ValueError("unexpected manifest media type ''")
    monkeypatch.setattr(api, "RegistryClient", lambda: registry)
    assert build(root, CheckedBuilder(registry), monkeypatch) == 130  # was the ValueError's traceback
    assert "error: unexpected manifest media type ''" in capsys.readouterr().err


def test_any_other_error_without_a_signal_still_shows_its_traceback(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = FailsWhileTagging("mid", armed=False)
    registry.error = ValueError("unexpected manifest media type ''")
    monkeypatch.setattr(api, "RegistryClient", lambda: registry)
    with pytest.raises(ValueError, match="media type"):  # a defect: its traceback is the report
        build(root, CheckedBuilder(registry), monkeypatch)


@pytest.mark.parametrize(("sent", "exit_code"), SIGNALS)
def test_an_os_error_while_the_run_is_recorded_after_a_signal_exits_130_or_143(
        root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        sent: signal.Signals, exit_code: int) -> None:
    registry = FakeRegistry()
    monkeypatch.setattr(api, "RegistryClient", lambda: registry)

    def full_disk(report: RunReport) -> None:
        os.kill(os.getpid(), sent)
        raise OSError(28, "No space left on device", str(Path(report.folder) / "summary.md"))

    monkeypatch.setattr(outcomes, "write_summaries", full_disk)
    assert build(root, CheckedBuilder(registry), monkeypatch) == exit_code  # was 2
    err = capsys.readouterr().err
    assert "summary.md: No space left on device" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("sent", "exit_code"), SIGNALS)
def test_a_report_dir_that_cannot_be_written_after_a_signal_exits_130_or_143(
        root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        sent: signal.Signals, exit_code: int) -> None:
    reports = tmp_path / "reports"
    registry = ReportDirTaken("mid", sent=sent)
    registry.taken = reports
    monkeypatch.setattr(api, "RegistryClient", lambda: registry)
    code = build(root, CheckedBuilder(registry), monkeypatch, "--report-dir", str(reports))
    assert code == exit_code  # was 2
    err = capsys.readouterr().err
    assert f"cannot use {reports}" in err
    assert "Traceback" not in err
