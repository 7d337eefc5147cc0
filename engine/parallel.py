"""One way to run independent lookups side by side: every room's registry reads and checks use it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

LOOKUP_THREADS = 16  # registry lookups in flight (a remote registry answers each in tens of ms)
SLICES_PER_THREAD = 4  # lookups are handed to the threads in slices, not one task (future, locks) each
T = TypeVar("T")
R = TypeVar("R")


def side_by_side(function: Callable[[T], R], items: Sequence[T], threads: int = LOOKUP_THREADS) -> list[R]:
    """[function(item) for item in items], `threads` at a time, in slices (10k tasks cost seconds); the
    first exception raised is raised."""
    if len(items) <= 1:
        return [function(item) for item in items]
    size = max(1, -(-len(items) // (threads * SLICES_PER_THREAD)))
    slices = [items[start:start + size] for start in range(0, len(items), size)]
    with ThreadPoolExecutor(max_workers=min(threads, len(items))) as pool:
        done = pool.map(lambda part: [function(item) for item in part], slices)
        return [result for part in done for result in part]
