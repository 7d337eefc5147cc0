"""The state folder: one run at a time (an advisory lock), and where runs, history and locks live."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.errors import EngineError
from engine.state.safefiles import open_state_file, state_folder


class StateLocked(EngineError):
    """Another stackbuild run holds the state folder."""

    exit_code = 4


@contextmanager
def run_lock(state_dir: Path) -> Iterator[None]:
    """Hold the state folder's lock for one run; refuse at once when another run holds it.

    run.lock is opened without following a symlink: a planted link cannot make us truncate its target.
    """
    path = state_folder(state_dir) / "run.lock"
    fd = open_state_file(path, os.O_RDWR | os.O_CREAT)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            raise StateLocked(f"another stackbuild run (pid {holder if holder.isdigit() else 'unknown'}) "
                              f"is using {state_dir}", "wait for it to finish, or use another --state-dir") \
                from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
