"""Runs work over a DAG: each node once its parents succeeded, at most `jobs` at a time."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import networkx as nx

SUCCEEDED, FAILED, SKIPPED, NOT_STARTED = "succeeded", "failed", "skipped", "not_started"


@dataclass(frozen=True)
class Outcome:
    """How one node ended."""

    node: str
    status: str
    reason: str = ""
    error: BaseException | None = None


def remaining_path(graph: nx.DiGraph, weight: Callable[[str], float]) -> dict[str, float]:
    """For each node, the heaviest path from it to a leaf (its own weight included)."""
    result: dict[str, float] = {}
    for node in reversed(list(nx.topological_sort(graph))):
        below = [result[child] for child in graph.successors(node)]
        result[node] = weight(node) + max(below, default=0.0)
    return result


class Scheduler:
    """Dependency-aware parallel runner; the longest remaining path goes first."""

    def __init__(self, graph: nx.DiGraph, jobs: int = 1, keep_going: bool = False,
                 weight: Callable[[str], float] = lambda _: 1.0, stop: threading.Event | None = None) -> None:
        if jobs < 1:
            raise ValueError("jobs must be at least 1")
        self.graph, self.jobs, self.keep_going = graph, jobs, keep_going
        self.stop = stop or threading.Event()
        self.priority = remaining_path(graph, weight)

    def run(self, selected: Iterable[str], work: Callable[[str], object]) -> dict[str, Outcome]:
        """Run work(node) for every selected node; parents outside the selection count as done."""
        todo = set(selected)
        # a selected node waits for every selected ancestor, even across unselected gaps
        self.waits_for = {node: nx.ancestors(self.graph, node) & todo for node in todo}
        outcomes: dict[str, Outcome] = {}
        running: dict[Future[object], str] = {}
        stopped_by = ""
        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="build") as pool:
            while True:
                if self.stop.is_set():
                    stopped_by = stopped_by or "an interrupt"
                if not stopped_by:
                    for node in self._ready(todo, outcomes, running)[: self.jobs - len(running)]:
                        running[pool.submit(work, node)] = node
                if not running:
                    break
                finished, _ = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in finished:
                    node = running.pop(future)
                    outcomes[node] = _outcome(node, future)
                    if outcomes[node].status == FAILED:
                        self._skip_descendants(node, todo, outcomes)
                        stopped_by = stopped_by or ("" if self.keep_going else node)
        for node in todo - outcomes.keys():
            reason = "interrupted" if self.stop.is_set() else f"stopped after {stopped_by} failed"
            outcomes[node] = Outcome(node, NOT_STARTED, reason)
        return outcomes

    def _ready(self, todo: set[str], outcomes: dict[str, Outcome],
               running: dict[Future[object], str]) -> list[str]:
        busy = set(running.values())
        ready = [
            node for node in todo
            if node not in outcomes and node not in busy
            and all(_succeeded(outcomes, ancestor) for ancestor in self.waits_for[node])
        ]
        return sorted(ready, key=lambda node: (-self.priority[node], node))

    def _skip_descendants(self, failed: str, todo: set[str], outcomes: dict[str, Outcome]) -> None:
        for node in nx.descendants(self.graph, failed) & todo:
            outcomes.setdefault(node, Outcome(node, SKIPPED, f"parent failed: {failed}"))


def _succeeded(outcomes: dict[str, Outcome], node: str) -> bool:
    return node in outcomes and outcomes[node].status == SUCCEEDED


def _outcome(node: str, future: Future[object]) -> Outcome:
    error = future.exception()
    if error is None:
        return Outcome(node, SUCCEEDED)
    return Outcome(node, FAILED, str(error), error)
