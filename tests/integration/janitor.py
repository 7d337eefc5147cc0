"""The image store after an engine test session, also one killed before its teardown (a cancelled CI
job, `timeout`, pytest-timeout's os._exit): a detached janitor process waits for the session's process
to end and removes the new images of stopped loopback registries, and what the session noted to undo
(certs.d folders, docker contexts, a second dockerd's folder, mounts and bridge), unless the session's
own teardown ran and ended the janitor first. Every stopped port counts, also those of the retrying proxies
stackbuild starts inside a build (known to no test), except a port another live session holds (its
test keeps the port closed on purpose and still uses the images) and the default registry's :5000.
`python -m tests.integration.janitor PID FOLDER` runs one.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from bench.env import image_refs, remove_refs

ROOT = Path(__file__).resolve().parents[2]
_PARENT_STILL_ALIVE = '[ "$PPID" = "$1" ] || exit 125; shift; exec "$@"'  # $1: the pid that started it
SETTLE_S = 10.0  # how long the registries of a killed session get to stop (they are sent SIGTERM)
PORTS = "ports.txt"  # in the session's clean-up folder: the loopback ports of the registries it started
UNDO = "undo"  # in that folder: one note per thing a killed session's janitor undoes (undone_if_killed)
HELD = Path(tempfile.gettempdir()) / "stackbuild-engine-tests" / "held-ports"  # shared by every session
DEFAULT_REGISTRY_PORT = 5000  # `make matrix`'s registry: its images are never a test's
_session: list[Path] = []  # that folder, once the session's engine_left_as_found set it up


def require_setpriv(program: str) -> None:
    """FileNotFoundError saying what setpriv is for and where it comes from, when it is not on PATH
    (else Popen's bare "No such file or directory: 'setpriv'", after whatever was set up for program)."""
    if shutil.which("setpriv") is None:
        raise FileNotFoundError(
            f"setpriv is not on PATH: the engine tests start {program} through util-linux's setpriv "
            "--pdeathsig, so that it ends with a killed test session (tests/integration/janitor.py); "
            "install the Debian package util-linux (apt-get install util-linux)")


def dies_with_this_thread(argv: list[str]) -> list[str]:
    """argv prefixed so the command gets SIGTERM when the thread that starts it ends, also by a kill: a
    killed session leaves no registry listening (whose images would stay) and no second dockerd running.

    setpriv (util-linux) sets Linux's PR_SET_PDEATHSIG in the child and execs: no Python runs between
    fork and exec (a preexec_fn is unsafe while other threads live). The signal is only sent by a parent
    alive when it was set, so sh then starts the command only if its parent is still this process."""
    # PDEATHSIG follows the starting thread, not the process: only the main thread lives as long as the
    # session (pytest runs fixtures there); one started from a worker thread would die with that thread
    assert threading.current_thread() is threading.main_thread(), "start it from the main thread"
    require_setpriv(argv[0])
    return ["setpriv", "--pdeathsig", "TERM", "--", "sh", "-c", _PARENT_STILL_ALIVE, "sh", str(os.getpid()),
            *argv]


def own_ports(folder: Path | None) -> None:
    """Note the registry ports this process starts from now on in folder (None: nowhere)."""
    _session[:] = [folder] if folder is not None else []


def record_port(port: int) -> None:
    """Note a registry process this session started (it outlives a killed session briefly; a server
    thread of the session does not): the janitor gives it time to stop before it looks for stopped
    ports. A file: the janitor is another process."""
    for folder in _session:
        with (folder / PORTS).open("a", encoding="utf-8") as ports:
            ports.write(f"{port}\n")


@contextlib.contextmanager
def undone_if_killed(kind: str, *values: str) -> Iterator[None]:
    """Note what the janitor undoes should the session be killed while the block runs: ("folder", path),
    ("context", docker context name), ("engine", folder, bridge, dockerd pid). The note goes once the
    block ends (the test undoes it itself then: an old note could name what another session made since)."""
    notes = [folder / UNDO / f"{uuid.uuid4().hex}.json" for folder in _session]
    for note in notes:
        note.parent.mkdir(exist_ok=True)
        note.write_text(json.dumps([kind, *values]), encoding="utf-8")
    try:
        yield
    finally:
        for note in notes:
            note.unlink(missing_ok=True)


def undo(folder: Path) -> None:
    """Undo what the session's running blocks noted (see undone_if_killed)."""
    for note in sorted((folder / UNDO).glob("*.json")) if (folder / UNDO).is_dir() else ():
        try:
            kind, *values = json.loads(note.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # half written when the session died: nothing to undo by it
            continue
        if kind == "folder":
            shutil.rmtree(values[0], ignore_errors=True)
        elif kind == "context":
            subprocess.run(["docker", "context", "rm", "--force", values[0]], check=False,
                           capture_output=True, timeout=60)
        elif kind == "engine" and ends_within(int(values[2]), 60):  # it got SIGTERM when the session died
            unmount_below(Path(values[0]))
            shutil.rmtree(values[0], ignore_errors=True)
            subprocess.run(["ip", "link", "del", values[1]], check=False, capture_output=True, timeout=60)


def unmount_below(folder: Path) -> None:
    """Unmount what a killed dockerd left mounted below folder (its data-root bind mount), deepest first."""
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for point in sorted((m for m in mounts if m == str(folder) or m.startswith(f"{folder}/")), reverse=True):
        if subprocess.run(["umount", point], check=False, capture_output=True).returncode:
            subprocess.run(["umount", "-l", point], check=False, capture_output=True)


def recorded_ports(folder: Path) -> set[int]:
    """The ports record_port noted in folder."""
    path = folder / PORTS
    return {int(port) for port in path.read_text(encoding="utf-8").split()} if path.exists() else set()


def hold_port(port: int, pid: int | None = None) -> None:
    """Note that process pid (default: this one) uses images of loopback port while nothing listens
    there: the clean-ups of other sessions leave them while it lives. An empty file <port>.<pid> in a
    folder every user may write to (sticky, as /tmp), so a session of another user sees it too."""
    _shared_folder()
    (HELD / f"{port}.{os.getpid() if pid is None else pid}").touch()


def _shared_folder() -> None:
    """HELD, made writable for every user (sticky: each removes only its own notes) if this user made it."""
    for folder in (HELD.parent, HELD):  # one at a time: never made through a planted symlink
        folder.mkdir(exist_ok=True)
        if _not_own_folder(folder):
            raise OSError(f"{folder} is not a folder of its own")
    if HELD.stat().st_uid == os.geteuid():
        HELD.chmod(0o1777)


def _planted() -> bool:
    """Whether HELD, or the folder it lies in, is a symlink or no folder (someone else's doing)."""
    return any(_not_own_folder(folder) for folder in (HELD.parent, HELD))


def _not_own_folder(folder: Path) -> bool:
    """Whether folder is a symlink, or something other than a folder (a missing one is neither)."""
    return folder.is_symlink() or (folder.exists() and not folder.is_dir())


def held_ports(session_pid: int) -> set[int] | None:
    """The ports held by live processes other than session_pid (the notes of ended ones are removed),
    None when the notes cannot be read (then every port may be held)."""
    if _planted():
        return None
    if not HELD.exists():
        return set()
    try:
        notes = [note.name.split(".") for note in HELD.iterdir()]
    except OSError:
        return None
    held = set()
    for port, pid in (note for note in notes if len(note) == 2 and all(part.isdigit() for part in note)):
        if not _alive(int(pid)):
            with contextlib.suppress(OSError):  # another user's note, or gone meanwhile
                (HELD / f"{port}.{pid}").unlink()
        elif int(pid) != session_pid:
            held.add(int(port))
    return held


def _alive(pid: int) -> bool:
    """Whether process pid exists (a signal 0 reaches it, or it belongs to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def leftovers(now: set[str], before: set[str] | None, kept: set[int] | None) -> list[str]:
    """The references of now that are the session's to remove: new since before, and either a dangling
    image record or of a loopback port nothing listens on any more, unless kept (held by another live
    session, or the default registry's; None: any port may be). None if before is unknown (the store
    could not be listed): then nothing is known to be new."""
    if before is None:
        return []
    return sorted(ref for ref in now - before if ref.startswith("moby-dangling@") or _stopped(ref, kept))


def _stopped(ref: str, kept: set[int] | None) -> bool:
    """Whether ref names a loopback registry not in kept that nothing listens on any more."""
    port = _loopback_port(ref)
    return port is not None and kept is not None and port not in kept and not listening(port)


def listening(port: int) -> bool:
    """Whether something listens on the loopback port."""
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _loopback_port(ref: str) -> int | None:
    host, _, rest = ref.partition("/")
    name, _, port = host.rpartition(":")
    return int(port) if rest and name in ("localhost", "127.0.0.1") and port.isdigit() else None


def clean(before: set[str] | None, folder: Path, session_pid: int | None = None) -> str:
    """Remove the images that appeared since before and belong to stopped loopback registries, but for
    the ports other live sessions than session_pid (default: this process) hold; how."""
    now = image_refs() if before is not None else None
    if before is None or now is None:
        return "skipped: the engine's image store could not be listed, so what the tests made is unknown"
    held = held_ports(os.getpid() if session_pid is None else session_pid)
    kept = None if held is None else held | {DEFAULT_REGISTRY_PORT}
    return remove_refs(leftovers(now, before, kept), folder / "rmi.log")


def watch(before: set[str] | None, folder: Path) -> subprocess.Popen[bytes]:
    """Note this session's registry ports in folder and start its janitor (detached: it outlives a kill
    of the session); it removes no image when the images before the session are unknown."""
    own_ports(folder)
    if before is not None:
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
    """Wait for the session PID to end, then remove the images of its stopped registries and undo what
    its running blocks noted."""
    pid, folder = int(argv[0]), Path(argv[1])
    listed = folder / "before.txt"
    before = set(listed.read_text(encoding="utf-8").split()) if listed.exists() else None
    if os.getppid() == pid:  # else the session ended before this started (its pid may be another's now)
        ends_within(pid, None)
    try:
        _settle(folder)
        how = clean(before, folder, pid)
    finally:
        undo(folder)
    print(f"session {pid} ended before its teardown; images of stopped registries removed ({how}), "
          "what it noted to undo undone", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
