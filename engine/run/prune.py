"""`stackbuild prune`: delete from the stacks' repositories the tags stackbuild wrote that nothing keeps.

What stays: every tag stackbuild does not write (human tags, anyone's; cosign's and OCI 1.1 referrers'
tags of a manifest that stays), the content, candidate, staging and check tags of the loaded stacks'
current fingerprints (computed as `plan` computes them), their layer-cache tags, and whatever the
newest lockfiles of the state folder record (engine.run.retention decides). Tags are deleted by
manifest digest through the registry API; the blobs they leave are the registry's own garbage
collection's (`registry garbage-collect`).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import structlog

from engine.build.interrupt import StopEvent, stop_signals_handled
from engine.errors import Interrupted
from engine.parallel import side_by_side
from engine.registry.client import Manifest, RegistryClient
from engine.run import api
from engine.run.doomed import deletions, unconfirmed
from engine.run.indexes import PruneError, listed_tag, stop_if_unreadable, with_recorded
from engine.run.planner import base_digests
from engine.run.publishing import open_history
from engine.run.retention import (
    Deletion,
    Keep,
    Listed,
    Unconfirmed,
    Verdict,
    decide,
    keep_of,
    settled,
)
from engine.run.subjects import REFERRERS, subject_tag
from engine.state.digestmemo import load_memo
from engine.state.lockfile import LockEntry, read_lockfile
from graph.change.fingerprint import fingerprint_graph
from graph.expand.dag import StackGraph

log = structlog.get_logger()
DAY_S = 86_400.0
# what became of a planned deletion: deleted, gone already (404), or kept: a subject found gone that it
# relies on is back (pushed again by digest since it was planned)
DELETED, GONE, BACK = "deleted", "already_gone", "subject_back"


@dataclass(frozen=True)
class Retention:
    """What besides the current fingerprints is kept: the newest runs' lockfiles, or those of recent days."""

    runs: int = 5
    days: float = 0.0


@dataclass(frozen=True)
class RepositoryPlan:
    """One repository: a verdict for each of its tags, the manifests to delete, and the untagged ones
    referrers tags that go list but that are no referrers of their subject (left)."""

    repository: str
    verdicts: tuple[Verdict, ...]
    deletions: tuple[Deletion, ...]
    listing: frozenset[tuple[str, str]]  # (tag, digest) as listed: one that differs means planning again
    left: tuple[Unconfirmed, ...] = ()


@dataclass(frozen=True)
class PrunePlan:
    """Every repository of the loaded stacks, and the lockfiles that kept what they record."""

    repositories: tuple[RepositoryPlan, ...]
    lockfiles: tuple[Path, ...]
    keep: Keep


def plan_prune(options: api.Options, registry: RegistryClient, retention: Retention,
               now: float | None = None) -> PrunePlan:
    """What prune would delete and keep, repository by repository (reads only)."""
    stack_graph = api.load_to_send(options)  # it reads the contexts, to fingerprint them
    locks = kept_lockfiles(options.state, retention, time.time() if now is None else now)
    keep = keep_of(_current(options, stack_graph, registry),
                   [(_shown(path, options.root), entries) for path, entries in locks])
    repositories = sorted({node.repository for node in stack_graph.nodes.values() if not node.external})
    plans = tuple(plan_repository(registry, repository, keep) for repository in repositories)
    return PrunePlan(plans, tuple(Path(_shown(path, options.root)) for path, _ in locks), keep)


def _shown(path: Path, root: Path) -> str:
    """path relative to the repository root when it is inside it (the state folder usually is)."""
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def _current(options: api.Options, stack_graph: StackGraph,
             registry: RegistryClient) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Each built node's fingerprint and platforms, as `plan` computes them (bases asked of the registry)."""
    history = open_history(options)
    try:
        bases = base_digests(stack_graph, registry, history)
    finally:
        if history:
            history.close()
    unresolved = sorted({node.external for node in stack_graph.nodes.values() if node.external} - set(bases))
    if unresolved:  # a fingerprint without its base's digest is no build's: their tags would look stale
        raise PruneError(f"the digest of the external base {', '.join(unresolved)} could not be resolved, so "
                         "the current fingerprints of the nodes built on it are unknown; nothing was deleted",
                         "run prune again once the base's registry answers (the warning above says why)")
    memo = load_memo(options.state) if history else None  # read only, as `plan` does
    fingerprints = fingerprint_graph(stack_graph, options.root, bases, memo)
    return {name: (fingerprints[name].value, node.platforms)
            for name, node in stack_graph.nodes.items() if not node.external}


def kept_lockfiles(state: Path, retention: Retention, now: float) -> list[tuple[Path, list[LockEntry]]]:
    """latest.lock.json, the newest `retention.runs` runs' lockfiles and those written within
    `retention.days` (by their modification time), newest first; a damaged one stops prune (LockfileError)."""
    runs = state / "runs"
    found = sorted(runs.glob("*/lock.json"), key=lambda path: path.lstat().st_mtime, reverse=True) \
        if runs.is_dir() else []
    recent = [path for number, path in enumerate(found)
              if number < retention.runs or now - path.lstat().st_mtime < retention.days * DAY_S]
    latest = state / "latest.lock.json"
    chosen = ([latest] if latest.exists() else []) + recent
    return [(path, read_lockfile(path, follow_symlinks=False)) for path in chosen]


def plan_repository(registry: RegistryClient, repository: str, keep: Keep) -> RepositoryPlan:
    """The verdicts on every tag of repository (one GET per tag and nested index, side by side, one per
    index a kept lockfile records that no tag points to, one per artifact a referrers tag whose subject
    may go lists, to read its subject, and one per cosign or referrers tag whose subject no tag holds,
    to learn whether it is gone)."""
    tags = registry.tags(repository)
    listed = [item for item in side_by_side(lambda tag: listed_tag(registry, repository, tag), tags) if item]
    keep = with_recorded(registry, repository, listed, keep)
    subject_of = _subjects(registry, repository, listed, settled(listed, keep))
    verdicts = decide(listed, keep, _gone(registry, repository, listed), subject_of)
    stop_if_unreadable(repository, listed, verdicts, keep)
    return RepositoryPlan(repository, verdicts, deletions(verdicts, listed, keep.digests, subject_of),
                          frozenset((item.tag, item.digest) for item in listed),
                          unconfirmed(verdicts, listed, keep.digests, subject_of))


def _subjects(registry: RegistryClient, repository: str, listed: Sequence[Listed],
              staying: Collection[str]) -> dict[str, str]:
    """The digest each artifact a referrers tag lists names as its `subject` ("" for none; one that is
    not there is left out): only those that name their tag's subject go with it. Those of referrers tags
    whose subject is staying are not read: such a tag stays, and so does what it lists."""
    artifacts = sorted({child for item in listed if (about := subject_tag(item.tag)) and about[0] == REFERRERS
                        and about[1] not in staying for child in item.children})
    found = side_by_side(lambda digest: registry.manifest(f"{repository}@{digest}"), artifacts)
    return {digest: _subject_digest(manifest) for digest, manifest in zip(artifacts, found, strict=True)
            if manifest is not None}


def _subject_digest(manifest: Manifest) -> str:
    """The digest a manifest's `subject` descriptor names; "" without one."""
    subject = manifest.body.get("subject")
    digest = subject.get("digest") if isinstance(subject, dict) else None
    return digest if isinstance(digest, str) else ""


def _gone(registry: RegistryClient, repository: str, listed: Sequence[Listed]) -> frozenset[str]:
    """The subjects of cosign and referrers tags that the registry says are gone (404 MANIFEST_UNKNOWN);
    only those no tag points to or refers to are asked."""
    held = {digest for item in listed for digest in (item.digest, *item.children)}
    asked = sorted({about[1] for item in listed if (about := subject_tag(item.tag)) and about[1] not in held})
    found = side_by_side(lambda subject: registry.manifest_gone(f"{repository}@{subject}"), asked)
    return frozenset(subject for subject, gone in zip(asked, found, strict=True) if gone)


Reporter = Callable[[str, Deletion, str], None]  # repository, deletion, what became of it: DELETED, ...


def delete(registry: RegistryClient, plan: PrunePlan, report: Reporter,
           replanned: Callable[[RepositoryPlan], None] = lambda _: None) -> int:
    """Delete what plan says, reporting each manifest as it goes; the number deleted (a manifest already
    gone, answering 404, is reported but not counted, nor one kept because a subject it relies on is back).

    A repository whose tags, or what they point to, changed since plan_prune listed them is planned
    again first (a build may have pushed a tag onto a doomed manifest, a roll-back moved a human tag
    there), and its new plan handed to replanned. The first failure stops everything (RegistryError);
    a Ctrl-C or SIGTERM once the deletion under way is reported (Interrupted)."""
    count = 0
    with _finishing() as stop:
        for planned in plan.repositories:
            if not planned.deletions:
                continue
            if _listing(registry, planned.repository) != planned.listing:
                log.info("prune_replanned", node="*", repository=planned.repository,
                         reason="its tags changed since they were listed")
                planned = plan_repository(registry, planned.repository, plan.keep)
                replanned(planned)
            count += _delete_all(registry, planned.repository, planned.deletions, report, stop)
    if stop.is_set():  # during the last deletion: all is done, but the caller must see the stop
        raise Interrupted(stop.signal, "the deletion under way was done and reported")
    return count


@contextmanager
def _finishing() -> Iterator[StopEvent]:
    """A first SIGINT or SIGTERM sets the event, so the DELETE under way (which the registry may have
    carried out) is finished and reported before prune stops; a second one stops at once."""
    stop = StopEvent()

    def handle(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.signal = signal.Signals(signum).name
        stop.set()
        log.warning("prune_interrupted", node="*", signal=stop.signal,
                    reason="stops once the deletion under way is done; again to stop at once")

    with stop_signals_handled(handle):
        yield stop


def _listing(registry: RegistryClient, repository: str) -> frozenset[tuple[str, str]]:
    """Each tag of repository with its digest, as it is now (one HEAD per tag, side by side)."""
    tags = registry.tags(repository)
    found = side_by_side(lambda tag: registry.digest(f"{repository}:{tag}"), tags)
    return frozenset((tag, digest) for tag, digest in zip(tags, found, strict=True) if digest)


def _delete_all(registry: RegistryClient, repository: str, doomed: Sequence[Deletion],
                report: Reporter, stop: StopEvent) -> int:
    """Delete each manifest of one repository in turn; the number deleted (not those already gone).

    A deletion that relies on subjects found gone (an orphan's cosign or referrers tag, its referrers)
    asks again right before (the listing check sees no push by digest): one back keeps it. What is left
    is the time between that GET and the DELETE; the API has no conditional DELETE to close it."""
    count, back = 0, set[str]()
    for deletion in doomed:
        if stop.is_set():
            raise Interrupted(stop.signal, "the deletion under way was done and reported")
        reference = f"{repository}@{deletion.digest}"
        if _back(registry, repository, deletion, back):
            log.warning("prune_subject_back", node="*", ref=reference, subjects=",".join(deletion.gone),
                        reason="a subject it relies on is in the repository again: kept")
            report(repository, deletion, BACK)
            continue
        there = registry.delete_manifest(reference)
        log.info("manifest_deleted" if there else "manifest_already_gone", node="*", ref=reference,
                 tags=",".join(deletion.tags), referrer_of=deletion.referrer_of, child_of=deletion.child_of)
        report(repository, deletion, DELETED if there else GONE)
        count += there
    return count


def _back(registry: RegistryClient, repository: str, deletion: Deletion, back: set[str]) -> bool:
    """Whether a subject deletion relies on is in the repository again (back: those found back so far)."""
    for subject in deletion.gone:
        if subject in back or not registry.manifest_gone(f"{repository}@{subject}"):
            back.add(subject)
            return True
    return False
