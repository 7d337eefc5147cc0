"""Watching a build process: its output copied to the log as it comes, stopped when it falls silent."""

from __future__ import annotations

import queue
import subprocess
import threading
from pathlib import Path
from typing import IO

from engine.state.hygiene import redact_text

LOG_TAIL_LINES = 25
STOP_GRACE_S = 10.0  # SIGTERM, then SIGKILL after this long


def watch(process: subprocess.Popen[bytes], log: IO[str], stall_timeout_s: float,
          hidden: tuple[str, ...] = ()) -> tuple[bool, str]:
    """Copy process output to log line by line (flushed, hidden values as ***) until it ends or stalls;
    (stalled, last line). A stalled process is stopped (SIGTERM, then SIGKILL).
    """
    lines: queue.Queue[bytes | None] = queue.Queue()
    assert process.stdout is not None
    threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True, name="buildx-log").start()
    last_line = ""
    while True:
        try:
            line = lines.get(timeout=stall_timeout_s)
        except queue.Empty:
            stop(process)
            return True, last_line
        if line is None:
            return False, last_line
        text = redact_text(line.decode("utf-8", errors="replace"), hidden)
        log.write(text if text.endswith("\n") else text + "\n")
        log.flush()
        last_line = text.strip() or last_line


def _pump(stream: IO[bytes], lines: queue.Queue[bytes | None]) -> None:
    """Every line of stream onto lines, then None."""
    try:
        for line in iter(stream.readline, b""):
            lines.put(line)
    finally:
        lines.put(None)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL when the process has not ended within STOP_GRACE_S."""
    process.terminate()
    try:
        process.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log file."""
    text = path.read_text(encoding="utf-8", errors="replace")
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])
