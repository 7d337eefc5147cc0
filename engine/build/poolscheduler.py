"""Runs (node, platform) builds over a pool of builders, then merges each node's platforms.

A node's platform build waits only for its parent's build of the same platform (and for the merge of
its SBOM generator, when the run builds that: buildx is given the merged index); the node's merge
waits for all its platform builds and for its parent's merge. Each builder runs at most its
capacity at once; the longest remaining path goes first; equal work spreads over the least loaded
builder of the platform. A builder that is lost (BuilderLost) takes no more work and its running
builds are retried on another builder of their platform.
"""

from __future__ import annotations

import heapq
import queue
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import networkx as nx
import structlog

from engine.build.pool import Pool, PoolBuilder
from engine.build.scheduler import (
    FAILED,
    NOT_STARTED,
    SKIPPED,
    SUCCEEDED,
    Outcome,
    nearest_selected,
    remaining_path,
)
from engine.errors import EngineError

log = structlog.get_logger()
UNIT_ATTEMPTS = 3  # a build is tried on at most this many builders before its node fails
MERGE = ""  # the platform of a node's merge unit


class BuilderLost(EngineError):
    """A build failed because its builder stopped answering: transient, retried on another builder."""

    def __init__(self, builder: str, node: str, platform: str, cause: str) -> None:
        super().__init__(f"node {node}: builder {builder} for {platform} stopped answering: {cause}",
                         "check the builder (`docker buildx inspect --bootstrap " + builder + "`)")
        self.builder = builder


@dataclass(frozen=True, order=True)
class Unit:
    """One platform build of a node, or (platform MERGE) the merge of the node's platforms."""

    node: str
    platform: str = MERGE


def unit_graph(graph: nx.DiGraph, todo: set[str], platforms_of: Callable[[str], tuple[str, ...]],
               merged_first: Callable[[str], Iterable[str]] = lambda _: ()) -> nx.DiGraph:
    """The units of the selected nodes and what each waits for (across unselected ancestors); every
    build of a node also waits for the merge of the selected nodes merged_first names (its SBOM generator,
    which buildx is given as the merged index)."""
    units = nx.DiGraph()
    for node, found in nearest_selected(graph, todo).items():
        if node not in todo:
            continue
        units.add_node(Unit(node))
        for platform in platforms_of(node):
            units.add_edge(Unit(node, platform), Unit(node))
            for ancestor in found:
                if platform in platforms_of(ancestor):
                    units.add_edge(Unit(ancestor, platform), Unit(node, platform))
            for whole in todo.intersection(merged_first(node)):
                units.add_edge(Unit(whole), Unit(node, platform))
        for ancestor in found:
            units.add_edge(Unit(ancestor), Unit(node))
    return units


Done = queue.SimpleQueue[tuple[Unit, str, Future[object]]]  # (unit, its builder, its future) as each ends


@dataclass
class _Progress:
    """One run's units and where each stands."""

    units: nx.DiGraph
    priority: dict[Unit, float]  # the longest remaining path from the unit: the longest goes first
    pending: dict[Unit, int]  # how many of what the unit waits for have not succeeded yet
    ready: list[tuple[float, Unit]] = field(default_factory=list)  # a heap of (-priority, unit)
    results: dict[Unit, Outcome] = field(default_factory=dict)
    tries: dict[Unit, int] = field(default_factory=dict)  # builds started, per unit
    done: Done = field(default_factory=queue.SimpleQueue)

    def release(self, finished: Unit) -> None:
        """The units waiting for finished that wait for nothing else now become ready."""
        for waiter in self.units.successors(finished):
            self.pending[waiter] -= 1
            if not self.pending[waiter]:
                heapq.heappush(self.ready, (-self.priority[waiter], waiter))


def _no_builder(unit: Unit) -> object:
    raise EngineError(f"node {unit.node}: no builder of the pool is left for {unit.platform}",
                      "check the builders with `docker buildx ls`, or add one for this platform")


def _report_to(done: Done, unit: Unit, builder: str) -> Callable[[Future[object]], None]:
    return lambda future: done.put((unit, builder, future))


class PoolScheduler:
    """Dependency-aware runner of units over the builders of a pool."""

    def __init__(self, graph: nx.DiGraph, pool: Pool, platforms_of: Callable[[str], tuple[str, ...]],
                 keep_going: bool = False, weight: Callable[[str], float] = lambda _: 1.0,
                 stop: threading.Event | None = None,
                 merged_first: Callable[[str], Iterable[str]] = lambda _: ()) -> None:
        self.graph, self.pool, self.platforms_of, self.merged_first = graph, pool, platforms_of, merged_first
        self.keep_going, self.weight = keep_going, weight
        self.stop = stop or threading.Event()
        self.load: dict[str, int] = {}
        self.lost: set[str] = set()
        self.assigned: list[tuple[Unit, str]] = []  # every (unit, builder) started, in order

    def run(self, selected: Iterable[str], build: Callable[[Unit, str], object],
            merge: Callable[[str], object]) -> dict[str, Outcome]:
        """build(unit, builder) every platform of every selected node, merge(node) each; node outcomes."""
        todo = set(selected)
        units = unit_graph(self.graph, todo, self.platforms_of, self.merged_first)
        progress = _Progress(units, remaining_path(units, self._unit_weight),
                             {unit: units.in_degree(unit) for unit in units})
        progress.ready = [(-progress.priority[u], u) for u in units if not progress.pending[u]]
        heapq.heapify(progress.ready)
        running, stopped_by = 0, ""
        workers = sum(b.capacity for b in self._all_builders()) + 2
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="unit") as executor:
            while True:
                if self.stop.is_set():
                    stopped_by = stopped_by or "an interrupt"
                if not stopped_by:
                    running += self._dispatch(progress, executor, build, merge)
                if not running:
                    break
                try:
                    unit, builder, future = progress.done.get(timeout=0.5)
                except queue.Empty:
                    continue
                running -= 1
                failed = self._end(unit, builder, future, progress)
                stopped_by = stopped_by or ("" if self.keep_going else failed)
        return self._node_outcomes(todo, units, progress.results, stopped_by)

    def _end(self, unit: Unit, builder: str, future: Future[object], progress: _Progress) -> str:
        """Take in unit's end on builder: another try when the builder was lost, else its outcome and the
        units it releases; unit's node when it failed ('' otherwise)."""
        if builder:
            self.load[builder] -= 1
        error = future.exception()
        if isinstance(error, BuilderLost) and self._retry(unit, builder, error, progress.tries):
            heapq.heappush(progress.ready, (-progress.priority[unit], unit))  # skipped meanwhile: not started
        elif unit in progress.results:  # skipped while it ran (a parent failed on another platform): stays so
            pass
        elif error is None:
            progress.results[unit] = Outcome(unit.node, SUCCEEDED)
            progress.release(unit)
        else:
            self._fail(progress.units, unit, error, progress.results)
            return unit.node
        return ""

    def _fail(self, units: nx.DiGraph, failed: Unit, error: BaseException,
              results: dict[Unit, Outcome]) -> None:
        """failed's outcome; every other unit of its node and of the nodes built on it is skipped, on
        every platform (a platform's build waits only for its parent's build of that platform)."""
        results[failed] = Outcome(failed.node, FAILED, str(error), error)
        below = {unit.node for unit in nx.descendants(units, Unit(failed.node))}
        for node in {failed.node} | below:
            for unit in (Unit(node), *(Unit(node, platform) for platform in self.platforms_of(node))):
                if unit not in results:
                    results[unit] = Outcome(node, SKIPPED, f"parent failed: {failed.node}")

    def _unit_weight(self, unit: Unit) -> float:
        return self.weight(unit.node) if unit.platform else 0.0

    def _all_builders(self) -> list[PoolBuilder]:
        return list({b.name: b for _, group in self.pool.platforms for b in group}.values())

    def _dispatch(self, progress: _Progress, executor: ThreadPoolExecutor,
                  build: Callable[[Unit, str], object], merge: Callable[[str], object]) -> int:
        """Start every ready unit a builder has room for, by priority; the number started."""
        started, waiting = 0, []
        while progress.ready:
            item = heapq.heappop(progress.ready)
            unit = item[1]
            if unit in progress.results:  # skipped while it waited
                continue
            builder = self._pick(unit.platform) if unit.platform else ""
            if unit.platform and not builder and self._alive(unit.platform):
                waiting.append(item)  # its builders are full
                continue
            future: Future[object]
            if unit.platform and not builder:
                future = executor.submit(_no_builder, unit)
            elif builder:
                self.load[builder] = self.load.get(builder, 0) + 1
                self.assigned.append((unit, builder))
                progress.tries[unit] = progress.tries.get(unit, 0) + 1
                future = executor.submit(build, unit, builder)
            else:
                future = executor.submit(merge, unit.node)
            future.add_done_callback(_report_to(progress.done, unit, builder))
            started += 1
        for item in waiting:
            heapq.heappush(progress.ready, item)
        return started

    def _pick(self, platform: str) -> str:
        """The live builder of platform with the most room (load / capacity), '' when all are full."""
        free = [(self.load.get(b.name, 0) / b.capacity, i, b.name) for i, b in
                enumerate(self.pool.builders(platform))
                if b.name not in self.lost and self.load.get(b.name, 0) < b.capacity]
        return min(free)[2] if free else ""

    def _alive(self, platform: str) -> bool:
        return any(b.name not in self.lost for b in self.pool.builders(platform))

    def _retry(self, unit: Unit, builder: str, error: BuilderLost, tries: dict[Unit, int]) -> bool:
        """Mark the builder lost; whether unit gets another try on a remaining builder."""
        if builder not in self.lost:
            self.lost.add(builder)
            log.warning("builder_lost", node=unit.node, builder=builder, platform=unit.platform,
                        error=str(error))
        again = tries.get(unit, 0) < UNIT_ATTEMPTS and self._alive(unit.platform)
        if again:
            log.warning("build_moved", node=unit.node, platform=unit.platform, lost=builder)
        return again

    def _node_outcomes(self, todo: set[str], units: nx.DiGraph, results: dict[Unit, Outcome],
                       stopped_by: str) -> dict[str, Outcome]:
        """A node's outcome: its merge's, else its first failed platform build's, else not started."""
        outcomes: dict[str, Outcome] = {}
        for node in todo:
            mine = [results[u] for u in units.predecessors(Unit(node)) if u.node == node and u in results]
            failed = [o for o in mine if o.status == FAILED]
            if Unit(node) in results and results[Unit(node)].status != SKIPPED:
                outcomes[node] = results[Unit(node)]
            elif failed:
                outcomes[node] = failed[0]
            elif Unit(node) in results:
                outcomes[node] = results[Unit(node)]
            else:
                reason = "interrupted" if self.stop.is_set() else f"stopped after {stopped_by} failed"
                outcomes[node] = Outcome(node, NOT_STARTED, reason)
        return outcomes
