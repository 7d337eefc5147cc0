"""What git says about the repository: revision, origin, where a branch forked, files changed since a
commit, the names at a ref (gitexport writes an old tree)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from engine.errors import EngineError
from engine.state.hygiene import public_source


class GitError(EngineError):
    """git failed or the ref does not exist."""

    exit_code = 2


class _Silent(GitError):
    """git said no without a word: a ref that names nothing (--quiet), histories that never meet."""


def refuse_option_like(ref: str) -> None:
    """GitError for a ref git would read as an option (`--output=...`)."""
    if ref.startswith("-"):
        raise GitError(f"bad ref {ref!r}", "name a commit, branch or tag")


def git(root: Path, *args: str) -> bytes:
    """Output of one git command (argument list, no shell)."""
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitError(f"git {' '.join(args)}: {exc}", "is git installed?") from None
    if done.returncode != 0:
        raise failure(args, done.returncode, done.stderr)
    return done.stdout


def failure(args: tuple[str, ...], code: int, stderr: bytes) -> GitError:
    """The error of a git command that exited with code, saying what git said last."""
    message = stderr.decode(errors="replace").strip().splitlines()
    error = GitError if message else _Silent
    return error(f"git {' '.join(args)} failed: {message[-1] if message else code}",
                 "check the ref and that the folder is a git checkout")


def revision(root: Path) -> str:
    """The checked-out commit, '' outside a git checkout."""
    try:
        return git(root, "rev-parse", "HEAD").decode().strip()
    except GitError:
        return ""


def source(root: Path) -> str:
    """The origin URL as it may be published (no credentials); '' without an origin or when the
    origin is a local path (a fresh clone of a folder): a path is never published."""
    try:
        return public_source(git(root, "config", "--get", "remote.origin.url").decode())
    except GitError:
        return ""


def commit_time(root: Path) -> int | None:
    """The checked-out commit's committer time (seconds since 1970), None outside a git checkout."""
    try:
        return int(git(root, "log", "-1", "--format=%ct", "HEAD").decode().strip())
    except (GitError, ValueError):
        return None


def changed_files(root: Path, ref: str) -> set[str]:
    """Paths (relative to root) that differ between ref and the working tree, untracked ones included
    (PR mode passes the merge base: see merge_base)."""
    refuse_option_like(ref)
    git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    # --no-renames: a moved file counts at its old path too (the node it left changed as well)
    diff = git(root, "diff", "--name-only", "--no-renames", "--relative", "-z", ref, "--")
    untracked = git(root, "ls-files", "--others", "--exclude-standard", "-z")
    # os.fsdecode: a name that is not UTF-8 comes out as the str os.scandir gives the context walk
    return {os.fsdecode(path) for path in (diff + untracked).split(b"\0") if path}


def resolve(root: Path, ref: str) -> str:
    """The commit ref names; GitError when it names none."""
    refuse_option_like(ref)
    try:
        return git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").decode().strip()
    except _Silent:  # not "not a git repository", which git does say
        raise GitError(f"{ref!r} names no commit in {root}",
                       "name a commit, branch or tag (`git log --oneline` lists commits)") from None


def merge_base(root: Path, ref: str) -> str:
    """The commit HEAD forked from ref at (`git merge-base REF HEAD`): PR mode compares with it, as
    `git diff REF...HEAD` does, so what ref gained after the fork is not the branch's change."""
    commit = resolve(root, ref)
    head = resolve(root, "HEAD")
    try:
        return git(root, "merge-base", commit, head).decode().strip()
    except _Silent:  # the histories never meet (or a shallow clone's history stops before they do)
        raise GitError(f"{ref!r} shares no history with HEAD in {root} (no merge base)",
                       "fetch the whole history (`git fetch --unshallow`; in CI: actions/checkout "
                       "fetch-depth: 0, GitLab GIT_DEPTH: 0), or name the branch this one was forked from"
                       ) from None


def top_names(root: Path, ref: str) -> list[str]:
    """The names of the files and folders right in root (relative to it) at ref."""
    refuse_option_like(ref)
    listing = git(root, "ls-tree", "-z", "--name-only", ref)
    return [os.fsdecode(name) for name in listing.split(b"\0") if name]


def exists(root: Path, commit: str, path: str) -> bool:
    """Whether path (relative to root) exists in commit."""
    try:
        git(root, "cat-file", "-e", f"{commit}:./{path}")
    except GitError:
        return False
    return True
