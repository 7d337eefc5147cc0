"""Lockfiles: node → tag → digest (and per-platform digests) with the fingerprint, for rollbacks."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from engine.errors import EngineError
from engine.state.safefiles import StateError, json_text, plain, read_bounded, write_atomic
from graph.model.checks import control_problem

DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
REF_RE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9.:-]*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+"
    r":[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
)
PLATFORM_RE = re.compile(r"[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?")
HINT = "name a lock.json written by a run"
MAX_LOCKFILE = 16 * 1024 * 1024
VERSION = 1

log = structlog.get_logger()


class LockfileError(EngineError):
    """A lockfile cannot be read or is malformed."""

    exit_code = 2


@dataclass(frozen=True)
class LockEntry:
    """One published node."""

    node: str
    ref: str
    fingerprint: str
    digest: str
    platforms: dict[str, str] = field(default_factory=dict)
    base: str = ""  # the external base it is built on, as reference@digest ("" when none)
    parent: str | None = None  # its stack parent's human ref ("" when none; None: not recorded, older files)

    @property
    def repository(self) -> str:
        """The ref without its tag."""
        return self.ref.rsplit(":", 1)[0]


def write_lockfile(path: Path, run_id: str, entries: Iterable[LockEntry]) -> Path:
    """Write the lockfile atomically (a symlink at path is replaced, never followed)."""
    nodes = {entry.node: plain(entry) for entry in sorted(entries, key=lambda e: e.node)}
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, json_text({"version": VERSION, "run": run_id, "nodes": nodes}, len(nodes)))


def read_lockfile(path: Path, follow_symlinks: bool = True) -> list[LockEntry]:
    """The entries of a lockfile, each checked (follow_symlinks=False for the state folder's own)."""
    try:
        data = json.loads(read_bounded(path, MAX_LOCKFILE, follow_symlinks).decode("utf-8"))
    except StateError as exc:
        raise LockfileError(f"cannot read lockfile {path}: {exc.reason}", HINT) from None
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise LockfileError(f"cannot read lockfile {path}: {reason}", HINT) from None
    nodes = data.get("nodes") if isinstance(data, dict) else None
    if not isinstance(nodes, dict) or data.get("version") != VERSION:
        raise LockfileError(f"{path} is not a stackbuild lockfile (version {VERSION})", HINT)
    return [_entry(path, name, item) for name, item in nodes.items()]


def _entry(path: Path, name: str, item: Any) -> LockEntry:
    try:
        parent = item.get("parent")
        entry = LockEntry(str(item["node"]), str(item["ref"]), str(item["fingerprint"]),
                          str(item["digest"]), dict(item.get("platforms", {})), str(item.get("base", "")),
                          None if parent is None else str(parent))
    except (KeyError, TypeError, ValueError, AttributeError):
        raise LockfileError(f"{path}: node {name!r} lacks node/ref/fingerprint/digest",
                            "restore the file from the run folder") from None
    if control_problem(entry.node) or control_problem(entry.fingerprint):  # both reach the terminal
        raise LockfileError(f"{path}: node {name!r} has a control character in its node or fingerprint",
                            "restore the file from the run folder")
    if not REF_RE.fullmatch(entry.ref) or not DIGEST_RE.fullmatch(entry.digest):
        raise LockfileError(f"{path}: node {name!r} has a malformed ref or digest",
                            "restore the file from the run folder")
    if entry.parent and not REF_RE.fullmatch(entry.parent):
        raise LockfileError(f"{path}: node {name!r} has a malformed parent ref",
                            "restore the file from the run folder")
    if not all(isinstance(platform, str) and PLATFORM_RE.fullmatch(platform) and isinstance(digest, str)
               and DIGEST_RE.fullmatch(digest) for platform, digest in entry.platforms.items()):
        raise LockfileError(f"{path}: node {name!r} has a malformed platform or platform digest",
                            "restore the file from the run folder")
    if entry.base and not DIGEST_RE.fullmatch(entry.base.rpartition("@")[2]):
        raise LockfileError(f"{path}: node {name!r} has a base that is not pinned by digest: {entry.base!r}",
                            "restore the file from the run folder")
    return entry


def merge_entries(previous: Path, entries: list[LockEntry], current: set[str] | None) -> list[LockEntry]:
    """entries, plus the entries of the previous lockfile for current nodes (every node when None) this
    run did not lock.

    A PR run locks only what it published; what it left alone, or only built on, is published as before.
    """
    if not previous.exists():
        return entries
    try:
        old = read_lockfile(previous, follow_symlinks=False)
    except LockfileError as exc:
        _keep_aside(previous, exc)
        return entries
    locked = {entry.node for entry in entries}
    return entries + [entry for entry in old
                      if (current is None or entry.node in current) and entry.node not in locked]


def _keep_aside(path: Path, exc: LockfileError) -> None:
    """Move an unreadable lockfile out of the way of the new one, never deleting what it records."""
    aside = path.with_name(f"{path.name}.unreadable-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}")
    try:
        os.replace(path, aside)
    except OSError as error:
        raise LockfileError(f"{exc.message}; it cannot be moved aside: {error.strerror or error}",
                            f"move it away yourself: mv {path} {path}.old") from None
    log.warning("lockfile_kept_aside", node="*", path=str(path), kept=str(aside), reason=exc.message,
                hint="a new one is written; the old one's entries are in the kept file")
