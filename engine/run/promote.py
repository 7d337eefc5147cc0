"""Publishing: human tags move to content digests only after a whole run succeeded; lockfiles."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol, TypeVar

import structlog

from engine.errors import EngineError
from engine.parallel import side_by_side
from engine.registry.client import Registry
from engine.run.ownership import TagGuard
from engine.run.planner import Planned
from engine.state.history import History
from engine.state.lockfile import LockEntry
from graph.model.spec import Node
from graph.plan.entries import BUILD, EXTERNAL, RETAG, PlanEntry

log = structlog.get_logger()
PROMOTE_THREADS = 8  # tags moved at once
M = TypeVar("M", bound="Moved")


class TagMovedMeanwhile(EngineError):
    """A tag moved after the caller read it and before the promotion: nothing was moved."""


def promote(entries: Iterable[LockEntry], registry: Registry, guard: TagGuard | None = None,
            expected: Mapping[str, str | None] | None = None) -> list[str]:
    """Point each entry's human tag at its digest; return the refs moved (in entries' order).

    With a guard, a tag that points at a foreign image is left alone (the guard records it). expected:
    where the caller saw each entry's tag, and any other tag it checked, point (None or "": no tag);
    TagMovedMeanwhile, before anything moves, when one points elsewhere now.

    The tags move side by side (a HEAD, a GET and a PUT each: one after the other they were seconds
    of a cold build). All or nothing: every current digest is read before any tag moves; when a tag
    cannot move, the tags moved go back where they pointed (a tag that did not exist before stays:
    a registry cannot delete a tag) and the first error is raised.
    """
    entries = list(entries)
    own = tag_digests(registry, [entry.ref for entry in entries])
    befores = [own[entry.ref] for entry in entries]
    if expected is not None:
        _unmoved(expected, {**own, **tag_digests(registry, [ref for ref in expected if ref not in own])})
    moving = [(entry, before) for entry, before in zip(entries, befores, strict=True)
              if guard is None or not guard.refuses(entry, before)]
    errors = side_by_side(lambda item: _move(item[0], registry), moving, PROMOTE_THREADS)
    moved = [item for item, error in zip(moving, errors, strict=True) if error is None]
    failed = [error for error in errors if error is not None]
    if failed:
        roll_back(moved, lambda back, digest: registry.tag(f"{back.repository}@{digest}", back.ref),
                  str(failed[0]), new_stays="the tag did not exist before and a registry cannot delete a tag")
        raise failed[0]
    return [entry.ref for entry, _ in moved]


def tag_digests(registry: Registry, refs: Sequence[str]) -> dict[str, str | None]:
    """Where each of refs points now (None: no such tag), read side by side."""
    return dict(zip(refs, side_by_side(registry.digest, refs, PROMOTE_THREADS), strict=True))


def _unmoved(expected: Mapping[str, str | None], now: Mapping[str, str | None]) -> None:
    """TagMovedMeanwhile naming the tags that point elsewhere now than expected."""
    changed = [f"{ref} ({expected[ref] or 'no tag'} then, {now[ref] or 'no tag'} now)" for ref in expected
               if (expected[ref] or None) != (now[ref] or None)]
    if changed:
        raise TagMovedMeanwhile(f"tags moved while they were checked: {', '.join(changed)}; no tag was moved",
                                "run the command again: it checks what the tags point at now")


def _move(entry: LockEntry, registry: Registry) -> Exception | None:
    """Point entry's human tag at its digest; the error instead of raising it."""
    try:
        registry.tag(f"{entry.repository}@{entry.digest}", entry.ref)
    except Exception as exc:  # any error: raised, the moved tags would stay moved
        return exc
    log.info("tag_promoted", node=entry.node, ref=entry.ref, digest=entry.digest)
    return None


class Moved(Protocol):
    """A tag that moved: a node's human tag."""

    @property
    def node(self) -> str: ...

    @property
    def ref(self) -> str: ...


def roll_back(moved: Sequence[tuple[M, str | None]], put_back: Callable[[M, str | None], object], reason: str,
              new_stays: str = "") -> None:
    """Put each moved tag back (put_back(entry, what it named before, None: no tag)), last moved first, each
    on its own: one that cannot go back does not keep the others from it. new_stays: why a tag that did
    not exist before stays as it is (put_back is then not asked)."""
    for entry, before in reversed(moved):
        if before is None and new_stays:
            log.warning("tag_not_rolled_back", node=entry.node, ref=entry.ref, reason=reason, why=new_stays)
            continue
        try:
            put_back(entry, before)
        except Exception as exc:
            log.error("tag_not_rolled_back", node=entry.node, ref=entry.ref, digest=before, reason=reason,
                      error=str(exc))
            continue
        log.warning("tag_rolled_back", node=entry.node, ref=entry.ref, digest=before, reason=reason)


def lock_entries(planned: Planned, digests: dict[str, str], registry: Registry,
                 history: History | None) -> list[LockEntry]:
    """Every built or reused node with its digest and per-platform digests.

    Platform digests come from history when it recorded this digest, else from one GET of the index
    (those GETs run side by side: a first run over thousands of nodes would otherwise wait for each).
    """
    wanted = [(entry, digests.get(entry.node) or entry.digest) for entry in planned.entries
              if entry.action != EXTERNAL]  # a base is recorded on the nodes built on it
    wanted = [(entry, digest) for entry, digest in wanted if digest]

    def platforms(item: tuple[PlanEntry, str]) -> dict[str, str]:
        entry, digest = item
        known = history.platform_digests(entry.node, digest) if history else {}
        if known:
            return known
        index = registry.manifest(f"{entry.ref.rsplit(':', 1)[0]}@{digest}")
        return index.platforms() if index else {}

    found = side_by_side(platforms, wanted)
    graph = planned.graph.nodes
    return [LockEntry(entry.node, entry.ref, entry.fingerprint, digest, known, entry.base,
                      _stack_parent_ref(graph, entry.parent))
            for (entry, digest), known in zip(wanted, found, strict=True)]


def _stack_parent_ref(graph: Mapping[str, Node], parent: str | None) -> str:
    """The human ref of a node's stack parent ("" for none, or an external base)."""
    node = graph.get(parent) if parent else None
    return node.ref if node is not None and not node.external else ""


def to_promote(planned: Planned, locked: list[LockEntry]) -> list[LockEntry]:
    """The entries whose human tag must move: the nodes built or retagged in this run, but for those a
    PR run built only because what it changed rests on them (their human tag is main's to move)."""
    moving = {entry.node for entry in planned.entries if entry.action in (BUILD, RETAG)} - planned.needed
    return [entry for entry in locked if entry.node in moving]
