"""What git says about the repository: revision, origin, where a branch forked, files changed since a
commit, an old tree."""

from __future__ import annotations

import os
import posixpath
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from engine.errors import EngineError
from engine.state.hygiene import public_source

MAX_LINK_HOPS = 40  # as Linux allows in one path lookup


class GitError(EngineError):
    """git failed or the ref does not exist."""

    exit_code = 2


class _Silent(GitError):
    """git said no without a word: a ref that names nothing (--quiet), histories that never meet."""


def _git(root: Path, *args: str) -> bytes:
    """Output of one git command (argument list, no shell)."""
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitError(f"git {' '.join(args)}: {exc}", "is git installed?") from None
    if done.returncode != 0:
        raise _failure(args, done.returncode, done.stderr)
    return done.stdout


def _failure(args: tuple[str, ...], code: int, stderr: bytes) -> GitError:
    """The error of a git command that exited with code, saying what git said last."""
    message = stderr.decode(errors="replace").strip().splitlines()
    error = GitError if message else _Silent
    return error(f"git {' '.join(args)} failed: {message[-1] if message else code}",
                 "check the ref and that the folder is a git checkout")


def revision(root: Path) -> str:
    """The checked-out commit, '' outside a git checkout."""
    try:
        return _git(root, "rev-parse", "HEAD").decode().strip()
    except GitError:
        return ""


def source(root: Path) -> str:
    """The origin URL as it may be published (no credentials); '' without an origin or when the
    origin is a local path (a fresh clone of a folder): a path is never published."""
    try:
        return public_source(_git(root, "config", "--get", "remote.origin.url").decode())
    except GitError:
        return ""


def commit_time(root: Path) -> int | None:
    """The checked-out commit's committer time (seconds since 1970), None outside a git checkout."""
    try:
        return int(_git(root, "log", "-1", "--format=%ct", "HEAD").decode().strip())
    except (GitError, ValueError):
        return None


def changed_files(root: Path, ref: str) -> set[str]:
    """Paths (relative to root) that differ between ref and the working tree, untracked ones included
    (PR mode passes the merge base: see merge_base)."""
    if ref.startswith("-"):
        raise GitError(f"bad ref {ref!r}", "name a commit, branch or tag")
    _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    # --no-renames: a moved file counts at its old path too (the node it left changed as well)
    diff = _git(root, "diff", "--name-only", "--no-renames", "--relative", "-z", ref, "--")
    untracked = _git(root, "ls-files", "--others", "--exclude-standard", "-z")
    # os.fsdecode: a name that is not UTF-8 comes out as the str os.scandir gives the context walk
    return {os.fsdecode(path) for path in (diff + untracked).split(b"\0") if path}


def export_tree(root: Path, ref: str, dest: Path, paths: list[str]) -> None:
    """Write the files under paths (relative to root) as they were at ref into dest: streamed from `git
    archive` a member at a time, so memory stays bounded whatever the files' sizes."""
    if ref.startswith("-"):
        raise GitError(f"bad ref {ref!r}", "name a commit, branch or tag")
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
            raise _failure(args, code, stderr.read())
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
    if ref.startswith("-"):
        raise GitError(f"bad ref {ref!r}", "name a commit, branch or tag")
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
        listing = _git(root, "--literal-pathspecs", "ls-tree", "-t", "-z", ref, "--",
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
        target = os.fsdecode(_git(root, "cat-file", "blob", obj))
        if not (place.parent / target).resolve().is_relative_to(top):
            raise GitError(f"the tree holds {place.relative_to(top).as_posix()!r}, which points outside it",
                           "check the repository for odd symlinks")
        os.symlink(target, place)
    elif mode and last:
        place.touch()
    else:
        return False
    return True


def resolve(root: Path, ref: str) -> str:
    """The commit ref names; GitError when it names none."""
    if ref.startswith("-"):
        raise GitError(f"bad ref {ref!r}", "name a commit, branch or tag")
    try:
        return _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").decode().strip()
    except _Silent:  # not "not a git repository", which git does say
        raise GitError(f"{ref!r} names no commit in {root}",
                       "name a commit, branch or tag (`git log --oneline` lists commits)") from None


def merge_base(root: Path, ref: str) -> str:
    """The commit HEAD forked from ref at (`git merge-base REF HEAD`): PR mode compares with it, as
    `git diff REF...HEAD` does, so what ref gained after the fork is not the branch's change."""
    commit = resolve(root, ref)
    head = resolve(root, "HEAD")
    try:
        return _git(root, "merge-base", commit, head).decode().strip()
    except _Silent:  # the histories never meet (or a shallow clone's history stops before they do)
        raise GitError(f"{ref!r} shares no history with HEAD in {root} (no merge base)",
                       "fetch the whole history (`git fetch --unshallow`; in CI: actions/checkout "
                       "fetch-depth: 0, GitLab GIT_DEPTH: 0), or name the branch this one was forked from"
                       ) from None


def top_names(root: Path, ref: str) -> list[str]:
    """The names of the files and folders right in root (relative to it) at ref."""
    if ref.startswith("-"):
        raise GitError(f"bad ref {ref!r}", "name a commit, branch or tag")
    listing = _git(root, "ls-tree", "-z", "--name-only", ref)
    return [os.fsdecode(name) for name in listing.split(b"\0") if name]


def exists(root: Path, commit: str, path: str) -> bool:
    """Whether path (relative to root) exists in commit."""
    try:
        _git(root, "cat-file", "-e", f"{commit}:./{path}")
    except GitError:
        return False
    return True
