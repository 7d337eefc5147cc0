"""CI output of the CLI: annotations for bad stack files and failed nodes, node log groups, job summary."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from engine.cli import ci_report
from engine.cli.main import main
from engine.state.report import NodeReport, RunReport


def test_a_bad_stack_file_is_annotated_with_file_and_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    (tmp_path / "stacks" / "s").mkdir(parents=True)
    (tmp_path / "stacks" / "s" / "stack.yaml").write_text(
        "stack: s\nregistry: localhost:5000/s\nnodes:\n  os: {kind: os, tag: '1', parent: nowhere}\n",
        encoding="utf-8")
    assert main(["plan", "--offline", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    annotation = [line for line in err.splitlines() if line.startswith("::error ")]
    assert len(annotation) == 1
    assert annotation[0].startswith(
        "::error file=stacks/s/stack.yaml,line=4,title=stackbuild%3A bad stack file::")
    assert "Dockerfile stacks/s/os/Dockerfile does not exist" in annotation[0]


def test_no_annotation_outside_github(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    (tmp_path / "stacks" / "s").mkdir(parents=True)
    (tmp_path / "stacks" / "s" / "stack.yaml").write_text("stack: s\nnodes: 3\n", encoding="utf-8")
    assert main(["plan", "--offline", "--root", str(tmp_path)]) == 2
    assert "::error" not in capsys.readouterr().err


def _report(tmp_path: Path) -> RunReport:
    report = RunReport("r1", str(tmp_path), "2026-11-23T00:00:00+00:00", status="failed")
    ok_log, bad_log = tmp_path / "ok.log", tmp_path / "bad.log"
    ok_log.write_text("#1 DONE\n", encoding="utf-8")
    bad_log.write_text("#2 RUN false\nERROR: process did not complete\n", encoding="utf-8")
    report.nodes["ok"] = NodeReport("ok", "r/ok:1", "build", "full", "succeeded", duration_s=3,
                                    log=str(ok_log), source="stacks/s/stack.yaml:5")
    report.nodes["bad"] = NodeReport("bad", "r/bad:1", "build", "full", "failed", duration_s=1,
                                     log=str(bad_log), error="RUN false: exit 1",
                                     source="stacks/s/stack.yaml:9")
    report.nodes["up"] = NodeReport("up", "r/up:1", "skip", "up_to_date", "succeeded")
    (tmp_path / "summary.md").write_text("### stackbuild run\n", encoding="utf-8")
    return report


def test_a_run_on_github_shows_groups_annotations_and_the_summary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "step-summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    out = io.StringIO()
    ci_report.show_run(_report(tmp_path), out)
    assert out.getvalue() == (
        "::group::ok: succeeded (3s)\n#1 DONE\n::endgroup::\n"
        "::group::bad: failed (1s)\n#2 RUN false\nERROR: process did not complete\n::endgroup::\n"
        "::error file=stacks/s/stack.yaml,line=9,title=stackbuild%3A bad failed::"
        "bad failed: RUN false: exit 1\n")
    assert summary.read_text(encoding="utf-8") == "### stackbuild run\n"


def test_outside_ci_a_run_shows_nothing_more(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("GITLAB_CI", raising=False)
    out = io.StringIO()
    ci_report.show_run(_report(tmp_path), out)
    assert out.getvalue() == ""


def test_report_dir_gets_the_files_that_exist(tmp_path: Path) -> None:
    report = _report(tmp_path)
    (tmp_path / "report.json").write_text("{}", encoding="utf-8")
    target = ci_report.copy_reports(report, tmp_path / "out" / "reports")
    assert sorted(p.name for p in target.iterdir()) == ["report.json", "summary.md"]
