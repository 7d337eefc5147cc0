"""Runs work over a DAG: each node once its parents succeeded (or released it), at most `jobs` at a time."""

from __future__ import annotations

import heapq
import queue
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import networkx as nx

T = TypeVar("T")
SUCCEEDED, FAILED, SKIPPED, NOT_STARTED = "succeeded", "failed", "skipped", "not_started"


@dataclass(frozen=True)
class Outcome:
    """How one node ended."""

    node: str
    status: str
    reason: str = ""
    error: BaseException | None = None


def remaining_path(graph: nx.DiGraph, weight: Callable[[T], float]) -> dict[T, float]:
    """For each node, the heaviest path from it to a leaf (its own weight included)."""
    result: dict[T, float] = {}
    for node in reversed(list(nx.topological_sort(graph))):
        below = [result[child] for child in graph.successors(node)]
        result[node] = weight(node) + max(below, default=0.0)
    return result


class Scheduler:
    """Dependency-aware parallel runner; the longest remaining path goes first.

    Linear in the size of the DAG: each selected node counts the selected nodes it still waits for,
    and a finished node lowers the counts of those that wait for it (no scan of the waiting nodes).
    A running node may release its waiters early (`release`): they start before it ends, and are
    skipped, as ever, when it fails after all. A waiter that ends first (a child failing on its
    parent's failure, engine.run.early) is taken in only once every node that released it has ended.
    """

    def __init__(self, graph: nx.DiGraph, jobs: int = 1, keep_going: bool = False,
                 weight: Callable[[str], float] = lambda _: 1.0, stop: threading.Event | None = None) -> None:
        if jobs < 1:
            raise ValueError("jobs must be at least 1")
        self.graph, self.jobs, self.keep_going = graph, jobs, keep_going
        self.stop = stop or threading.Event()
        self.priority = remaining_path(graph, weight)
        self._done: queue.SimpleQueue[tuple[str, Future[object] | None]] = queue.SimpleQueue()

    def release(self, node: str) -> None:
        """From node's work, while it runs: what waits for it may start now (thread-safe)."""
        self._done.put((node, None))

    def run(self, selected: Iterable[str], work: Callable[[str], object]) -> dict[str, Outcome]:
        """Run work(node) for every selected node; parents outside the selection count as done."""
        todo = set(selected)
        self.waiters, pending = _waits(self.graph, todo)
        self._releasers = _inverse(self.waiters)  # node → its nearest selected ancestors
        ready = [(-self.priority[node], node) for node in todo if not pending[node]]
        heapq.heapify(ready)
        outcomes: dict[str, Outcome] = {}
        self._released: set[str] = set()
        self._ended: set[str] = set()  # nodes whose end was taken in
        self._parked: dict[str, Future[object]] = {}  # ended while a node that released it runs on
        running, stopped_by = 0, ""
        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="build") as pool:
            while True:
                if self.stop.is_set():
                    stopped_by = stopped_by or "an interrupt"
                if not stopped_by:
                    running = self._start_ready(pool, work, ready, outcomes, running)
                if not running:
                    break
                try:
                    node, ended = self._done.get(timeout=0.5)  # wake up now and then to notice a stop
                except queue.Empty:
                    continue
                if ended is None:  # released early by its own work
                    if node in todo and node not in outcomes and node not in self._released:
                        self._released.add(node)
                        self._release(node, pending, ready)
                    continue
                running -= 1
                failed = self._end(node, ended, todo, outcomes, pending, ready)
                stopped_by = stopped_by or ("" if self.keep_going else failed)
        for node in todo - outcomes.keys():
            reason = "interrupted" if self.stop.is_set() else f"stopped after {stopped_by} failed"
            outcomes[node] = Outcome(node, NOT_STARTED, reason)
        return outcomes

    def _end(self, node: str, ended: Future[object], todo: set[str], outcomes: dict[str, Outcome],
             pending: dict[str, int], ready: list[tuple[float, str]]) -> str:
        """Take in node's end (parked while a node that released it runs on), then the parked waiters
        it held back; the first of them that failed ('' none)."""
        if any(r in self._released and r not in self._ended for r in self._releasers[node]):
            self._parked[node] = ended
            return ""
        self._ended.add(node)
        outcome = outcomes.setdefault(node, _outcome(node, ended))  # skipped meanwhile: stays so
        failed = ""
        if outcome.status == FAILED:
            self._skip_descendants(node, todo, outcomes)
            failed = node
        elif outcome.status == SUCCEEDED and node not in self._released:
            self._release(node, pending, ready)
        for waiter in self.waiters[node]:
            if waiter in self._parked:
                held = self._end(waiter, self._parked.pop(waiter), todo, outcomes, pending, ready)
                failed = failed or held
        return failed

    def _start_ready(self, pool: ThreadPoolExecutor, work: Callable[[str], object],
                     ready: list[tuple[float, str]], outcomes: dict[str, Outcome], running: int) -> int:
        """Submit ready nodes, most urgent first, while a slot is free; how many run afterwards."""
        while ready and running < self.jobs:
            node = heapq.heappop(ready)[1]
            if node in outcomes:  # skipped while it waited in the queue
                continue
            pool.submit(work, node).add_done_callback(_report_to(self._done, node))
            running += 1
        return running

    def _release(self, finished: str, pending: dict[str, int], ready: list[tuple[float, str]]) -> None:
        """finished succeeded: what waited only for it (and others done) is ready now."""
        for waiter in self.waiters[finished]:
            pending[waiter] -= 1
            if not pending[waiter]:
                heapq.heappush(ready, (-self.priority[waiter], waiter))

    def _skip_descendants(self, failed: str, todo: set[str], outcomes: dict[str, Outcome]) -> None:
        """Every selected node built on failed, directly or across unselected nodes, is skipped."""
        stack = list(self.waiters[failed])
        while stack:
            node = stack.pop()
            if node not in outcomes:
                outcomes[node] = Outcome(node, SKIPPED, f"parent failed: {failed}")
                stack.extend(self.waiters[node])


def nearest_selected(graph: nx.DiGraph, todo: set[str]) -> dict[str, set[str]]:
    """Every node (in topological order) → its nearest selected ancestors, across unselected gaps."""
    nearest: dict[str, set[str]] = {}
    for node in nx.topological_sort(graph):
        found: set[str] = set()
        for parent in graph.predecessors(node):
            found |= {parent} if parent in todo else nearest[parent]
        nearest[node] = found
    return nearest


def _waits(graph: nx.DiGraph, todo: set[str]) -> tuple[dict[str, list[str]], dict[str, int]]:
    """For the selected nodes: who waits for each (its nearest selected descendants, across
    unselected gaps) and how many each waits for (its nearest selected ancestors)."""
    nearest = nearest_selected(graph, todo)
    waiters: dict[str, list[str]] = {node: [] for node in todo}
    for node in todo:
        for ancestor in nearest[node]:
            waiters[ancestor].append(node)
    return waiters, {node: len(nearest[node]) for node in todo}


def _inverse(waiters: dict[str, list[str]]) -> dict[str, list[str]]:
    """For each node, the nodes it waits for."""
    waits_for: dict[str, list[str]] = {node: [] for node in waiters}
    for node, its_waiters in waiters.items():
        for waiter in its_waiters:
            waits_for[waiter].append(node)
    return waits_for


def _report_to(done: queue.SimpleQueue[tuple[str, Future[object] | None]],
               node: str) -> Callable[[Future[object]], None]:
    """A done-callback that hands (node, future) to the scheduler's loop."""
    return lambda future: done.put((node, future))


def _outcome(node: str, future: Future[object]) -> Outcome:
    error = future.exception()
    if error is None:
        return Outcome(node, SUCCEEDED)
    return Outcome(node, FAILED, str(error), error)
