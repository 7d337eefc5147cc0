"""run_watched on a pseudo-terminal: progress redraws keep a long upload alive, only settled lines are
logged, and a silent process is still stopped."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from engine.build import watch as watch_module
from engine.build.watch import read_from, run_watched
from engine.errors import BuildError, BuildStalled, EngineUnavailable

# a `docker push` on a terminal: a layer's progress redrawn in place every 0.1 s for PUSH_S seconds
FAKE_PUSH = textwrap.dedent("""\
    import os, sys, time
    write = lambda text: (sys.stdout.write(text), sys.stdout.flush())
    write("The push refers to repository [localhost:5000/t/n]\\r\\n")
    write("\\x1b[1A\\x1b[2K\\r0a1b2c3d4e5f: Preparing \\r\\x1b[1B")
    while os.environ.get("WAIT_FOREVER"):  # what docker push draws for a registry that never answers
        write("\\x1b[1A\\x1b[2K\\r0a1b2c3d4e5f: Waiting \\r\\x1b[1B")
        time.sleep(0.1)
    started = time.monotonic()
    while time.monotonic() - started < float(os.environ["PUSH_S"]):
        write(f"\\x1b[1A\\x1b[2K\\r0a1b2c3d4e5f: Pushing  {time.monotonic() - started:.1f}MB/9MB\\r\\x1b[1B")
        time.sleep(0.1)
    if os.environ.get("SILENT"):
        time.sleep(120)
    write("\\x1b[1A\\x1b[2K\\r0a1b2c3d4e5f: Pushed \\r\\x1b[1B")
    write("sb-1: digest: sha256:" + "ab" * 32 + " size: 855\\r\\n")
    sys.exit(int(os.environ.get("EXIT", "0")))
""")


@pytest.fixture
def push(tmp_path: Path) -> list[str]:
    script = tmp_path / "push.py"
    script.write_text(FAKE_PUSH, encoding="utf-8")
    return [sys.executable, str(script)]


def run(push: list[str], log_path: Path, stall_timeout_s: float) -> None:
    with log_path.open("w", encoding="utf-8") as log:
        run_watched("n", push, ["docker", "push", "r/n:sb-1"], log, log_path, stall_timeout_s,
                    on_terminal=True)


def test_an_upload_longer_than_the_stall_timeout_lives_on_its_progress(
        tmp_path: Path, push: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUSH_S", "1.5")
    log = tmp_path / "n.log"
    run(push, log, stall_timeout_s=0.5)
    assert log.read_text().splitlines() == [
        "$ docker push r/n:sb-1", "The push refers to repository [localhost:5000/t/n]",
        "0a1b2c3d4e5f: Pushed", "sb-1: digest: sha256:" + "ab" * 32 + " size: 855"]


@pytest.mark.parametrize(("scenario", "last_line"), [
    ({"PUSH_S": "0.3", "SILENT": "1"}, "0a1b2c3d4e5f: Pushing"),  # falls silent mid-upload
    ({"PUSH_S": "0", "WAIT_FOREVER": "1"}, "0a1b2c3d4e5f: Waiting"),  # redraws one unchanged line forever
])
def test_a_push_without_progress_is_stopped_naming_its_last_state(
        tmp_path: Path, push: list[str], monkeypatch: pytest.MonkeyPatch, scenario: dict[str, str],
        last_line: str) -> None:
    for name, value in scenario.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(watch_module, "STOP_GRACE_S", 0.5)
    started = time.monotonic()
    with pytest.raises(BuildStalled) as caught:
        run(push, tmp_path / "n.log", stall_timeout_s=0.5)
    assert time.monotonic() - started < 30
    assert caught.value.last_line.startswith(last_line)
    assert "build stalled: no progress for 0.5 s" in str(caught.value)  # a redrawn line is no progress
    assert "Waiting" not in (tmp_path / "n.log").read_text()  # redraws are not logged


def test_a_failing_push_raises_with_its_exit_code(tmp_path: Path, push: list[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUSH_S", "0")
    monkeypatch.setenv("EXIT", "1")
    with pytest.raises(BuildError) as caught:
        run(push, tmp_path / "n.log", stall_timeout_s=5)
    assert caught.value.exit_code_of_build == 1 and "Pushed" in caught.value.log_tail


def test_a_missing_program_on_a_terminal_is_no_engine_and_leaves_no_descriptor_open(tmp_path: Path) -> None:
    log_path = tmp_path / "n.log"
    before = len(os.listdir("/proc/self/fd"))
    with log_path.open("w", encoding="utf-8") as log, pytest.raises(EngineUnavailable, match="cannot run"):
        run_watched("n", [str(tmp_path / "no-docker"), "push", "r/n:1"], ["docker", "push", "r/n:1"], log,
                    log_path, 5, on_terminal=True)
    assert len(os.listdir("/proc/self/fd")) == before


@pytest.mark.parametrize(("user", "seen"), [
    ({}, "GOGC=off GOMEMLIMIT=100MiB"),  # Go clients collect no garbage below a bounded heap
    ({"GOGC": "50"}, "GOGC=50 GOMEMLIMIT="),  # a user who tuned Go keeps exactly that
    ({"GOMEMLIMIT": "1GiB"}, "GOGC= GOMEMLIMIT=1GiB"),
])
def test_a_watched_program_runs_with_a_lazy_bounded_go_collector_unless_the_user_tuned_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, user: dict[str, str], seen: str) -> None:
    for name in ("GOGC", "GOMEMLIMIT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in user.items():
        monkeypatch.setenv(name, value)
    log_path = tmp_path / "n.log"
    with log_path.open("w", encoding="utf-8") as log:
        run_watched("n", ["sh", "-c", 'echo "GOGC=$GOGC GOMEMLIMIT=$GOMEMLIMIT"'], ["buildx"], log,
                    log_path, 5)
    assert log_path.read_text().splitlines()[-1] == seen


def test_read_from_gives_what_was_written_after_the_offset_even_when_it_is_not_utf8(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    log.write_bytes(b"before\n")
    offset = log.stat().st_size
    with log.open("ab") as file:
        file.write(b"after \xff\n")
    assert read_from(log, offset) == "after \ufffd\n"


@pytest.mark.parametrize("script", ["echo done", "echo no; exit 3"])
def test_a_watched_program_leaves_its_output_pipe_closed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    # an open pipe left to the garbage collector warns (ResourceWarning) in whatever runs then
    started: list[subprocess.Popen[bytes]] = []
    real = subprocess.Popen

    def recorded(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        started.append(real(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(watch_module.subprocess, "Popen", recorded)
    log_path = tmp_path / "n.log"
    with log_path.open("w", encoding="utf-8") as log, contextlib.suppress(BuildError):
        run_watched("n", ["sh", "-c", script], ["buildx"], log, log_path, 5)
    [process] = started
    assert process.stdout is not None and process.stdout.closed
