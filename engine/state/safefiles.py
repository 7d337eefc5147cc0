"""State files without surprises: no symlink followed, no device or FIFO opened, sizes bounded.

The state folder (default `.state` below the repository) may come from a checkout, so anything in
it may have been planted: a `run.lock` symlinked to a file we would truncate, a `history.db` that
is a folder. The folder itself must be a real folder, not a symlink (pass the real path with
--state-dir instead); every file in it is opened with O_NOFOLLOW and must be a regular file.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

from engine.errors import EngineError

MAX_STATE_FILE = 64 * 1024 * 1024  # a lockfile of thousands of nodes is a few MiB
_OPEN_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # O_NONBLOCK: a FIFO must not hang us


class StateError(EngineError):
    """A state file or folder is not what stackbuild keeps there (a symlink, a folder, a device)."""

    exit_code = 2

    def __init__(self, message: str, hint: str = "", reason: str = "") -> None:
        super().__init__(message, hint)
        self.reason = reason or message  # what is wrong, without the path


def state_folder(path: Path) -> Path:
    """path as a real folder, created when missing; StateError when it is a symlink or not a folder."""
    try:
        info = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"cannot create the state folder {path}: {exc.strerror or exc}",
                             "pass a writable folder with --state-dir (env STACKBUILD_STATE)") from None
        return path
    if stat.S_ISLNK(info.st_mode):
        raise StateError(f"state folder {path} is a symlink (to {os.readlink(path)}), which stackbuild "
                         "does not follow", "pass the real folder with --state-dir, or remove the link")
    if not stat.S_ISDIR(info.st_mode):
        raise StateError(f"state folder {path} is not a folder",
                         "move the file away, or pass another --state-dir (env STACKBUILD_STATE)")
    return path


def refuse_odd_file(path: Path) -> None:
    """StateError when path exists as anything but a regular file (for files others open, e.g. SQLite)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _refused(path, exc) from None
    if not stat.S_ISREG(info.st_mode):
        raise _not_regular(path, info.st_mode)


def open_state_file(path: Path, flags: int, follow_symlinks: bool = False) -> int:
    """A descriptor of the regular file path (never a symlink unless follow_symlinks); StateError else."""
    extra = _OPEN_FLAGS & ~os.O_NOFOLLOW if follow_symlinks else _OPEN_FLAGS
    try:
        fd = os.open(path, flags | extra, 0o644)
    except OSError as exc:
        raise _refused(path, exc) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise _not_regular(path, mode)
    os.set_blocking(fd, True)
    return fd


def read_bounded(path: Path, limit: int = MAX_STATE_FILE, follow_symlinks: bool = False) -> bytes:
    """The bytes of the regular file path, at most limit of them (StateError when longer)."""
    fd = open_state_file(path, os.O_RDONLY, follow_symlinks)
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise StateError(f"{path} is larger than {limit} bytes", "name the file stackbuild wrote",
                         f"it is larger than {limit} bytes")
    return data


def write_atomic(path: Path, text: str) -> Path:
    """Write text to path through a fresh temporary file and a rename (a symlink at path is replaced)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.unlink(missing_ok=True)  # removes a planted symlink itself, never its target
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _OPEN_FLAGS, 0o644)
    except OSError as exc:
        raise _refused(tmp, exc) from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    try:
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _refused(path, exc) from None
    return path


def _refused(path: Path, exc: OSError) -> StateError:
    """The StateError for an open, rename or stat that failed."""
    if exc.errno == errno.ELOOP:
        return StateError(f"{path} is a symlink, which stackbuild does not follow here",
                          f"remove the link ({path})", "it is a symlink")
    if exc.errno in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST) and path.is_dir():
        return _not_regular(path, stat.S_IFDIR)
    if exc.errno == errno.ENXIO:
        return _not_regular(path, stat.S_IFIFO)
    return StateError(f"cannot open {path}: {exc.strerror or exc}", "check the path and its permissions",
                      str(exc.strerror or exc))


def _not_regular(path: Path, mode: int) -> StateError:
    """The StateError for a symlink, folder, device, FIFO or socket where a file belongs."""
    kind = ("a symlink" if stat.S_ISLNK(mode) else "a folder" if stat.S_ISDIR(mode)
            else "a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a socket")
    return StateError(f"{path} is {kind}, not a regular file", f"move it away: mv {path} {path}.old",
                      f"it is {kind}, not a regular file")


LARGE_DOCUMENT = 500  # records above which state files are written compact


def json_text(data: object, records: int) -> str:
    """State-file JSON: indented for people, compact above LARGE_DOCUMENT records.

    json.dumps with indent runs Python's own encoder, several seconds for a 10k-node report written
    three times a run; without indent it runs the C encoder.
    """
    return json.dumps(data, indent=2 if records <= LARGE_DOCUMENT else None) + "\n"


def plain(record: object) -> dict[str, object]:
    """A dataclass's fields as a dict, one level deep (dataclasses.asdict deep-copies every value)."""
    names = getattr(record, "__dataclass_fields__", {})
    return {name: getattr(record, name) for name in names}
