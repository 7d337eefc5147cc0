"""Scheduler quality: makespans of engine.build.scheduler.Scheduler on simulated builds.

Each node "builds" by sleeping its duration scaled down (the whole jobs=1 run of a graph lasts about
`budget_s`), so the real Scheduler, threads and all, is measured. Three orderings are compared:

- ours: the engine's priority, the longest remaining path first, weighted by recorded durations
  (what a run with build history gets);
- ours, no history: the same with every node weighing the same (what a first run gets);
- FIFO: plain topological order (stack order: depth, then name), no priority;

against the lower bound max(critical path, total work / jobs). An exact discrete-event simulation
of the same list-scheduling policies is reported beside the measurement, to show its noise.
"""

from __future__ import annotations

import heapq
import random
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import networkx as nx

from engine.build.scheduler import Scheduler, remaining_path

POLICIES = ("ours", "ours_no_history", "fifo")
JOBS = (1, 2, 4, 8)
# Median simulated minutes per kind; durations are log-normal around them with a long tail.
KIND_MINUTES = {"os": 3.0, "sdk": 12.0, "framework": 20.0, "tool": 6.0, "llm": 5.0}
DEV_MINUTES = 4.0


def long_tail_durations(kinds: Mapping[str, str], dev: Mapping[str, bool], seed: int = 7) -> dict[str, float]:
    """Per node simulated minutes: log-normal (sigma 0.8) by kind, and 5 % of nodes 8x slower."""
    rng = random.Random(seed)
    result = {}
    for node in sorted(kinds):
        median = DEV_MINUTES if dev[node] else KIND_MINUTES.get(kinds[node], 5.0)
        value = rng.lognormvariate(0.0, 0.8) * median
        result[node] = value * (8.0 if rng.random() < 0.05 else 1.0)
    return result


def critical_path(graph: nx.DiGraph, durations: Mapping[str, float]) -> float:
    """The heaviest root-to-leaf chain."""
    return max(remaining_path(graph, lambda node: durations[node]).values(), default=0.0)


def lower_bound(graph: nx.DiGraph, durations: Mapping[str, float], jobs: int) -> float:
    """No schedule on `jobs` workers can finish earlier."""
    return max(critical_path(graph, durations), sum(durations.values()) / jobs)


def _priorities(graph: nx.DiGraph, durations: Mapping[str, float], order: Sequence[str],
                policy: str) -> dict[str, float]:
    """Higher runs first, exactly as Scheduler sorts (by -priority, then name)."""
    if policy == "ours":
        return remaining_path(graph, lambda node: durations[node])
    if policy == "ours_no_history":
        return remaining_path(graph, lambda _: 1.0)
    return {node: -float(index) for index, node in enumerate(order)}


def measured_makespan(graph: nx.DiGraph, durations: Mapping[str, float], order: Sequence[str], jobs: int,
                      policy: str, scale_s: float) -> float:
    """Run the real Scheduler with sleeping work; the wall time in simulated units."""
    scheduler = Scheduler(graph, jobs, keep_going=True)
    scheduler.priority = _priorities(graph, durations, order, policy)
    start = time.perf_counter()
    outcomes = scheduler.run(list(graph.nodes), lambda node: time.sleep(durations[node] * scale_s))
    elapsed = time.perf_counter() - start
    if any(outcome.status != "succeeded" for outcome in outcomes.values()):
        raise RuntimeError("a simulated build failed")
    return elapsed / scale_s


def exact_makespan(graph: nx.DiGraph, durations: Mapping[str, float], order: Sequence[str], jobs: int,
                   policy: str) -> float:
    """The same list scheduling as a discrete-event simulation: no threads, no noise."""
    priority = _priorities(graph, durations, order, policy)
    waiting = {node: graph.in_degree(node) for node in graph.nodes}
    ready = [(-priority[node], node) for node, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    running: list[tuple[float, str]] = []
    now = 0.0
    while ready or running:
        while ready and len(running) < jobs:
            _, node = heapq.heappop(ready)
            heapq.heappush(running, (now + durations[node], node))
        now, done = heapq.heappop(running)
        finished = [done]
        while running and running[0][0] <= now:
            finished.append(heapq.heappop(running)[1])
        for node in finished:
            for child in graph.successors(node):
                waiting[child] -= 1
                if waiting[child] == 0:
                    heapq.heappush(ready, (-priority[child], child))
    return now


def evaluate(name: str, graph: nx.DiGraph, durations: Mapping[str, float], order: Sequence[str],
             source: str, unit: str = "minutes", repeats: int = 3, budget_s: float = 1.0,
             jobs_list: Sequence[int] = JOBS,
             progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Makespans per jobs and policy (measured min/median, exact) beside the lower bound."""
    total = sum(durations.values())
    scale_s = budget_s / total if total else 0.0
    rows = []
    for jobs in jobs_list:
        row: dict[str, Any] = {"jobs": jobs, "lower_bound": round(lower_bound(graph, durations, jobs), 2)}
        for policy in POLICIES:
            values = [measured_makespan(graph, durations, order, jobs, policy, scale_s)
                      for _ in range(repeats)]
            row[policy] = {"min": round(min(values), 2), "median": round(statistics.median(values), 2),
                           "exact": round(exact_makespan(graph, durations, order, jobs, policy), 2)}
        row["ours_vs_fifo"] = round(row["fifo"]["median"] / row["ours"]["median"], 3)
        row["ours_vs_bound"] = round(row["ours"]["median"] / row["lower_bound"], 3)
        rows.append(row)
        progress(f"scheduler {name} jobs={jobs}: ours {row['ours']['median']} fifo {row['fifo']['median']} "
                 f"bound {row['lower_bound']}")
    return {"graph": name, "nodes": graph.number_of_nodes(), "durations": source, "unit": unit,
            "total_work": round(total, 2), "critical_path": round(critical_path(graph, durations), 2),
            "scale_s_per_unit": scale_s, "repeats": repeats, "rows": rows}


def overhead(sizes: Sequence[int], jobs: int = 4, seed: int = 1) -> list[dict[str, float]]:
    """Seconds the Scheduler spends over instant work on random DAGs of each size (each node's parent
    drawn among the 50 nodes before it): its own overhead, linear when the scheduler is."""
    rows = []
    for size in sizes:
        chooser = random.Random(seed)
        graph = nx.DiGraph()
        graph.add_nodes_from(range(size))
        graph.add_edges_from((chooser.randrange(max(0, node - 50), node), node) for node in range(1, size))
        started = time.perf_counter()
        outcomes = Scheduler(graph, jobs=jobs).run(list(graph.nodes), lambda _node: None)
        seconds = time.perf_counter() - started
        if len(outcomes) != size:
            raise AssertionError(f"the scheduler ran {len(outcomes)} of {size} nodes")
        rows.append({"nodes": size, "jobs": jobs, "seconds": round(seconds, 3)})
    return rows
