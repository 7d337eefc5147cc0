"""Fake pool work for the PoolScheduler tests: a two-builder pool, build and merge functions that record
what ran where, and a graph of edges."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import networkx as nx

from engine.build.pool import parse_pool
from engine.build.poolscheduler import Unit

BOTH = ("linux/amd64", "linux/arm64")
POOL = parse_pool({"linux/amd64": ["amd"], "linux/arm64": ["arm"]}, "test")


class Boom(Exception):
    """A build step failed (definitive)."""


class Work:
    """Fake build and merge functions: record what ran where, how many at once per builder."""

    def __init__(self, hooks: dict[Unit, Callable[[str], None]] | None = None) -> None:
        self.hooks = hooks or {}
        self.lock = threading.Lock()
        self.events: list[tuple[str, Unit, str]] = []
        self.active: Counter[str] = Counter()
        self.max_active: Counter[str] = Counter()
        self.merged: Counter[str] = Counter()
        self.lost: set[str] = set()  # the scheduler's lost builders

    def build(self, unit: Unit, builder: str) -> None:
        with self.lock:
            self.events.append(("start", unit, builder))
            self.active[builder] += 1
            self.max_active[builder] = max(self.max_active[builder], self.active[builder])
        try:
            if unit in self.hooks:
                self.hooks[unit](builder)
        finally:
            with self.lock:
                self.active[builder] -= 1
                self.events.append(("end", unit, builder))

    def merge(self, node: str) -> None:
        with self.lock:
            self.merged[node] += 1
            self.events.append(("merge", Unit(node), ""))

    def index(self, kind: str, unit: Unit) -> int:
        return next(i for i, (k, u, _) in enumerate(self.events) if k == kind and u == unit)

    def builders_of(self, unit: Unit) -> list[str]:
        return [b for k, u, b in self.events if k == "start" and u == unit]


def chain(*edges: tuple[str, str], nodes: tuple[str, ...] = ()) -> nx.DiGraph:
    graph = nx.DiGraph(list(edges))
    graph.add_nodes_from(nodes)
    return graph
