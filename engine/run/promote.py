"""Publishing: human tags move to content digests only after a whole run succeeded; lockfiles."""

from __future__ import annotations

from collections.abc import Iterable

import structlog

from engine.registry.client import Registry
from engine.run.planner import Planned
from engine.state.history import History
from engine.state.lockfile import LockEntry
from graph.plan.entries import BUILD, EXTERNAL, RETAG

log = structlog.get_logger()


def promote(entries: Iterable[LockEntry], registry: Registry) -> list[str]:
    """Point each entry's human tag at its digest; return the refs moved."""
    moved = []
    for entry in entries:
        registry.tag(f"{entry.repository}@{entry.digest}", entry.ref)
        log.info("tag_promoted", node=entry.node, ref=entry.ref, digest=entry.digest)
        moved.append(entry.ref)
    return moved


def lock_entries(planned: Planned, digests: dict[str, str], registry: Registry,
                 history: History | None) -> list[LockEntry]:
    """Every built or reused node with its digest and per-platform digests.

    Platform digests come from history when it recorded this digest, else from one GET of the index.
    """
    entries = []
    for entry in planned.entries:
        digest = digests.get(entry.node) or entry.digest
        if not digest or entry.action == EXTERNAL:  # a base is recorded on the nodes built on it
            continue
        known = history.platform_digests(entry.node, digest) if history else {}
        if not known:
            index = registry.manifest(f"{entry.ref.rsplit(':', 1)[0]}@{digest}")
            known = index.platforms() if index else {}
        entries.append(LockEntry(entry.node, entry.ref, entry.fingerprint, digest, known, entry.base))
    return entries


def to_promote(planned: Planned, locked: list[LockEntry]) -> list[LockEntry]:
    """The entries whose human tag must move: the nodes built or retagged in this run."""
    moving = {entry.node for entry in planned.entries if entry.action in (BUILD, RETAG)}
    return [entry for entry in locked if entry.node in moving]
