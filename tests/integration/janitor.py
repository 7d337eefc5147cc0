"""The image store after an engine test session, also one killed before its teardown (a cancelled CI
job, `timeout`, pytest-timeout's os._exit): a detached janitor process waits for the session's process
to end and removes the images of the session's stopped registries, unless the session's own teardown
did it and ended the janitor first. Only the registries the session started itself count (their ports
are noted in its clean-up folder): another session's images stay, also those it tags for a port it
keeps closed on purpose. `python -m tests.integration.janitor PID FOLDER` runs one.
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
PORTS = "ports.txt"  # in the session's clean-up folder: the loopback ports of the registries it started
_session: list[Path] = []  # that folder, once the session's engine_left_as_found set it up


def dies_with_this_thread() -> Callable[[], None]:
    """A Popen preexec_fn: the child gets SIGTERM when the thread that started it ends, also by a kill
    (Linux's PR_SET_PDEATHSIG): a killed session leaves no registry listening, whose images would stay."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork
    return lambda: prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def own_ports(folder: Path | None) -> None:
    """Note the registry ports this process starts from now on in folder (None: nowhere)."""
    _session[:] = [folder] if folder is not None else []


def record_port(port: int) -> None:
    """Note a loopback registry (or proxy) this session started: its images are the session's to remove.
    A file, not memory: the janitor of a killed session reads it from another process."""
    for folder in _session:
        with (folder / PORTS).open("a", encoding="utf-8") as ports:
            ports.write(f"{port}\n")


def recorded_ports(folder: Path) -> set[int]:
    """The ports record_port noted in folder."""
    path = folder / PORTS
    return {int(port) for port in path.read_text(encoding="utf-8").split()} if path.exists() else set()


def leftovers(now: set[str], before: set[str] | None, ports: set[int]) -> list[str]:
    """The references of now that are the session's to remove: new since before, and either a dangling
    image record or of one of the session's registries (ports) nothing listens on any more. Images of
    another session's registries, or of a port it keeps closed on purpose, stay. None if before is
    unknown (the store could not be listed): then nothing is known to be new."""
    if before is None:
        return []
    return sorted(ref for ref in now - before if ref.startswith("moby-dangling@") or _stopped(ref, ports))


def _stopped(ref: str, ports: set[int]) -> bool:
    """Whether ref names a loopback registry of ports that nothing listens on any more."""
    port = _loopback_port(ref)
    return port is not None and port in ports and not _listening(port)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _loopback_port(ref: str) -> int | None:
    host, _, rest = ref.partition("/")
    name, _, port = host.rpartition(":")
    return int(port) if rest and name in ("localhost", "127.0.0.1") and port.isdigit() else None


def clean(before: set[str] | None, folder: Path) -> str:
    """Remove the images that appeared since before and belong to the session's stopped registries
    (recorded in folder); how."""
    now = image_refs() if before is not None else None
    if before is None or now is None:
        return "skipped: the engine's image store could not be listed, so what the tests made is unknown"
    return remove_refs(leftovers(now, before, recorded_ports(folder)), folder / "rmi.log")


def watch(before: set[str] | None, folder: Path) -> subprocess.Popen[bytes] | None:
    """Note this session's registry ports in folder and start its janitor (detached: it outlives a kill
    of the session); no janitor when the images before the session are unknown."""
    own_ports(folder)
    if before is None:
        return None
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


def _settle(folder: Path) -> None:
    """Give the registries of the ended session SETTLE_S to stop listening (they are sent SIGTERM)."""
    deadline = time.monotonic() + SETTLE_S
    ports = recorded_ports(folder)
    while ports and time.monotonic() < deadline:
        ports = {port for port in ports if _listening(port)}
        time.sleep(0.5 if ports else 0)


def main(argv: list[str]) -> int:
    """Wait for the session PID to end, then remove the images of its stopped registries."""
    pid, folder = int(argv[0]), Path(argv[1])
    before = set((folder / "before.txt").read_text(encoding="utf-8").split())
    _wait_for_exit(pid)
    _settle(folder)
    how = clean(before, folder)
    print(f"session {pid} ended before its teardown; images of its stopped registries removed ({how})",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
