"""An old tree out of git: files streamed from `git archive`, stand-ins for the paths loading checks, and
what paths lead to through their links."""

from __future__ import annotations

import os
import posixpath
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from engine.state.gitinfo import GitError, failure, git, refuse_option_like

MAX_LINK_HOPS = 40  # as Linux allows in one path lookup


def export_tree(root: Path, ref: str, dest: Path, paths: list[str]) -> None:
    """Write the files under paths (relative to root) as they were at ref into dest: streamed from `git
    archive` a member at a time, so memory stays bounded whatever the files' sizes."""
    refuse_option_like(ref)
    args = ("archive", "--format=tar", ref, "--", *paths)
    with tempfile.TemporaryFile() as stderr:  # a file: git never waits for a pipe nobody reads yet
        try:
            # git streams a blob above core.bigFileThreshold (default 512 MiB), reads a smaller one whole
            # --literal-pathspecs: a path from a stack file ('*', ':(glob)...') names itself, no pattern
            process = subprocess.Popen(["git", "--literal-pathspecs", "-C", str(root),
                                        "-c", "core.bigFileThreshold=16m", *args],
                                       stdout=subprocess.PIPE, stderr=stderr)
        except OSError as exc:
            raise GitError(f"git {' '.join(args)}: {exc}", "is git installed?") from None
        assert process.stdout is not None
        try:
            _extract(process.stdout, dest)
        except tarfile.TarError as exc:  # git failed before the archive's first block, or something odd
            unreadable: tarfile.TarError | None = exc
        except OSError as err:
            raise GitError(f"cannot write {dest}: {err.strerror or err}",
                           "check the temporary folder") from err
        else:
            unreadable = None
        finally:
            process.stdout.close()  # a refused member: git stops on the closed pipe
            code = _waited(process, args)
        if code != 0:
            stderr.seek(0)
            raise failure(args, code, stderr.read())
        if unreadable is not None:  # an unreadable archive, or a member the data filter refused
            raise GitError(f"cannot extract the archive of {ref}: {unreadable}",
                           "check the repository for odd symlinks and the git installation")


def _waited(process: subprocess.Popen[bytes], args: tuple[str, ...]) -> int:
    """The exit code of a git whose output was read to the end (or closed)."""
    try:
        return process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise GitError(f"git {' '.join(args)} did not finish", "check the repository") from None


def _extract(stream: IO[bytes], dest: Path) -> None:
    """Extract a tar stream into dest member by member, refusing any that would land or point outside
    it (before it is written: the data filter, where there is one, checks again); then read it to its end."""
    top = dest.resolve()
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            _refuse_outside(member, top)
            if hasattr(tarfile, "data_filter"):  # Python 3.11.4 and later
                tar.extract(member, dest, filter="data")
            else:
                tar.extract(member, dest)
    while stream.read(1 << 16):  # the padding after the end-of-archive block: closing early kills git
        pass


def _refuse_outside(member: tarfile.TarInfo, top: Path) -> None:
    """GitError for a member that would land or point outside top, or is a device, FIFO or hard link
    (git archive writes none)."""
    target = (top / member.name).resolve()
    link = (target.parent / member.linkname).resolve() if member.issym() else target
    if not (target.is_relative_to(top) and link.is_relative_to(top)) or member.isdev() or member.islnk():
        raise GitError(f"the archive of the tree holds {member.name!r}, which points outside it",
                       "check the repository for odd symlinks")


def export_outline(root: Path, ref: str, dest: Path, paths: Iterable[str]) -> None:
    """Give each of paths (relative to root) that dest lacks a stand-in as it was at ref, with the folders
    above it: a folder for a folder, an empty file for a file, the link for a symlink (then a stand-in for
    what it names). Loading stacks checks only that the Dockerfiles and contexts they name exist, so the
    rest of the tree, however many files it holds, is left out."""
    refuse_option_like(ref)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise GitError(f"cannot write {dest}: {err.strerror or err}", "check the temporary folder") from err
    top = dest.resolve()
    pending = {path for path in paths if _plain(path)}
    for _ in range(MAX_LINK_HOPS):  # each round follows one more symlink
        entries = _entries(root, ref, {prefix for path in pending for prefix in _prefixes(path)
                                       if not os.path.lexists(top / prefix)})
        pending = {further for path in sorted(pending)
                   if _plain(further := _stand_in(root, ref, top, path, entries))}
        if not pending:
            return


def export_followed(root: Path, ref: str, dest: Path, paths: Iterable[str], folders: bool = False) -> None:
    """Write what each of paths (relative to root) leads to at ref into dest, through the links on its way
    (export_outline makes them, then the file, or with folders the folder too, is exported over its
    stand-in); a path naming nothing at ref, or only a folder without folders, is left out."""
    wanted = set(paths)
    export_outline(root, ref, dest, wanted)
    top = dest.resolve()
    ends = sorted({end.relative_to(top).as_posix() for path in wanted
                   if (end := _end(dest / path)) and end.is_relative_to(top)
                   and (end.is_file() or (folders and end.is_dir()))})
    if ends:
        export_tree(root, ref, dest, ends)


def _end(path: Path) -> Path | None:
    """Where path leads once every link is followed; None for a link loop."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return None


def _plain(path: str) -> bool:
    """Whether path is a normalized path below root (not root itself, nothing outside it or in .git)."""
    parts = path.split("/")
    return bool(path) and path != "." and not path.startswith("/") and "\0" not in path and not (
        {"..", ".", "", ".git"} & set(parts))


def _prefixes(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]


def _entries(root: Path, ref: str, names: set[str]) -> dict[str, tuple[str, str]]:
    """What names (relative to root) are at ref, with the folders above them: path → (mode, object)."""
    found: dict[str, tuple[str, str]] = {}
    ordered = sorted(names)
    for start in range(0, len(ordered), 500):  # argument lists of bounded length
        # -t: the folders on the way too; a symlink half-way is listed only when asked for itself
        listing = git(root, "--literal-pathspecs", "ls-tree", "-t", "-z", ref, "--",
                       *ordered[start:start + 500])
        for line in filter(None, listing.split(b"\0")):
            info, _, name = line.partition(b"\t")
            mode, _, rest = info.partition(b" ")
            found[os.fsdecode(name)] = (mode.decode(), rest.rpartition(b" ")[2].decode())
    return found


def _stand_in(root: Path, ref: str, top: Path, path: str, entries: dict[str, tuple[str, str]]) -> str:
    """Make path's stand-in under top, component by component; after a symlink, the path (relative to
    top) still to make, as the link resolves; '' when done or when ref lacks it (loading says so)."""
    parts = path.split("/")
    for index, here in enumerate(_prefixes(path)):
        place = top / here
        last = index == len(parts) - 1
        try:
            if not os.path.lexists(place) and not _make(root, ref, top, place, entries.get(here), last):
                return ""
            if place.is_symlink():
                resolved = place.resolve().relative_to(top).as_posix()
                return posixpath.normpath(posixpath.join(resolved, *parts[index + 1:]))
        except (FileNotFoundError, NotADirectoryError, RuntimeError, ValueError):  # a loop, a link out of top
            return ""
        except OSError as err:
            raise GitError(f"cannot write {place}: {err.strerror or err}",
                           "check the temporary folder") from err
        if not last and not place.is_dir():
            return ""
    return ""


def _make(root: Path, ref: str, top: Path, place: Path, entry: tuple[str, str] | None, last: bool) -> bool:
    """Make the stand-in of one tree entry at place; False when there is none to make."""
    mode, obj = entry or ("", "")
    if mode in ("040000", "160000"):  # a folder, or a submodule (a folder in a checkout)
        place.mkdir()
    elif mode == "120000":
        target = os.fsdecode(git(root, "cat-file", "blob", obj))
        if not (place.parent / target).resolve().is_relative_to(top):
            raise GitError(f"the tree holds {place.relative_to(top).as_posix()!r}, which points outside it",
                           "check the repository for odd symlinks")
        os.symlink(target, place)
    elif mode and last:
        place.touch()
    else:
        return False
    return True
