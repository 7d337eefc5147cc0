"""Build contexts as BuildKit sees them: the visible files (after .dockerignore) and their fingerprint."""

from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from graph.context.matcher import (
    Matcher,
    ParentInfo,
    RefusedPattern,
    clean_path,
    compile_patterns,
    ignored_by,
    match,
    prunes,
)
from graph.errors import StackError
from graph.model.checks import credential_file, git_metadata

SYMLINK_MODE = 0o120000
EXECUTABLE_MODE = 0o755
REGULAR_MODE = 0o644
DIRECTORY_MODE = 0o40755  # a folder sent with nothing below it (its files' paths do not show it)
_ENCODING_HEADER = b"stackbuild-context-v1\n"
_SYMLINK_PREFIX = b"symlink\0"
_EMPTY_DIRECTORY_DIGEST = "sha256:" + hashlib.sha256(b"directory\0").hexdigest()


@dataclass(frozen=True)
class ContextFile:
    """One file of a build context: POSIX path from the context root, content digest and normalised mode."""

    path: str
    digest: str
    mode: int


StatKey = tuple[int, int, int, int, int]  # device, inode, size, modification and change time (ns)


class DigestMemo:
    """Content digests of regular files read before, by path: a file whose device, inode, size and
    modification and change times are unchanged is not read again (any write moves its change time)."""

    def __init__(self, known: Mapping[str, tuple[StatKey, str]] | None = None) -> None:
        self.known = dict(known or {})
        self.seen: dict[str, tuple[StatKey, str]] = {}  # this run's files: what a memo to keep holds
        self.read = 0  # files read (not known)

    def digest(self, path: str, info: os.stat_result) -> str:
        """path's digest: remembered when info matches, else read (info: its lstat)."""
        key = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
        entry = self.known.get(path)
        if entry is not None and entry[0] == key:
            digest = entry[1]
        else:
            digest, self.read = _file_digest(path), self.read + 1
        self.seen[path] = (key, digest)
        return digest


# --- listing and hashing ------------------------------------------------------------------------


def list_context(context_dir: Path, patterns: tuple[str, ...], memo: DigestMemo | None = None,
                 folders: bool = False) -> tuple[ContextFile, ...]:
    """Every regular file and symlink of the context that BuildKit sends, sorted by path.

    The walk is fsutil's: an excluded directory is entered only when an exception could match inside.
    Like BuildKit, symlinks are sent as symlinks: a link's target text is hashed and never followed
    (a symlinked folder is not descended into); FIFOs, sockets and devices are left out unread.
    A memo, when given, spares reading files it already knows unchanged. With folders, every folder
    sent with nothing below it is listed too (DIRECTORY_MODE): `COPY . /app` creates it in the image.
    """
    if not context_dir.is_dir():
        raise StackError(f"build context {context_dir} is not a directory", hint="check the context path")
    try:
        return _walk(context_dir, compile_patterns(tuple(patterns)), memo, folders)
    except RefusedPattern as err:
        raise RefusedPattern(f"build context {context_dir}: {err.message}", hint=err.hint) from err


def _refuse_git_metadata(context_dir: Path, relative: str) -> None:
    """A context must not send a .git folder: CI keeps credentials there (actions/checkout writes the job's
    token to .git/config), and a pull request's stack would hand them to a build it controls."""
    if git_metadata(relative.split("/")):
        raise StackError(f"build context {context_dir} would send .git/ ({relative}), git's own files, "
                         "where CI keeps credentials",
                         hint="add `.git` to the context's .dockerignore, or use a context folder below the "
                              "repository's top")


def _refuse_credential_file(context_dir: Path, relative: str) -> None:
    """A context must not send a credential file a CI step left in the work tree: `COPY .` publishes it."""
    folder, _, name = relative.rpartition("/")
    parent = folder.rpartition("/")[2] if folder else Path(os.path.abspath(context_dir)).name
    if what := credential_file(parent, name):
        raise StackError(f"build context {context_dir} would send {relative}, {what}, which a `COPY .` "
                         "would put in the image",
                         hint=f"add `{relative}` to the context's .dockerignore, or move it out of the "
                              "context")


def _walk(context_dir: Path, matcher: Matcher, memo: DigestMemo | None,
          folders: bool) -> tuple[ContextFile, ...]:
    """The ContextFiles fsutil's filtered walk sends, sorted by path (with folders, its empty folders)."""
    found: list[ContextFile] = []
    sent: list[str] = []  # folders not excluded: fsutil sends them whatever they hold
    pending: list[tuple[str, str, ParentInfo]] = [(str(context_dir), "", ())]
    while pending:
        directory, prefix, parent = pending.pop()
        for entry in _scan(directory):
            relative = prefix + entry.name
            ignored, info = match(matcher, relative, parent)
            if entry.is_dir(follow_symlinks=False):
                if not ignored:
                    _refuse_git_metadata(context_dir, relative)
                    sent.append(relative)
                if not (ignored and prunes(matcher, relative)):
                    pending.append((entry.path, relative + "/", info))
            elif not ignored:
                if git_metadata(relative.split("/")[:-1]):
                    _refuse_git_metadata(context_dir, relative)
                _refuse_credential_file(context_dir, relative)
                item = _context_file(entry, relative, memo)
                if item is not None:
                    found.append(item)
    if folders:
        found += _empty_folders(sent, found)
    return tuple(sorted(found, key=lambda item: item.path))


def _empty_folders(sent: list[str], found: list[ContextFile]) -> list[ContextFile]:
    """The sent folders nothing sent lies below (only these add to what the files' paths show)."""
    below = {path[:index] for path in (*sent, *(item.path for item in found))
             for index, char in enumerate(path) if char == "/"}
    return [ContextFile(path, _EMPTY_DIRECTORY_DIGEST, DIRECTORY_MODE) for path in sent if path not in below]


def _scan(directory: str) -> list[os.DirEntry[str]]:
    """The entries of one directory of the context."""
    try:
        with os.scandir(directory) as entries:
            return list(entries)
    except OSError as err:
        raise StackError(f"cannot list {directory}: {err.strerror or err}", hint="make it readable") from err


def _context_file(entry: os.DirEntry[str], relative: str, memo: DigestMemo | None) -> ContextFile | None:
    """The ContextFile of a regular file or symlink (None for sockets, fifos and devices)."""
    try:
        info = entry.stat(follow_symlinks=False)
        mode = info.st_mode
        if stat.S_ISLNK(mode):
            target = os.fsencode(os.readlink(entry.path))
            return ContextFile(relative, _sha256(_SYMLINK_PREFIX + target), SYMLINK_MODE)
        if not stat.S_ISREG(mode):
            return None
        digest = memo.digest(entry.path, info) if memo is not None else _file_digest(entry.path)
    except OSError as err:
        raise StackError(f"cannot read {entry.path}: {err.strerror or err}", hint="make it readable") from err
    return ContextFile(relative, digest, EXECUTABLE_MODE if mode & stat.S_IXUSR else REGULAR_MODE)


def _file_digest(path: str) -> str:
    """'sha256:<hex>' of a regular file, opened so that a file swapped for a symlink or FIFO is refused."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "it changed into something other than a regular file while listed")
    with os.fdopen(fd, "rb") as handle:
        return "sha256:" + hashlib.file_digest(handle, "sha256").hexdigest()


def _sha256(data: bytes) -> str:
    """'sha256:<hex>' of data."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def context_digest(files: Iterable[ContextFile]) -> str:
    """'sha256:<hex>' over (path, mode, digest) of every file, whatever order they come in."""
    records = sorted(
        os.fsencode(item.path) + b"\0" + f"{item.mode:o}\0{item.digest}\n".encode() for item in files
    )
    hasher = hashlib.sha256(_ENCODING_HEADER)
    for record in records:
        hasher.update(record)
    return "sha256:" + hasher.hexdigest()


# --- changed paths (PR mode) --------------------------------------------------------------------


def files_matching(context_dir: Path, patterns: tuple[str, ...], changed: Iterable[str],
                   always: Iterable[str] = ()) -> tuple[str, ...]:
    """The changed paths (POSIX, relative to context_dir) the build can see, cleaned, deduplicated, in order.

    Paths outside the context are dropped. Those in always count even when the patterns exclude them:
    the context's .dockerignore when the build reads it (an edit changes what the build sees); any
    other ignore file is a file like the rest, which counts only when the build is sent it.
    """
    matcher = compile_patterns(tuple(patterns))
    kept = set(always)
    visible: dict[str, None] = {}
    for raw in changed:
        relative = _inside(context_dir, raw)
        if relative is not None and (relative in kept or not ignored_by(matcher, relative)):
            visible.setdefault(relative, None)
    return tuple(visible)


def _inside(context_dir: Path, raw: str) -> str | None:
    """raw cleaned and made relative to context_dir, or None if it is the context root or outside it."""
    if posixpath.isabs(raw):
        raw = Path(os.path.relpath(raw, os.path.abspath(context_dir))).as_posix()
    relative = clean_path(raw)
    if relative == "." or relative == ".." or relative.startswith(("../", "/")):
        return None
    return relative

