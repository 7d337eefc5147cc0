"""side_by_side: independent lookups in threads, results in order."""

from __future__ import annotations

import threading

import pytest

from engine.parallel import LOOKUP_THREADS, side_by_side


def test_side_by_side_keeps_the_order_and_runs_lookup_threads_at_once() -> None:
    barrier = threading.Barrier(LOOKUP_THREADS, timeout=10)  # breaks unless that many run together
    size = 16  # 1024 items in LOOKUP_THREADS * SLICES_PER_THREAD = 64 slices
    threads: set[str] = set()

    def look(item: int) -> int:
        if item < LOOKUP_THREADS * size and item % size == 0:  # the first item of each of the first slices
            barrier.wait()
        threads.add(threading.current_thread().name)
        return item * 2

    items = list(range(1024))
    assert side_by_side(look, items) == [item * 2 for item in items]
    assert len(threads) == LOOKUP_THREADS
    assert side_by_side(look, []) == []


def test_side_by_side_raises_the_first_error() -> None:
    def look(item: int) -> int:
        if item == 3:
            raise ValueError("three")
        return item

    with pytest.raises(ValueError, match="three"):
        side_by_side(look, list(range(10)), threads=2)
