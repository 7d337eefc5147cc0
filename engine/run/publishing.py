"""Publication: move human tags to built digests (never over a foreign image unless adopted) and
record what is published; after CI shards (`publish`), after a run, or from a lockfile (rollback)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from engine.build.interrupt import exits_as_signal, interruptible
from engine.errors import EngineError, Interrupted
from engine.registry.client import Registry, RegistryClient
from engine.run.layers import verify_publishable
from engine.run.ownership import ConfigReader, ForeignTagsRefused, KnownDigests, TagGuard, known_digests
from engine.run.planner import Planned, plan_build
from engine.run.promote import lock_entries, promote, tag_digests, to_promote
from engine.run.rollback import moving_tags, stack_children, verify_rollback
from engine.state.folder import run_lock
from engine.state.history import History
from engine.state.lockfile import LockEntry, LockfileError, merge_entries, read_lockfile, write_lockfile
from engine.state.report import RunReport
from graph.expand.assemble import find_stack_files
from graph.expand.dag import StackGraph
from graph.load.limits import Limits
from graph.load.stackfile import load_stack
from graph.plan.entries import BUILD

if TYPE_CHECKING:
    from engine.run.api import Options

log = structlog.get_logger()


def publish(options: Options, graph: StackGraph, registry: Registry | None = None,
            adopt: bool = False, withheld: bool = False, changed_since: str = "") -> list[str]:
    """After CI shards: check every planned node's content tag exists, move the human tags (never over
    a foreign image unless adopted), and record what is published in STATE/latest.lock.json.
    withheld: the shards ran with --no-secrets (their nodes have those runs' fingerprints);
    changed_since: they were a PR's (planned in PR mode: the nodes the change affects).

    Refuses (EngineError naming the nodes) when one is missing: nothing is promoted then.
    """
    registry = registry or RegistryClient()
    with run_lock(options.state):
        history = open_history(options)
        try:
            # history vouches for no content tag: --full shards moved some and left the human tags
            planned = plan_build(graph, options.root, registry, history, changed_since=changed_since,
                                 targets=options.targets, withheld=withheld, vouch=False)
            check_built(planned)
            verify_publishable(planned, registry)
            locked = lock_entries(planned, {}, registry, history)
            guard = guard_for(options, planned, history, registry, adopt)
            with uninterrupted():  # a Ctrl-C once every tag moved (or none) and the lockfile says so
                moved = promote(to_promote(planned, locked), registry, guard)
                refused = {foreign.node for foreign in guard.refused}
                latest = options.state / "latest.lock.json"
                run_id = f"publish-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
                published = [entry for entry in locked if entry.node not in refused]
                write_lockfile(latest, run_id, merge_entries(latest, published, set(planned.graph.nodes)))
        finally:
            if history:
                history.close()
    if guard.refused:
        raise ForeignTagsRefused("; ".join(foreign.message() for foreign in guard.refused)
                                 + f" ({len(moved)} other tag(s) promoted)", "or: stackbuild publish --adopt")
    return moved


def check_built(planned: Planned) -> None:
    """EngineError naming the planned nodes with no content tag (none moves then); those a --no-secrets PR
    built on a build made with the secrets never get one."""
    missing = [entry.node for entry in planned.entries if entry.action == BUILD and not entry.borrowed]
    # a borrowed parent outside the change (needed_by_change) would not be published either: not named
    borrowed = [entry.node for entry in planned.entries
                if entry.action == BUILD and entry.borrowed and entry.node not in planned.needed]
    if borrowed:
        unbuilt = f"; not built yet: {', '.join(missing)}" if missing else ""
        raise EngineError(
            f"never published from --no-secrets shards: {', '.join(borrowed)} (built on a build made with "
            f"the secrets, so they get no content tag){unbuilt}",
            "publish this change from a run passing the secrets; no human tag was moved")
    if missing:
        raise EngineError(
            f"not built and tested (no content tag in the registry): {', '.join(missing)}",
            "run their shard jobs first: a node gets its content tag once its smoke tests pass; "
            "no human tag was moved")


def promote_lockfile(options: Options, lockfile: Path, registry: Registry | None = None,
                     adopt: bool = False, stacks: Callable[[], StackGraph | None] | None = None) -> list[str]:
    """Re-point every tag of a lockfile to its digest (a rollback); a foreign tag stays unless adopted.
    Refuses (nothing moves) when a child would not rest on its parent's image (engine.run.rollback):
    the children compared are those of the lockfile, of STATE/latest.lock.json and of the stacks
    (loaded only when a tag moves)."""
    entries = read_lockfile(lockfile)
    _one_node_per_tag(lockfile, entries)
    registry = registry or RegistryClient()
    with run_lock(options.state):
        history = open_history(options)
        try:
            known = known_digests(options.state, history)
        finally:
            if history:
                history.close()
        reader = registry if isinstance(registry, ConfigReader) else None
        guard = TagGuard(known, {}, lambda node: adopt, reader, held=[])  # events once the tags moved
        now = tag_digests(registry, [entry.ref for entry in entries])
        staying = {entry.ref for entry in entries if guard.refuses(entry, now[entry.ref])}
        published = _published(options)
        if stacks and moving_tags(entries, now, staying):
            published += _children_of_stacks(stacks(), entries, published)
        watched = verify_rollback(entries, now, staying, published, registry, reader) if reader else {}
        with uninterrupted():  # a Ctrl-C once every tag moved, or moved back
            # the guard was asked above; a tag checked that moved since then stops everything
            moved = promote([entry for entry in entries if entry.ref not in staying], registry, None,
                            {**now, **watched})
            guard.release_events()
            _record_promoted(options, lockfile, entries, moved)
    if guard.refused:
        raise ForeignTagsRefused("; ".join(foreign.message() for foreign in guard.refused)
                                 + f" ({len(moved)} other tag(s) promoted)", "or: stackbuild promote --adopt")
    return moved


def _children_of_stacks(stack_graph: StackGraph | None, entries: list[LockEntry],
                        published: list[LockEntry]) -> list[LockEntry]:
    """stack_children of the loaded stacks; a warning when they name none of the lockfile's tags (loaded
    below another registry than the run's?): none of their children would be compared."""
    if stack_graph is None:
        return []
    if not {node.ref for node in stack_graph.nodes.values()} & {entry.ref for entry in entries}:
        log.warning("rollback_check_partial", node="*", reason="the loaded stacks name none of the "
                    "lockfile's tags", hint="give the stacks and --registry the run was built with; children "
                    "the lockfile and STATE/latest.lock.json do not hold are not compared")
        return []
    return stack_children(stack_graph, [*entries, *published])


def _one_node_per_tag(lockfile: Path, entries: list[LockEntry]) -> None:
    """LockfileError when two entries name one tag (a hand-edited file): which digest should it get?"""
    nodes: dict[str, list[str]] = {}
    for entry in entries:
        nodes.setdefault(entry.ref, []).append(entry.node)
    shared = [f"{ref} ({', '.join(names)})" for ref, names in nodes.items() if len(names) > 1]
    if shared:
        raise LockfileError(f"{lockfile}: one tag for several nodes: {'; '.join(shared)}",
                            "keep one entry per tag (restore the file from the run folder)")


def _published(options: Options) -> list[LockEntry]:
    """What STATE/latest.lock.json records as published (nothing when there is none yet, or when it
    cannot be read: a rollback must not wait for it; it is set aside when the new one is written)."""
    latest = options.state / "latest.lock.json"
    if not latest.exists() and not latest.is_symlink():
        return []
    try:
        return read_lockfile(latest, follow_symlinks=False)
    except LockfileError as exc:
        log.warning("rollback_check_partial", node="*", path=str(latest), reason=exc.message,
                    hint="children the lockfile does not hold are not compared")
        return []


def _record_promoted(options: Options, lockfile: Path, entries: list[LockEntry], moved: list[str]) -> None:
    """STATE/latest.lock.json records what is published: the promoted entries replace theirs."""
    moved_refs = set(moved)
    promoted = [entry for entry in entries if entry.ref in moved_refs]
    if promoted:
        latest = options.state / "latest.lock.json"
        write_lockfile(latest, f"promoted from {lockfile}", merge_entries(latest, promoted, None))


def publish_run(options: Options, planned: Planned, digests: dict[str, str], registry: Registry,
             history: History, report: RunReport, adopt: bool = False) -> bool:
    """Move the human tags (never over a foreign image unless adopted), then write the lockfile of
    what is now published; False when a tag was refused."""
    locked = lock_entries(planned, digests, registry, history)
    guard = guard_for(options, planned, history, registry, adopt)
    report.promoted = promote(to_promote(planned, locked), registry, guard)
    for foreign in guard.refused:
        report.nodes[foreign.node].status, report.nodes[foreign.node].error = "failed", foreign.message()
    refused = {foreign.node for foreign in guard.refused}
    locked = [entry for entry in locked if entry.node not in refused]
    for entry in locked:
        report.nodes[entry.node].digest = entry.digest
        report.nodes[entry.node].platform_digests = entry.platforms
    # PR mode: what the change was built on outside it is not published by this run (no human tag moved)
    outside = planned.needed | set(planned.support)
    locked = [entry for entry in locked if entry.node not in outside]
    lockfile = write_lockfile(Path(report.folder) / "lock.json", report.run_id, locked)
    for entry in locked:
        report.nodes[entry.node].published = True
    latest = options.state / "latest.lock.json"
    write_lockfile(latest, report.run_id, merge_entries(latest, locked, set(planned.graph.nodes)))
    report.lockfile = str(lockfile)
    return not refused


def guard_for(options: Options, planned: Planned, history: History | None, registry: Registry,
           adopt: bool) -> TagGuard:
    """The guard against clobbering foreign tags: the run's --adopt, else each stack's `adopt`."""
    adopting: dict[str, bool] = {}

    def stack_adopts(node: str) -> bool:
        if not adopting:  # read only when a foreign tag is found
            limits = Limits(max_nodes=options.max_nodes)
            stacks = [load_stack(options.root, file, limits) for file in find_stack_files(options.root,
                                                                                          options.targets)]
            adopting.update({stack.name: stack.adopt for stack in stacks})
        return adopting.get(planned.graph.nodes[node].stack, False)

    return TagGuard(KnownDigests(options.state, history),
                    {name: node.stack for name, node in planned.graph.nodes.items()},
                    (lambda node: True) if adopt else stack_adopts,
                    registry if isinstance(registry, ConfigReader) else None)


@contextmanager
def uninterrupted() -> Iterator[None]:
    """A Ctrl-C or SIGTERM inside raises Interrupted (exit 130 or 143) once the block is done; an error of
    the block itself comes first, and exits 130 or 143 as well."""
    with interruptible() as stop, exits_as_signal(stop):
        yield
    if stop.is_set():
        raise Interrupted(stop.signal or "SIGINT", "every tag had moved (or moved back)")


def open_history(options: Options) -> History | None:
    """The run history of options.state, when one exists."""
    path = options.state / "history.db"
    return History(path) if path.exists() else None
