"""state: one run at a time per state folder, refused at once (not waited for) from another process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.errors import EngineError
from engine.state.folder import StateLocked, run_lock

ROOT = Path(__file__).resolve().parents[3]
HOLD = """
import sys
from pathlib import Path
from engine.state.folder import run_lock
with run_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.readline()
print("released", flush=True)
"""
TRY = """
import sys
from pathlib import Path
from engine.state.folder import StateLocked, run_lock
try:
    with run_lock(Path(sys.argv[1])):
        print("acquired")
except StateLocked as exc:
    print(f"refused {exc.exit_code}: {exc}")
"""


def python(code: str, state: Path, stdin: int | None = None) -> subprocess.Popen[str]:
    """Run code in another Python process with the state folder as its argument."""
    return subprocess.Popen([sys.executable, "-c", code, str(state)], cwd=ROOT, text=True, stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the lock of tmp_path/state until it reads a line."""
    process = python(HOLD, tmp_path / "state", stdin=subprocess.PIPE)
    assert process.stdout is not None
    try:
        assert process.stdout.readline() == "locked\n"
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def test_a_lock_held_by_another_process_is_refused_naming_its_pid(
        tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    state = tmp_path / "state"
    with pytest.raises(StateLocked) as caught, run_lock(state):
        pytest.fail("the lock was granted twice")
    assert str(caught.value) == (f"another stackbuild run (pid {holder.pid}) is using {state} "
                                 "(wait for it to finish, or use another --state-dir)")
    assert caught.value.exit_code == 4
    assert isinstance(caught.value, EngineError)
    assert (state / "run.lock").read_text(encoding="utf-8") == str(holder.pid)  # the refusal changed nothing


def test_the_lock_is_free_once_the_holder_left_its_with_block(
        tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    assert holder.stdin is not None and holder.stdout is not None
    holder.stdin.write("\n")
    holder.stdin.flush()
    assert holder.stdout.readline() == "released\n"
    with run_lock(tmp_path / "state"):
        assert (tmp_path / "state" / "run.lock").read_text(encoding="utf-8") == str(os.getpid())
    holder.stdin.close()
    assert holder.wait(10) == 0


def test_another_process_is_refused_while_we_hold_the_lock_and_served_after(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with run_lock(state):
        out, err = python(TRY, state).communicate(timeout=10)
        assert (out, err) == (f"refused 4: another stackbuild run (pid {os.getpid()}) is using {state} "
                              "(wait for it to finish, or use another --state-dir)\n", "")
    out, _ = python(TRY, state).communicate(timeout=10)
    assert out == "acquired\n"


def test_the_lock_file_holds_our_pid_and_is_emptied_on_release(tmp_path: Path) -> None:
    state = tmp_path / "deep" / "state"
    with run_lock(state):
        assert (state / "run.lock").read_text(encoding="utf-8") == str(os.getpid())
    assert (state / "run.lock").read_text(encoding="utf-8") == ""


def test_the_lock_is_released_when_the_block_raises(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"), run_lock(tmp_path):
        raise RuntimeError("boom")
    with run_lock(tmp_path):
        pass


def test_a_second_lock_in_the_same_process_is_refused_too(tmp_path: Path) -> None:
    with run_lock(tmp_path), pytest.raises(StateLocked, match=rf"\(pid {os.getpid()}\)"), run_lock(tmp_path):
        pytest.fail("the lock was granted twice")


def test_a_stale_pid_in_the_file_does_not_block(tmp_path: Path) -> None:
    (tmp_path / "run.lock").write_text("999999", encoding="utf-8")  # a crashed run left its pid
    with run_lock(tmp_path):
        assert (tmp_path / "run.lock").read_text(encoding="utf-8") == str(os.getpid())
