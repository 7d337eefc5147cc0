"""The image store after an engine test session, also one killed before its teardown (a cancelled CI
job, `timeout`, pytest-timeout's os._exit): a detached janitor process waits for the session's process
to end and removes the images of the session's stopped registries, unless the session's own teardown
did it and ended the janitor first. Only the registries the session started itself count (their ports
are noted in its clean-up folder): another session's images stay, also those it tags for a port it
keeps closed on purpose. `python -m tests.integration.janitor PID FOLDER` runs one.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.env import image_refs, remove_refs

ROOT = Path(__file__).resolve().parents[2]
_PARENT_STILL_ALIVE = '[ "$PPID" = "$1" ] || exit 125; shift; exec "$@"'  # $1: the pid that started it
SETTLE_S = 10.0  # how long the registries of a killed session get to stop (they are sent SIGTERM)
PORTS = "ports.txt"  # in the session's clean-up folder: the loopback ports of the registries it started
_session: list[Path] = []  # that folder, once the session's engine_left_as_found set it up


def dies_with_this_thread(argv: list[str]) -> list[str]:
    """argv prefixed so the command gets SIGTERM when the thread that starts it ends, also by a kill: a
    killed session leaves no registry listening (whose images would stay) and no second dockerd running.

    setpriv (util-linux) sets Linux's PR_SET_PDEATHSIG in the child and execs: no Python runs between
    fork and exec (a preexec_fn is unsafe while other threads live). The signal is only sent by a parent
    alive when it was set, so sh then starts the command only if its parent is still this process."""
    # PDEATHSIG follows the starting thread, not the process: only the main thread lives as long as the
    # session (pytest runs fixtures there); one started from a worker thread would die with that thread
    assert threading.current_thread() is threading.main_thread(), "start it from the main thread"
    return ["setpriv", "--pdeathsig", "TERM", "--", "sh", "-c", _PARENT_STILL_ALIVE, "sh", str(os.getpid()),
            *argv]


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
    return port is not None and port in ports and not listening(port)


def listening(port: int) -> bool:
    """Whether something listens on the loopback port."""
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


def ends_within(pid: int, timeout: float | None) -> bool:
    """Whether process pid (any, not only a child) has ended within timeout seconds (None: wait for it)."""
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([handle], [], [], timeout)[0])  # readable once the process has ended
    finally:
        os.close(handle)


def _settle(folder: Path) -> None:
    """Give the registries of the ended session SETTLE_S to stop listening (they are sent SIGTERM)."""
    deadline = time.monotonic() + SETTLE_S
    ports = recorded_ports(folder)
    while ports and time.monotonic() < deadline:
        ports = {port for port in ports if listening(port)}
        time.sleep(0.5 if ports else 0)


def main(argv: list[str]) -> int:
    """Wait for the session PID to end, then remove the images of its stopped registries."""
    pid, folder = int(argv[0]), Path(argv[1])
    before = set((folder / "before.txt").read_text(encoding="utf-8").split())
    ends_within(pid, None)
    _settle(folder)
    how = clean(before, folder)
    print(f"session {pid} ended before its teardown; images of its stopped registries removed ({how})",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
