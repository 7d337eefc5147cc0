"""cli: huge numbers, credentials, report folders and unwritable outputs end in exit 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main as cli
from engine.cli.options import OptionError
from engine.state.history import History
from tests.engine.engine_fakes import write_stack

ROOT = Path(__file__).resolve().parents[3]
SECRET = "s3cr3t-pw"


def error_of(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return captured.err


# --- numbers too large for what they feed --------------------------------------------------------


def test_a_history_limit_too_large_for_sqlite_is_refused(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    with History(tmp_path / "history.db") as history:
        history.start_run("r1", "2026-01-01T00:00:00+00:00", "incremental")
    with pytest.raises(SystemExit) as caught:  # before: OverflowError from sqlite, a traceback
        cli.main(["history", "--state-dir", str(tmp_path), "--limit", "99999999999999999999"])
    assert caught.value.code == 2
    assert "argument --limit: must be at most 1000000000" in error_of(capsys)


def test_a_stall_timeout_beyond_what_a_thread_can_wait_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # queue.get(timeout=1e10) raises OverflowError: it would have failed every build, not the input
    with pytest.raises(SystemExit) as caught:
        cli.parse_checked(["build", "--root", str(tmp_path), "--stall-timeout", "10000000000"], {})
    assert caught.value.code == 2
    assert "argument --stall-timeout: must be at most 1000000000" in error_of(capsys)


def test_the_largest_accepted_values_are_accepted(tmp_path: Path) -> None:
    args = cli.parse_checked(["build", "--root", str(tmp_path), "--stall-timeout", "1000000000",
                              "--jobs", "1000000000"], {})
    assert (args.stall_timeout, args.jobs) == (1_000_000_000, 1_000_000_000)


# --- credentials in the registry prefix are refused without being echoed --------------------------


@pytest.mark.parametrize("value", [f"https://user:{SECRET}@ghcr.io/org", f"user:{SECRET}@localhost:5000/x",
                                   f"user:{SECRET}@localhost:5000/x\x1b[2J", f"user:{SECRET}@h,other/x"])
def test_a_registry_flag_with_a_password_never_prints_it(value: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["plan", "stacks/demo", "--root", str(ROOT), "--offline", "--registry", value]) == 2
    err = error_of(capsys)
    assert err.startswith("error: --registry: the registry prefix holds credentials")
    assert SECRET not in err


def test_a_registry_variable_with_a_password_never_prints_it(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("STACKBUILD_REGISTRY", f"https://bot:{SECRET}@ghcr.io/org")
    assert cli.main(["plan", "stacks/demo", "--root", str(ROOT), "--offline"]) == 2
    err = error_of(capsys)
    assert err.startswith("error: environment variable STACKBUILD_REGISTRY: the registry prefix holds")
    assert SECRET not in err


def test_a_configured_registry_with_a_password_never_prints_it(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    write_stack(tmp_path)
    (tmp_path / "pyproject.toml").write_text(f'[tool.stackbuild]\nregistry = "u:{SECRET}@h:5000/x"\n',
                                             encoding="utf-8")
    assert cli.main(["plan", "--root", str(tmp_path), "--offline"]) == 2
    err = error_of(capsys)
    assert err.startswith("error: [tool.stackbuild] registry: the registry prefix holds credentials")
    assert SECRET not in err


# --- --report-dir is checked before anything is built ----------------------------------------------


@pytest.mark.parametrize(("relative", "problem"), [("reports", "is a file"),
                                                   ("reports/run", "lies below a file")])
def test_a_report_dir_that_cannot_be_a_folder_is_refused_before_the_build(
        relative: str, problem: str, tmp_path: Path) -> None:
    (tmp_path / "reports").write_text("keep", encoding="utf-8")
    # before: accepted, and copy_reports failed with a traceback once the whole build had run
    with pytest.raises(OptionError, match=f"^--report-dir: {tmp_path / relative} {problem}") as caught:
        cli.parse_checked(["build", "--root", str(tmp_path), "--report-dir", str(tmp_path / relative)], {})
    assert caught.value.exit_code == 2
    assert (tmp_path / "reports").read_text(encoding="utf-8") == "keep"


# --- an output that cannot be written ----------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ["plan", "--offline", "--emit", "github", "--out", "/proc/stackbuild-test/ci.yml"],
    ["graph", "--offline", "--format", "dot", "--out", "/proc/stackbuild-test.dot"],
    ["export", "bake", "--out", "/proc/stackbuild-test.json"],
    ["export", "meta", "--out", "/proc/stackbuild-test"],
])
def test_an_output_that_cannot_be_written_is_exit_2_naming_it(
        argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_stack(tmp_path)
    assert cli.main([*argv, "--root", str(tmp_path)]) == 2
    err = error_of(capsys)
    assert err.startswith("error: cannot use /proc/stackbuild-test") and "check the path" in err


# --- the folder --cache local hands to buildx -------------------------------------------------------


@pytest.mark.parametrize(("root", "state"), [("repo", "a,b"), ("my,repo", ".state")])
def test_a_comma_in_the_default_local_cache_folder_is_refused_before_the_build(
        root: str, state: str, tmp_path: Path) -> None:
    # before: accepted; every node then failed mid-run (UnsafeBuildValue) once the engine was reached
    repo = tmp_path / root
    with pytest.raises(OptionError, match=r"^--cache local: the cache folder .* contains ','") as caught:
        cli.parse_checked(["build", "--root", str(repo), "--cache", "local", "--state-dir", state], {})
    assert caught.value.exit_code == 2


def test_a_relative_cache_dir_below_a_folder_with_a_comma_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a,b").mkdir()
    monkeypatch.chdir(tmp_path / "a,b")
    with pytest.raises(OptionError, match=r"^--cache local: the cache folder .*a,b/cache contains ','"):
        cli.parse_checked(["build", "--cache", "local", "--cache-dir", "cache"], {})
