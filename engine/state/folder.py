"""The state folder: one run at a time (an advisory lock), and where runs, history and locks live."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.errors import EngineError


class StateLocked(EngineError):
    """Another stackbuild run holds the state folder."""

    exit_code = 4


@contextmanager
def run_lock(state_dir: Path) -> Iterator[None]:
    """Hold the state folder's lock for one run; refuse at once when another run holds it."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "run.lock"
    with path.open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise StateLocked(f"another stackbuild run (pid {holder}) is using {state_dir}",
                              "wait for it to finish, or use another --state-dir") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
