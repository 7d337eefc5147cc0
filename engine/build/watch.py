"""Watching a build process: its output copied to the log as it comes, stopped when it falls silent."""

from __future__ import annotations

import os
import pty
import queue
import re
import select
import shlex
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from engine.errors import BuildError, BuildStalled, EngineUnavailable
from engine.state.hygiene import redact_text

LOG_TAIL_LINES = 25
# buildx would put the checkout's origin, credentials and all, into the provenance as vcs:source;
# the public source is in the labels instead (engine.state.hygiene)
BUILDX_ENV = {"BUILDX_GIT_INFO": "false", "BUILDX_GIT_LABELS": "false"}
# buildx and docker push are Go programs that spend ~30 % of a short run's CPU collecting garbage: no
# collection until the heap reaches the limit (bounded memory), unless the user tuned Go already
GO_CLIENT_ENV = {"GOGC": "off", "GOMEMLIMIT": "100MiB"}
READ_BYTES = 65536
_ESCAPE = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")  # cursor moves and erases of a redrawn progress display
# docker push's per-layer progress, redrawn in place
_REDRAWN = re.compile(r"^\S+: (Preparing|Waiting|Pushing|Retrying)\b")
STOP_GRACE_S = 10.0  # SIGTERM, then SIGKILL after this long


def run_watched(node: str, argv: list[str], shown: list[str], log: IO[str], log_path: Path,
                stall_timeout_s: float, hidden: tuple[str, ...] = (), on_terminal: bool = False) -> None:
    """Run argv (logged as shown) copying its output to log; BuildStalled or BuildError when it fails.
    on_terminal: its output goes to a pseudo-terminal (where `docker push` shows upload progress)."""
    log.write(f"$ {shlex.join(shown)}\n")
    log.flush()
    ours, theirs = pty.openpty() if on_terminal else (-1, subprocess.PIPE)
    try:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=theirs, stderr=subprocess.STDOUT,
                                   env=client_env(os.environ))
    except OSError as exc:
        if on_terminal:
            os.close(ours)
        raise EngineUnavailable(f"cannot run {argv[0]}: {exc}", "run `make setup`") from None
    finally:
        if on_terminal:
            os.close(theirs)
    try:
        stalled, last_line = watch_terminal(process, ours, log, stall_timeout_s) if on_terminal \
            else watch(process, log, stall_timeout_s, hidden)
    finally:
        if on_terminal:
            os.close(ours)
    code = process.wait()
    if stalled:
        silence = "no progress" if on_terminal else "no output"  # a terminal's redrawn lines are no progress
        log.write(f"\nstalled: {silence} for {stall_timeout_s:g} s; stopped\n")
        log.flush()
        raise BuildStalled(node, shown, stall_timeout_s, last_line, tail(log_path), str(log_path), silence)
    if code != 0:
        log.write(f"\nexit code {code}\n")
        log.flush()
        raise BuildError(node, shown, code, tail(log_path), str(log_path))


def client_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of a watched program: the caller's, with BUILDX_ENV, and GO_CLIENT_ENV unless the
    caller set either of its variables."""
    tuned = any(name in environ for name in GO_CLIENT_ENV)
    return {**environ, **BUILDX_ENV, **({} if tuned else GO_CLIENT_ENV)}


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


def watch_terminal(process: subprocess.Popen[bytes], terminal: int, log: IO[str],
                   stall_timeout_s: float) -> tuple[bool, str]:
    """watch for a process writing to a pseudo-terminal (terminal: our side of it). `docker push` draws its
    upload progress only on a terminal and redraws unchanged lines ("Waiting") forever, so only a line
    that changed counts as progress: a long upload lives on its byte counts, a hung one is stopped.
    Only settled lines (a layer pushed, the digest, an error) go to the log."""
    pending, last_line = b"", ""
    latest: dict[str, str] = {}  # a line's key (a layer id, else its text) → its last state
    deadline = time.monotonic() + stall_timeout_s
    while True:
        ready, _, _ = select.select([terminal], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            stop(process)
            return True, last_line
        try:
            chunk = os.read(terminal, READ_BYTES)
        except OSError:  # EIO: the process closed its side
            chunk = b""
        *lines, pending = re.split(rb"[\r\n]", pending + _ESCAPE.sub(b"", chunk)) if chunk else [pending, b""]
        if len(pending) > READ_BYTES:  # no line end for this long: taken as a line (bounded memory)
            lines, pending = [*lines, pending], b""
        for text in (raw.decode("utf-8", errors="replace").strip() for raw in lines):
            redrawn = _REDRAWN.match(text)
            key = text.split(": ", 1)[0] if redrawn else text
            if not text or latest.get(key) == text:
                continue
            latest[key] = text  # a new state of some line: progress
            deadline, last_line = time.monotonic() + stall_timeout_s, text
            if not redrawn:
                log.write(text + "\n")
                log.flush()
        if not chunk:
            return False, last_line


def _pump(stream: IO[bytes], lines: queue.Queue[bytes | None]) -> None:
    """Every line of stream onto lines, then None; the stream is closed before None (the pump owns it:
    a pipe left to the garbage collector warns in whatever code runs then)."""
    try:
        with stream:
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


def read_from(path: Path, offset: int) -> str:
    """The text of path from byte offset on (what a command wrote after it started)."""
    with path.open("rb") as file:
        file.seek(offset)
        return file.read().decode("utf-8", errors="replace")
