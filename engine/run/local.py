"""The local loop, `build --load`: build into the local engine's image store with no registry at all.

Planned from the store itself (an image under a node's content tag `sb-<fingerprint>` is that
node's build) and from the state folder's record of what was loaded; children are built FROM their
parent's local image by digest; smoke tests run the local images; human tags are set locally once
every selected node built and passed its tests.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import structlog

from engine.build.interrupt import StopEvent
from engine.build.request import Provenance
from engine.build.scheduler import Outcome, Scheduler
from engine.console import logs
from engine.errors import EngineError
from engine.registry.client import Manifest
from engine.run import api, outcomes
from engine.run.planner import Planned, base_history, candidate_ref, content_ref
from engine.run.promote import roll_back
from engine.run.runner import NodeRunner
from engine.run.settings import BuildSettings
from engine.state import gitinfo
from engine.state.digestmemo import load_memo, save_memo
from engine.state.folder import run_lock
from engine.state.history import History
from engine.state.loaded import LoadedImage, read_loaded, write_loaded
from engine.state.report import RunReport
from graph.change.fingerprint import fingerprint_graph
from graph.context.files import DigestMemo
from graph.expand.dag import StackGraph
from graph.plan.changes import Observed, decide
from graph.plan.entries import BUILD, EXTERNAL, PlanEntry

if TYPE_CHECKING:
    from engine.build.builder import Builder

log = structlog.get_logger()


class Store(Protocol):
    """The local image store (engine.build.localstore.LocalStore, or a fake in unit tests)."""

    def image_id(self, reference: str) -> str | None:
        """The id of the local image reference names, None when there is none."""

    def tag(self, source: str, target: str) -> None:
        """Point the local tag target at the image source names."""

    def untag(self, target: str) -> None:
        """Remove the local tag target."""


class NoRegistry:
    """The registry of a --load run: there is none, and asking it is a bug."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()

    def _refuse(self, reference: str) -> None:
        raise EngineError(f"--load uses no registry, yet {reference} was looked up there",
                          "report this as a bug; build without --load meanwhile")

    def manifest(self, reference: str) -> Manifest | None:
        self._refuse(reference)
        return None

    def digest(self, reference: str) -> str | None:
        self._refuse(reference)
        return None

    def tag(self, source: str, target: str) -> str:
        self._refuse(target)
        return ""


def plan_local(stack_graph: StackGraph, root: Path, store: Store, history: History | None,
               full: bool = False, memo: DigestMemo | None = None, withheld: bool = False) -> Planned:
    """Fingerprint every node (external bases by their local image id; context files through memo when
    given; withheld: see planner.plan_build), then ask the store what it has."""
    bases = {node.external: store.image_id(node.external) or "" for node in stack_graph.nodes.values()
             if node.external}
    missing = sorted(reference for reference, digest in bases.items() if not digest)
    if missing:
        raise EngineError(f"--load: base image {missing[0]} is not in the local image store",
                          "load or build it into the engine first (docker image ls lists the store)")
    fingerprints = fingerprint_graph(stack_graph, root, bases, memo, withheld)
    observed: dict[str, Observed] = {}
    for name in stack_graph.order:
        node = stack_graph.nodes[name]
        if node.external:
            continue
        content = store.image_id(content_ref(node, fingerprints[name]))
        previous = history.last_success(name) if history and not content else None
        observed[name] = Observed(content, store.image_id(node.ref), previous.inputs if previous else None)
    observed.update(base_history(stack_graph, history))
    return Planned(stack_graph, fingerprints, decide(stack_graph, fingerprints, observed, full), {})


def build_local(options: api.Options, builder: Builder, settings: BuildSettings, store: Store) -> RunReport:
    """Build what the local store lacks, test it there, then set the human tags locally."""
    settings = replace(settings, load=True, changed_since="")
    with run_lock(options.state):
        history = History(options.state / "history.db")
        try:
            memo = load_memo(options.state)
            planned = plan_local(api.load_to_build(options, settings.secrets), options.root, store, history,
                                 settings.full, memo, settings.secrets.withhold)
            save_memo(options.state, memo)
            report = outcomes.new_report(options.state, planned, settings)
            report.mode = "local"
            with logs.json_log(Path(report.folder) / "log.jsonl"):
                _execute(options, builder, settings, store, history, planned, report)
                report.write()
                log.info("run_finished", node="*", run=report.run_id, status=report.status,
                         report=str(Path(report.folder) / "report.json"), built=report.buildx_invocations,
                         tagged=len(report.promoted))
            return report
        finally:
            history.close()


def _execute(options: api.Options, builder: Builder, settings: BuildSettings, store: Store,
             history: History, planned: Planned, report: RunReport) -> None:
    history.start_run(report.run_id, report.started, report.mode)
    provenance = Provenance(gitinfo.source(options.root), gitinfo.revision(options.root), report.started)
    runner = NodeRunner(options.root, planned, builder, report, NoRegistry(), settings, provenance)
    runner.local_parents = pin_bases(planned, store)
    runner.tag_content = lambda node, _digest: store.tag(candidate_ref(node, planned.fingerprints[node.name]),
                                                         content_ref(node, planned.fingerprints[node.name]))
    builds = [entry.node for entry in planned.entries if entry.action == BUILD]
    log.info("run_started", node="*", run=report.run_id, mode=report.mode, nodes=len(planned.entries),
             to_build=len(builds), jobs=settings.jobs)

    def build(stop: StopEvent) -> dict[str, Outcome]:
        scheduler = Scheduler(planned.graph.graph, settings.jobs, settings.keep_going,
                              outcomes.weights(history, planned), stop)
        return scheduler.run(builds, runner.run)

    outcomes.build_and_publish(history, report, planned, runner, build,
                               partial(_tag, options.state, planned, runner.digests, store, report,
                                       settings.secrets.withhold))


def _tag(state: Path, planned: Planned, digests: dict[str, str], store: Store, report: RunReport,
         withheld: bool, ok: bool, interrupted: bool, stop: StopEvent) -> bool:
    """Unless a node failed, the run stopped or it withheld the secrets, set the human tags locally and
    remember them; whether ok."""
    stopped = interrupted or stop.is_set()
    if ok and not stopped and not withheld:
        report.promoted = tag_locally(planned, digests, store)
        _remember(state, planned, digests)
        return True
    # an untrusted stack's image under a human tag would be what a later build FROM that tag uses here
    log.warning("local_tags_skipped", node="*", reason="interrupted" if stopped else
                "a node failed: no human tag was moved" if not ok else
                "--no-secrets: an untrusted run's images keep their local content tags only")
    return ok and not stopped


def pin_bases(planned: Planned, store: Store) -> dict[str, str]:
    """External base → a local tag naming its image id, so that a child is built on exactly that image."""
    pinned = {}
    for entry in planned.entries:
        if entry.action == EXTERNAL and entry.digest:
            name, _, last = planned.graph.nodes[entry.node].external.split("@", 1)[0].rpartition("/")
            repository = f"{name}/{last.split(':', 1)[0]}" if name else last.split(":", 1)[0]
            pinned[entry.node] = f"{repository}:sb-{entry.digest.removeprefix('sha256:')}"
            store.tag(entry.digest, pinned[entry.node])  # by id: the image the fingerprint counted
    return pinned


def tag_locally(planned: Planned, digests: dict[str, str], store: Store) -> list[str]:
    """Point every node's human tag at its local image, all or none (or its error raised); the tags moved."""
    moved: list[tuple[PlanEntry, str | None]] = []  # (entry, the image id its tag named before)
    for entry in planned.entries:
        digest = digests.get(entry.node) or entry.digest
        if entry.action == EXTERNAL or not digest:
            continue
        before = store.image_id(entry.ref)
        if before == digest:
            continue
        node = planned.graph.nodes[entry.node]
        try:
            store.tag(content_ref(node, planned.fingerprints[entry.node]), entry.ref)
        except Exception as exc:  # any error: raised, the tags moved would stay moved
            roll_back(moved, lambda back, image: store.untag(back.ref) if image is None  # new in this run
                      else store.tag(image, back.ref), str(exc))
            raise
        moved.append((entry, before))
        log.info("tag_set_locally", node=entry.node, ref=entry.ref, digest=digest)
    return [entry.ref for entry, _ in moved]


def _remember(state: Path, planned: Planned, digests: dict[str, str]) -> None:
    """Add what this run has in the store to loaded.json."""
    loaded = read_loaded(state)
    for entry in planned.entries:
        digest = digests.get(entry.node) or entry.digest
        if entry.action != EXTERNAL and digest:
            loaded[entry.node] = LoadedImage(entry.node, entry.ref, entry.fingerprint, digest,
                                             entry.platforms)
    write_loaded(state, loaded)
