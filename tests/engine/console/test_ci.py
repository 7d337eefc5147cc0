"""engine.console.ci: GitHub workflow commands, GitLab sections, the job summary; nothing outside CI."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from engine.console import ci

GITHUB = {"GITHUB_ACTIONS": "true"}
GITLAB = {"GITLAB_CI": "true"}


def test_provider_is_read_from_the_environment() -> None:
    assert ci.provider(GITHUB) == "github"
    assert ci.provider(GITLAB) == "gitlab"
    assert ci.provider({"CI": "true"}) == ""
    assert ci.provider({"GITHUB_ACTIONS": "false"}) == ""


def test_annotation_escapes_message_and_properties() -> None:
    line = ci.error_annotation("bad\nthing 100%", "stacks/a,b/stack.yaml", 12, title="x: y")
    assert line == "::error file=stacks/a%2Cb/stack.yaml,line=12,title=x%3A y::bad%0Athing 100%25"


def test_annotation_without_a_file_has_no_properties() -> None:
    assert ci.error_annotation("boom") == "::error::boom"
    assert ci.error_annotation("boom", "", 3) == "::error::boom"


def test_annotate_writes_only_on_github() -> None:
    out = io.StringIO()
    ci.annotate(out, "m", "f.yaml", 2, env={"CI": "true"})
    assert out.getvalue() == ""
    ci.annotate(out, "m", "f.yaml", 2, env=GITHUB)
    assert out.getvalue() == "::error file=f.yaml,line=2::m\n"


def test_github_group() -> None:
    out = io.StringIO()
    with ci.group(out, "numpy: succeeded (12s)", env=GITHUB):
        out.write("step 1\n")
    assert out.getvalue() == "::group::numpy: succeeded (12s)\nstep 1\n::endgroup::\n"


def test_gitlab_section_is_collapsed_and_named_safely() -> None:
    out = io.StringIO()
    with ci.group(out, "app-dev: failed", key="app-dev/x y", env=GITLAB):
        out.write("log\n")
    text = out.getvalue()
    assert text.startswith("\x1b[0Ksection_start:")
    assert ":app_dev_x_y[collapsed=true]\r\x1b[0Kapp-dev: failed\nlog\n\x1b[0Ksection_end:" in text
    assert text.endswith(":app_dev_x_y\r\x1b[0K\n")


def test_plain_group_is_a_header_line() -> None:
    out = io.StringIO()
    with ci.group(out, "a: succeeded (1s)", env={}):
        out.write("x\n")
    assert out.getvalue() == "--- a: succeeded (1s)\nx\n"


def test_job_summary_is_appended_on_github_only(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("# before\n", encoding="utf-8")
    assert ci.append_job_summary("| a |", {"GITHUB_STEP_SUMMARY": str(summary)}) is None
    assert ci.append_job_summary("| a |", {**GITHUB, "GITHUB_STEP_SUMMARY": str(summary)}) == summary
    assert summary.read_text(encoding="utf-8") == "# before\n| a |\n"


def test_a_job_summary_that_cannot_be_appended_to_is_a_warning_not_a_crash(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # after a whole run, a GITHUB_STEP_SUMMARY naming a folder ended in IsADirectoryError's traceback
    assert ci.append_job_summary("| a |", {**GITHUB, "GITHUB_STEP_SUMMARY": str(tmp_path)}) is None
    assert capsys.readouterr().err == (f"warning: GITHUB_STEP_SUMMARY={tmp_path}: cannot append the job "
                                       "summary: Is a directory\n")


def test_tail_keeps_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "n.log"
    log.write_text("".join(f"{i}\n" for i in range(10)), encoding="utf-8")
    assert ci.tail(log, 3) == "7\n8\n9\n"
    assert ci.tail(tmp_path / "missing.log") == ""
