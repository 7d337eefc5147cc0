"""What git says about the repository: revision, origin, where a branch forked, files changed since a
commit, an old tree."""

from __future__ import annotations

import os
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import IO

from engine.errors import EngineError
from engine.state.hygiene import public_source


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
            process = subprocess.Popen(["git", "-C", str(root), "-c", "core.bigFileThreshold=16m", *args],
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
    it (before it is written: the data filter, where there is one, checks again)."""
    top = dest.resolve()
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            _refuse_outside(member, top)
            if hasattr(tarfile, "data_filter"):  # Python 3.11.4 and later
                tar.extract(member, dest, filter="data")
            else:
                tar.extract(member, dest)


def _refuse_outside(member: tarfile.TarInfo, top: Path) -> None:
    """GitError for a member that would land or point outside top, or is a device, FIFO or hard link
    (git archive writes none)."""
    target = (top / member.name).resolve()
    link = (target.parent / member.linkname).resolve() if member.issym() else target
    if not (target.is_relative_to(top) and link.is_relative_to(top)) or member.isdev() or member.islnk():
        raise GitError(f"the archive of the tree holds {member.name!r}, which points outside it",
                       "check the repository for odd symlinks")


def export_outline(root: Path, ref: str, dest: Path) -> None:
    """Give every file at ref (relative to root) that dest lacks an empty stand-in: loading stacks
    checks that their Dockerfiles and contexts exist, wherever in the repository they are."""
    if ref.startswith("-"):
        raise GitError(f"bad ref {ref!r}", "name a commit, branch or tag")
    top = dest.resolve()
    listing = _git(root, "ls-tree", "-r", "--name-only", "-z", ref)
    for name in filter(None, listing.split(b"\0")):
        path = top / os.fsdecode(name)
        if not path.resolve().is_relative_to(top):
            raise GitError(f"the tree holds {os.fsdecode(name)!r}, which points outside it",
                           "check the repository for odd symlinks")
        try:
            if not os.path.lexists(path):
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch()
        except OSError as err:
            raise GitError(f"cannot write {path}: {err.strerror or err}",
                           "check the temporary folder") from err


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


def exists(root: Path, commit: str, path: str) -> bool:
    """Whether path (relative to root) exists in commit."""
    try:
        _git(root, "cat-file", "-e", f"{commit}:./{path}")
    except GitError:
        return False
    return True
