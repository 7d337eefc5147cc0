"""The image store after an engine test session, also one killed before its teardown (a cancelled CI
job, `timeout`, pytest-timeout's os._exit): a detached janitor process waits for the session's process
to end and removes the images of the session's stopped registries, unless the session's own teardown
did it and ended the janitor first. `python -m tests.integration.janitor PID FOLDER` runs one.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.env import image_refs, remove_refs

ROOT = Path(__file__).resolve().parents[2]
PR_SET_PDEATHSIG = 1
SETTLE_S = 10.0  # how long the registries of a killed session get to stop (they are sent SIGTERM)


def dies_with_this_thread() -> Callable[[], None]:
    """A Popen preexec_fn: the child gets SIGTERM when the thread that started it ends, also by a kill
    (Linux's PR_SET_PDEATHSIG): a killed session leaves no registry listening, whose images would stay."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork
    return lambda: prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def of_a_stopped_registry(ref: str) -> bool:
    """Whether ref names a loopback registry nothing listens on any more (a throwaway registry of a
    finished test), or is a dangling image record; the images of a test session running beside this
    one stay, as its registries still answer."""
    if ref.startswith("moby-dangling@"):
        return True
    port = _loopback_port(ref)
    return port is not None and not _listening(port)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _loopback_port(ref: str) -> int | None:
    host, _, rest = ref.partition("/")
    name, _, port = host.rpartition(":")
    return int(port) if rest and name in ("localhost", "127.0.0.1") and port.isdigit() else None


def clean(before: set[str], log: Path) -> str:
    """Remove the images that appeared since before and belong to stopped registries; how."""
    return remove_refs([ref for ref in image_refs() - before if of_a_stopped_registry(ref)], log)


def watch(before: set[str], folder: Path) -> subprocess.Popen[bytes]:
    """Start the janitor of this process's session (detached: it outlives a kill of the session)."""
    (folder / "before.txt").write_text("".join(f"{ref}\n" for ref in sorted(before)), encoding="utf-8")
    with (folder / "janitor.log").open("ab") as log:
        return subprocess.Popen([sys.executable, "-m", "tests.integration.janitor", str(os.getpid()),
                                 str(folder)], cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True)


def _wait_for_exit(pid: int) -> None:
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    select.select([handle], [], [])  # readable once the process has ended
    os.close(handle)


def _settle(before: set[str]) -> None:
    """Give the registries of the ended session SETTLE_S to stop listening (those of another session
    running beside it keep answering: the wait ends at the limit then)."""
    deadline = time.monotonic() + SETTLE_S
    ports = {port for ref in image_refs() - before if (port := _loopback_port(ref)) is not None}
    while ports and time.monotonic() < deadline:
        ports = {port for port in ports if _listening(port)}
        time.sleep(0.5 if ports else 0)


def main(argv: list[str]) -> int:
    """Wait for the session PID to end, then remove the images of its stopped registries."""
    pid, folder = int(argv[0]), Path(argv[1])
    before = set((folder / "before.txt").read_text(encoding="utf-8").split())
    _wait_for_exit(pid)
    _settle(before)
    how = clean(before, folder / "rmi.log")
    print(f"session {pid} ended before its teardown; images of its stopped registries removed ({how})",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
