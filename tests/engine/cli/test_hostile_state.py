"""cli: a planted, corrupt or busy state folder ends in a message and an exit code, never a traceback."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.cli import main as cli
from engine.state.history import History

ROOT = Path(__file__).resolve().parents[3]
DIGEST = "sha256:" + "a" * 64
LOCK = {"version": 1, "run": "r1", "nodes": {"a": {
    "node": "a", "ref": "localhost:5000/hostile/a:1", "fingerprint": "f" * 64, "digest": DIGEST}}}
SECRET = "precious contents\n"


def lockfile(folder: Path) -> Path:
    path = folder / "lock.json"
    path.write_text(json.dumps(LOCK), encoding="utf-8")
    return path


def promote(state: Path, lock: Path) -> int:
    return cli.main(["promote", str(lock), "--state-dir", str(state), "--log-format", "json"])


def planted_link(folder: Path, name: str) -> tuple[Path, Path]:
    """A state folder whose entry name is a symlink to a file holding SECRET; the folder and the file."""
    target = folder / "precious.txt"
    target.write_text(SECRET, encoding="utf-8")
    state = folder / "state"
    state.mkdir()
    (state / name).symlink_to(target)
    return state, target


def error_of(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return captured.err


# --- the state folder and run.lock --------------------------------------------------------------


def test_a_symlinked_run_lock_is_not_followed_and_its_target_is_intact(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state, target = planted_link(tmp_path, "run.lock")
    assert promote(state, lockfile(tmp_path)) == 2
    assert error_of(capsys) == (f"error: {state}/run.lock is a symlink, which stackbuild does not follow "
                                "here "
                                f"(remove the link ({state}/run.lock))\n")
    assert target.read_text(encoding="utf-8") == SECRET


def test_run_lock_being_a_folder_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    (state / "run.lock").mkdir(parents=True)
    assert promote(state, lockfile(tmp_path)) == 2
    lock = state / "run.lock"
    assert error_of(capsys) == (f"error: {lock} is a folder, not a regular file "
                                f"(move it away: mv {lock} {lock}.old)\n")


def test_the_state_folder_being_a_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    state.write_text(SECRET, encoding="utf-8")
    assert promote(state, lockfile(tmp_path)) == 2
    assert error_of(capsys) == (f"error: state folder {state} is not a folder (move the file away, or pass "
                                "another --state-dir (env STACKBUILD_STATE))\n")
    assert state.read_text(encoding="utf-8") == SECRET


def test_a_symlinked_state_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    real = tmp_path / "real"
    real.mkdir()
    state = tmp_path / "state"
    state.symlink_to(real)
    assert promote(state, lockfile(tmp_path)) == 2
    assert error_of(capsys) == (f"error: state folder {state} is a symlink (to {real}), which stackbuild "
                                "does not follow (pass the real folder with --state-dir, or remove the "
                                "link)\n")
    assert list(real.iterdir()) == []


# --- lockfiles ----------------------------------------------------------------------------------


def test_a_deeply_nested_lockfile_is_exit_2_with_its_path(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lock = tmp_path / "lock.json"
    lock.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    assert promote(tmp_path / "state", lock) == 2
    assert error_of(capsys) == (f"error: cannot read lockfile {lock}: nested too deeply "
                                "(name a lock.json written by a run)\n")


@pytest.mark.parametrize(("text", "problem"), [
    ('{"version": 1, "nodes": {"a": 7}}', "node 'a' lacks node/ref/fingerprint/digest"),
    ('{"version": 1, "nodes": {"a": {"node": "a", "ref": "localhost:5000/x/a:1", "fingerprint": "f", '
     f'"digest": "{DIGEST}", "platforms": {{"linux/amd64": "\\u001b[2J"}}}}}}}}',
     "node 'a' has a malformed platform or platform digest"),
])
def test_a_malformed_lockfile_is_exit_2_with_its_path(
        text: str, problem: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lock = tmp_path / "lock.json"
    lock.write_text(text, encoding="utf-8")
    assert promote(tmp_path / "state", lock) == 2
    assert error_of(capsys) == f"error: {lock}: {problem} (restore the file from the run folder)\n"


def test_a_lockfile_naming_a_device_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert promote(tmp_path / "state", Path("/dev/zero")) == 2
    assert error_of(capsys) == ("error: cannot read lockfile /dev/zero: it is a device, not a regular file "
                                "(name a lock.json written by a run)\n")


# --- the history database -----------------------------------------------------------------------

CORRUPT_HINT = "(move it away; history is lost, images are not)"


def history(state: Path, *args: str) -> int:
    return cli.main(["history", "--state-dir", str(state), *args])


def recorded(state: Path) -> Path:
    """A history database with one run of one node."""
    path = state / "history.db"
    with History(path) as db:
        db.start_run("r1", "2026-01-01T00:00:00+00:00", "incremental")
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("INSERT INTO nodes VALUES ('r1', 'a', 'localhost:5000/x/a:1', 'f', '', 'build', 'new', "
                     "'succeeded', 1.0, '{}', '{}', '2026-01-01T00:00:01+00:00', '{}')")
    conn.close()
    return path


def test_a_database_that_is_not_one_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "history.db"
    path.write_bytes(b"SQLite format 2\0" + b"\x13" * 4096)
    assert history(tmp_path) == 2
    assert error_of(capsys) == (f"error: history database {path} is corrupt: file is not a database "
                                f"{CORRUPT_HINT}\n")


def test_a_text_schema_version_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = recorded(tmp_path)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE schema_version SET version = 'one'")
    conn.close()
    assert history(tmp_path) == 2
    assert error_of(capsys) == (f"error: history database {path} is corrupt: schema version 'one' is not a "
                                f"whole number {CORRUPT_HINT}\n")


@pytest.mark.parametrize(("column", "value", "problem"), [
    ("inputs", "{not json", "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    ("inputs", "[1, 2]", "column inputs holds '[1, 2]', not a JSON object"),
    ("platform_durations", '{"linux/amd64": "slow"}', "could not convert string to float: 'slow'"),
    ("platform_digests", "[" * 50_000 + "]" * 50_000,
     "maximum recursion depth exceeded while decoding a JSON array from a unicode string"),
])
def test_a_bad_json_row_is_exit_2(column: str, value: str, problem: str, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = recorded(tmp_path)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(f"UPDATE nodes SET {column} = ?", (value,))
    conn.close()
    assert history(tmp_path, "--run", "r1") == 2
    assert error_of(capsys) == f"error: history database {path} is corrupt: {problem} {CORRUPT_HINT}\n"


def test_a_symlinked_database_is_refused_and_its_target_untouched(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state, target = planted_link(tmp_path, "history.db")
    assert history(state) == 2
    path = state / "history.db"
    assert error_of(capsys) == (f"error: {path} is a symlink, not a regular file "
                                f"(move it away: mv {path} {path}.old)\n")
    assert target.read_text(encoding="utf-8") == SECRET
    assert not (tmp_path / "precious.txt-wal").exists()


def test_a_locked_database_is_reported_as_busy_quickly(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = recorded(tmp_path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        assert history(tmp_path) == 4
        elapsed = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert error_of(capsys) == (f"error: build history database {path} is busy: another stackbuild run (or "
                                "another program) holds it (wait for it to finish, or use another "
                                "--state-dir)\n")
    assert elapsed < 6  # the busy timeout is 2 s; a locked file used to be called corrupt after 10 s


# --- the same through a real process ------------------------------------------------------------


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, **(env or {})}, check=False)


def test_a_smuggled_registry_in_the_environment_exits_2_in_a_real_process() -> None:
    done = run_cli("plan", "stacks/demo", "--offline", "--log-format", "json",
                   env={"STACKBUILD_REGISTRY": "localhost:5000/x,10.9.9.9:5000/y"})
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("error: environment variable STACKBUILD_REGISTRY: registry "
                                  "'localhost:5000/x,10.9.9.9:5000/y' contains ','")
    assert "Traceback" not in done.stderr


def test_a_symlinked_run_lock_exits_2_in_a_real_process(tmp_path: Path) -> None:
    state, target = planted_link(tmp_path, "run.lock")
    done = run_cli("promote", str(lockfile(tmp_path)), "--log-format", "json",
                   env={"STACKBUILD_STATE": str(state)})
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {state}/run.lock is a symlink")
    assert "Traceback" not in done.stderr
    assert target.read_text(encoding="utf-8") == SECRET


def test_history_rows_with_escape_sequences_are_shown_escaped(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = recorded(tmp_path)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE nodes SET reason = ?", ("new\x1b]0;owned\x07",))
    conn.close()
    assert history(tmp_path, "--run", "r1") == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert out.endswith("1.0s  new\\x1b]0;owned\\x07\n")
