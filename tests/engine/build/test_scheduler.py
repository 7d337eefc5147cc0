"""Scheduler: dependency order, the jobs limit, priorities and what a failure does."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable

import networkx as nx
import pytest

from engine.build.scheduler import (
    FAILED,
    NOT_STARTED,
    SKIPPED,
    SUCCEEDED,
    Outcome,
    Scheduler,
    remaining_path,
)


class Boom(Exception):
    """The failure a fake work function raises."""


class Recorder:
    """A fake work function: records starts, ends and concurrency; fails the nodes it is told to.

    No sleeps: where a test needs nodes to overlap, a hook makes them wait for each other (a barrier).
    """

    def __init__(self, fail: Iterable[str] = (), hooks: dict[str, Callable[[], None]] | None = None,
                 first_wave: threading.Barrier | None = None) -> None:
        self.fail, self.hooks, self.first_wave = set(fail), hooks or {}, first_wave
        self.lock = threading.Lock()
        self.events: list[tuple[str, str]] = []
        self.active = 0
        self.max_active = 0

    def __call__(self, node: str) -> str:
        with self.lock:
            self.events.append(("start", node))
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            in_first_wave = self.first_wave is not None and len(self.started) <= self.first_wave.parties
        try:
            if in_first_wave and self.first_wave is not None:
                self.first_wave.wait()  # raises BrokenBarrierError (the node fails) unless all overlap
            if node in self.hooks:
                self.hooks[node]()
            if node in self.fail:
                raise Boom(f"{node} broke")
            return node
        finally:
            with self.lock:
                self.active -= 1
                self.events.append(("end", node))

    @property
    def started(self) -> list[str]:
        return [node for kind, node in self.events if kind == "start"]

    def index(self, kind: str, node: str) -> int:
        return self.events.index((kind, node))


def wide_graph() -> nx.DiGraph:
    """Two diamonds, a chain and some lone nodes: 14 nodes."""
    graph = nx.DiGraph([
        ("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("d", "e"),
        ("p", "q"), ("p", "r"), ("q", "s"), ("r", "s"),
        ("x", "y"), ("y", "z"),
    ])
    graph.add_nodes_from(["l1", "l2", "l3"])
    return graph


def statuses(outcomes: dict[str, Outcome], status: str) -> set[str]:
    return {node for node, outcome in outcomes.items() if outcome.status == status}


# --- construction and remaining_path -------------------------------------------------------------


@pytest.mark.parametrize("jobs", [0, -1, -10])
def test_jobs_below_one_is_refused(jobs: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Scheduler(nx.DiGraph([("a", "b")]), jobs=jobs)


def test_remaining_path_counts_nodes_to_the_deepest_leaf() -> None:
    graph = nx.DiGraph([("a", "b"), ("a", "c"), ("c", "d"), ("d", "e")])
    graph.add_node("lone")
    assert remaining_path(graph, lambda _: 1.0) == {
        "a": 4.0, "b": 1.0, "c": 3.0, "d": 2.0, "e": 1.0, "lone": 1.0,
    }


def test_remaining_path_uses_weights_and_the_heaviest_branch() -> None:
    graph = nx.DiGraph([("a", "b"), ("a", "c"), ("c", "d")])
    weights = {"a": 1.0, "b": 10.0, "c": 2.0, "d": 3.0}
    assert remaining_path(graph, weights.__getitem__) == {
        "a": 11.0, "b": 10.0, "c": 5.0, "d": 3.0,
    }


def test_remaining_path_of_a_diamond_takes_the_max_not_the_sum() -> None:
    graph = nx.DiGraph([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")])
    assert remaining_path(graph, lambda _: 1.0)["a"] == 3.0


def test_scheduler_priority_is_remaining_path() -> None:
    graph = nx.DiGraph([("a", "b"), ("b", "c")])
    assert Scheduler(graph).priority == {"a": 3.0, "b": 2.0, "c": 1.0}


# --- success path -------------------------------------------------------------------------------


def test_empty_selection_does_nothing() -> None:
    work = Recorder()
    assert Scheduler(nx.DiGraph([("a", "b")])).run([], work) == {}
    assert work.events == []


def test_chain_runs_in_order_and_every_node_once() -> None:
    work = Recorder()
    outcomes = Scheduler(nx.DiGraph([("a", "b"), ("b", "c")]), jobs=3).run(["a", "b", "c"], work)
    assert work.started == ["a", "b", "c"]
    assert outcomes == {n: Outcome(n, SUCCEEDED) for n in "abc"}


@pytest.mark.parametrize("jobs", [1, 2, 3, 5])
def test_concurrency_reaches_but_never_exceeds_jobs(jobs: int) -> None:
    graph = wide_graph()  # six roots: enough to fill five slots at once
    work = Recorder(first_wave=threading.Barrier(jobs, timeout=10))  # the first `jobs` nodes meet
    outcomes = Scheduler(graph, jobs=jobs).run(graph.nodes, work)
    assert statuses(outcomes, SUCCEEDED) == set(graph.nodes)
    assert work.max_active == jobs
    assert sorted(work.started) == sorted(graph.nodes)


def test_independent_nodes_do_run_in_parallel() -> None:
    graph = nx.DiGraph()
    graph.add_nodes_from(["a", "b", "c", "d"])
    work = Recorder(first_wave=threading.Barrier(4, timeout=10))  # passes only if all four overlap
    outcomes = Scheduler(graph, jobs=4).run(graph.nodes, work)
    assert statuses(outcomes, SUCCEEDED) == {"a", "b", "c", "d"}
    assert work.max_active == 4


@pytest.mark.parametrize("jobs", [1, 2, 4])
def test_every_node_starts_only_after_all_its_parents_finished(jobs: int) -> None:
    graph = wide_graph()
    work = Recorder()
    outcomes = Scheduler(graph, jobs=jobs).run(graph.nodes, work)
    assert all(outcome.status == SUCCEEDED for outcome in outcomes.values())
    for node in graph.nodes:
        for parent in graph.predecessors(node):
            assert work.index("end", parent) < work.index("start", node), (parent, node)


def test_parents_outside_the_selection_count_as_done() -> None:
    graph = nx.DiGraph([("a", "b"), ("b", "c"), ("c", "d")])
    work = Recorder()
    outcomes = Scheduler(graph, jobs=2).run(["c", "d"], work)
    assert work.started == ["c", "d"]
    assert set(outcomes) == {"c", "d"}
    assert statuses(outcomes, SUCCEEDED) == {"c", "d"}


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_selected_node_waits_for_a_selected_ancestor_across_an_unselected_gap(jobs: int) -> None:
    graph = nx.DiGraph([("a", "b"), ("b", "c")])
    work = Recorder(fail=["a"])
    outcomes = Scheduler(graph, jobs=jobs, keep_going=True).run(["a", "c"], work)
    assert work.started == ["a"]
    assert outcomes["c"] == Outcome("c", SKIPPED, "parent failed: a")


def test_work_return_value_is_ignored_and_outcome_has_no_error() -> None:
    outcomes = Scheduler(nx.DiGraph([("a", "b")])).run(["a", "b"], lambda node: 42)
    assert outcomes["a"] == Outcome("a", SUCCEEDED, "", None)


# --- priority -----------------------------------------------------------------------------------


def test_jobs_1_starts_the_longest_remaining_path_first() -> None:
    # b -> c -> d is the longest chain (3), then z -> y (2), then a alone (1).
    graph = nx.DiGraph([("b", "c"), ("c", "d"), ("z", "y")])
    graph.add_node("a")
    work = Recorder()
    Scheduler(graph, jobs=1).run(graph.nodes, work)
    # ties on remaining path are broken by name: c (2) before z (2); then a, d, y (all 1)
    assert work.started == ["b", "c", "z", "a", "d", "y"]


def test_priority_beats_alphabetical_order() -> None:
    graph = nx.DiGraph([("zz", "zz-child"), ("zz-child", "zz-grandchild")])
    graph.add_nodes_from(["aa", "ab"])
    work = Recorder()
    Scheduler(graph, jobs=1).run(graph.nodes, work)
    assert work.started[0] == "zz"


def test_weight_changes_the_priority() -> None:
    graph = nx.DiGraph([("b", "c")])
    graph.add_node("a")
    weights = {"a": 10.0, "b": 1.0, "c": 1.0}
    work = Recorder()
    Scheduler(graph, jobs=1, weight=weights.__getitem__).run(graph.nodes, work)
    assert work.started == ["a", "b", "c"]


# --- failures: keep going -----------------------------------------------------------------------


@pytest.mark.parametrize("jobs", [1, 2, 4])
@pytest.mark.parametrize("failing", ["a", "b", "d", "e", "p", "x", "z", "l2"])
def test_keep_going_skips_exactly_the_descendants_of_the_failed_node(jobs: int,
                                                                     failing: str) -> None:
    graph = wide_graph()
    work = Recorder(fail=[failing])
    outcomes = Scheduler(graph, jobs=jobs, keep_going=True).run(graph.nodes, work)
    descendants = nx.descendants(graph, failing)

    assert set(outcomes) == set(graph.nodes)
    assert statuses(outcomes, FAILED) == {failing}
    assert statuses(outcomes, SKIPPED) == descendants
    assert statuses(outcomes, NOT_STARTED) == set()
    assert len(statuses(outcomes, SUCCEEDED)) == graph.number_of_nodes() - 1 - len(descendants)
    for node in descendants:
        assert outcomes[node].reason == f"parent failed: {failing}"
        assert outcomes[node].error is None
    # skipped nodes never ran; every other node ran exactly once
    assert sorted(work.started) == sorted(set(graph.nodes) - descendants)


def test_failed_outcome_carries_the_exception_and_its_message() -> None:
    work = Recorder(fail=["a"])
    outcomes = Scheduler(nx.DiGraph([("a", "b")]), keep_going=True).run(["a", "b"], work)
    assert outcomes["a"].status == FAILED
    assert isinstance(outcomes["a"].error, Boom)
    assert outcomes["a"].reason == "a broke"
    assert outcomes["b"] == Outcome("b", SKIPPED, "parent failed: a")


def test_keep_going_with_two_failures_in_one_lineage_keeps_the_first_reason() -> None:
    graph = nx.DiGraph([("a", "b"), ("b", "c"), ("x", "c")])
    work = Recorder(fail=["a", "x"])
    outcomes = Scheduler(graph, jobs=1, keep_going=True).run(graph.nodes, work)
    assert statuses(outcomes, FAILED) == {"a", "x"}
    assert statuses(outcomes, SKIPPED) == {"b", "c"}
    assert outcomes["b"].reason == "parent failed: a"
    assert outcomes["c"].reason in ("parent failed: a", "parent failed: x")


# --- failures: fail fast ------------------------------------------------------------------------


class WatchedScheduler(Scheduler):
    """A Scheduler that says when it has taken in a failure (to order a test's fake work, not to time it)."""

    def __init__(self, graph: nx.DiGraph, jobs: int, keep_going: bool) -> None:
        super().__init__(graph, jobs=jobs, keep_going=keep_going)
        self.failure_seen = threading.Event()

    def _skip_descendants(self, failed: str, todo: set[str], outcomes: dict[str, Outcome]) -> None:
        super()._skip_descendants(failed, todo, outcomes)
        self.failure_seen.set()


def test_fail_fast_starts_nothing_new_but_lets_running_nodes_finish() -> None:
    graph = nx.DiGraph([("long", "long-child"), ("long-child", "long-grandchild"),
                        ("fail", "fail-child")])
    graph.add_nodes_from(["later1", "later2"])
    scheduler = WatchedScheduler(graph, jobs=2, keep_going=False)

    def long_wait() -> None:  # still running when the scheduler takes in the failure of "fail"
        assert scheduler.failure_seen.wait(10)

    work = Recorder(fail=["fail"], hooks={"long": long_wait})
    outcomes = scheduler.run(graph.nodes, work)

    assert sorted(work.started) == ["fail", "long"]
    assert outcomes["fail"].status == FAILED
    assert outcomes["long"].status == SUCCEEDED  # was running: allowed to finish
    assert outcomes["fail-child"] == Outcome("fail-child", SKIPPED, "parent failed: fail")
    for node in ("long-child", "long-grandchild", "later1", "later2"):
        assert outcomes[node] == Outcome(node, NOT_STARTED, "stopped after fail failed")
    assert set(outcomes) == set(graph.nodes)


def test_fail_fast_with_jobs_1_stops_right_after_the_failure() -> None:
    graph = nx.DiGraph([("a", "b"), ("b", "c")])
    graph.add_nodes_from(["x", "y"])
    work = Recorder(fail=["a"])
    outcomes = Scheduler(graph, jobs=1).run(graph.nodes, work)  # keep_going defaults to False
    assert work.started == ["a"]
    assert statuses(outcomes, SKIPPED) == {"b", "c"}
    assert statuses(outcomes, NOT_STARTED) == {"x", "y"}
    assert outcomes["x"].reason == "stopped after a failed"


def test_fail_fast_without_failure_builds_everything() -> None:
    graph = wide_graph()
    outcomes = Scheduler(graph, jobs=3, keep_going=False).run(graph.nodes, Recorder())
    assert statuses(outcomes, SUCCEEDED) == set(graph.nodes)


# --- early release -------------------------------------------------------------------------------


def test_a_released_node_lets_its_children_start_before_it_ends_and_releases_them_once() -> None:
    graph = nx.DiGraph([("a", "b"), ("b", "c"), ("a", "d")])
    scheduler = Scheduler(graph, jobs=3)
    b_started, d_started = threading.Event(), threading.Event()

    def a_releases_then_waits() -> None:
        scheduler.release("a")
        scheduler.release("a")  # a second release of the same node changes nothing
        assert b_started.wait(10) and d_started.wait(10)

    work = Recorder(hooks={"a": a_releases_then_waits, "b": b_started.set, "d": d_started.set})
    outcomes = scheduler.run(graph.nodes, work)

    assert work.index("start", "b") < work.index("end", "a")
    assert work.index("start", "d") < work.index("end", "a")
    assert work.index("end", "b") < work.index("start", "c")  # b did not release: c waited for its end
    assert sorted(work.started) == ["a", "b", "c", "d"]  # each once
    assert outcomes == {n: Outcome(n, SUCCEEDED) for n in "abcd"}


def test_a_released_node_that_fails_after_all_skips_its_running_children() -> None:
    graph = nx.DiGraph([("a", "b"), ("b", "c")])
    graph.add_node("x")
    scheduler = WatchedScheduler(graph, jobs=3, keep_going=True)
    b_started = threading.Event()

    def a_releases_then_fails() -> None:
        scheduler.release("a")
        assert b_started.wait(10)

    def b_ends_after_the_failure_is_taken_in() -> None:  # as engine.run.early makes a child wait
        b_started.set()
        assert scheduler.failure_seen.wait(10)

    work = Recorder(fail=["a"], hooks={"a": a_releases_then_fails, "b": b_ends_after_the_failure_is_taken_in})
    outcomes = scheduler.run(graph.nodes, work)

    assert outcomes["a"].status == FAILED
    assert work.started.count("b") == 1  # released: b ran, and started while a still ran
    assert work.index("start", "b") < work.index("end", "a")
    assert outcomes["b"] == Outcome("b", SKIPPED, "parent failed: a")  # it ran and succeeded: still skipped
    assert outcomes["c"] == Outcome("c", SKIPPED, "parent failed: a")
    assert outcomes["x"].status == SUCCEEDED
    assert "c" not in work.started


class NotingQueue(queue.SimpleQueue):  # type: ignore[type-arg]
    """The scheduler's queue of ends, setting reported[node] once node's end is in it."""

    def __init__(self, nodes: Iterable[str]) -> None:
        self.reported = {node: threading.Event() for node in nodes}

    def put(self, item: tuple[str, object], block: bool = True, timeout: float | None = None) -> None:
        super().put(item, block, timeout)
        if item[1] is not None:
            self.reported[item[0]].set()


class ReportedScheduler(Scheduler):
    """A Scheduler that says when a node's end has been handed to its loop (to order a test's fake work)."""

    def __init__(self, graph: nx.DiGraph, jobs: int, keep_going: bool) -> None:
        super().__init__(graph, jobs=jobs, keep_going=keep_going)
        self._done = NotingQueue(graph.nodes)
        self.reported = self._done.reported


@pytest.mark.parametrize("keep_going", [False, True])
def test_a_released_child_that_fails_before_its_failing_parent_ends_is_skipped_not_failed(
        keep_going: bool) -> None:
    graph = nx.DiGraph([("a", "b"), ("b", "c"), ("x", "y")])
    scheduler = ReportedScheduler(graph, jobs=3, keep_going=keep_going)

    def a_releases_then_fails_after_b_ended() -> None:
        scheduler.release("a")
        assert scheduler.reported["b"].wait(10)  # b's end (its ParentFailed) reaches the loop before a's

    def x_ends_after_a() -> None:  # y becomes ready only once a's failure is in the loop's queue
        assert scheduler.reported["a"].wait(10)

    work = Recorder(fail=["a", "b"], hooks={"a": a_releases_then_fails_after_b_ended, "x": x_ends_after_a})
    outcomes = scheduler.run(graph.nodes, work)

    assert work.index("start", "b") < work.index("end", "a")
    assert outcomes["a"].status == FAILED
    assert outcomes["b"] == Outcome("b", SKIPPED, "parent failed: a")
    assert outcomes["c"] == Outcome("c", SKIPPED, "parent failed: a")
    if keep_going:
        assert outcomes["y"].status == SUCCEEDED
    else:
        assert outcomes["y"] == Outcome("y", NOT_STARTED, "stopped after a failed")


def test_a_released_child_that_succeeds_before_its_parent_fails_is_still_skipped() -> None:
    graph = nx.DiGraph([("a", "b"), ("b", "c")])
    scheduler = ReportedScheduler(graph, jobs=2, keep_going=True)

    def a_releases_then_fails_after_b_ended() -> None:
        scheduler.release("a")
        assert scheduler.reported["b"].wait(10)

    work = Recorder(fail=["a"], hooks={"a": a_releases_then_fails_after_b_ended})
    outcomes = scheduler.run(graph.nodes, work)

    assert work.index("end", "b") < work.index("end", "a")
    assert outcomes["b"] == Outcome("b", SKIPPED, "parent failed: a")
    assert outcomes["c"] == Outcome("c", SKIPPED, "parent failed: a")
    assert "c" not in work.started  # b's end was held back with a still running: c never became ready


def test_a_released_child_that_ends_first_is_taken_in_once_its_parent_succeeded() -> None:
    graph = nx.DiGraph([("a", "b"), ("b", "c")])
    scheduler = ReportedScheduler(graph, jobs=2, keep_going=False)

    def a_releases_then_ends_after_b() -> None:
        scheduler.release("a")
        assert scheduler.reported["b"].wait(10)

    work = Recorder(hooks={"a": a_releases_then_ends_after_b})
    outcomes = scheduler.run(graph.nodes, work)

    assert outcomes == {n: Outcome(n, SUCCEEDED) for n in "abc"}
    assert work.index("end", "a") < work.index("start", "c")


# --- interrupt -----------------------------------------------------------------------------------


def test_an_interrupt_starts_nothing_more_lets_the_running_node_end_and_says_so() -> None:
    graph = nx.DiGraph([("a", "b")])
    graph.add_node("x")
    stop = threading.Event()
    work = Recorder(hooks={"a": stop.set})  # Ctrl-C arrives while a builds
    outcomes = Scheduler(graph, jobs=1, keep_going=True, stop=stop).run(graph.nodes, work)
    assert work.started == ["a"]
    assert outcomes["a"] == Outcome("a", SUCCEEDED)
    assert outcomes["b"] == Outcome("b", NOT_STARTED, "interrupted")
    assert outcomes["x"] == Outcome("x", NOT_STARTED, "interrupted")


class DrowsyQueue(queue.SimpleQueue):  # type: ignore[type-arg]
    """The scheduler's queue of ends, finding nothing at every other look (as when its wait times out)."""

    def __init__(self) -> None:
        self.looks = 0

    def get(self, block: bool = True, timeout: float | None = None) -> tuple[str, object]:
        self.looks += 1
        if self.looks % 2:
            raise queue.Empty
        return super().get(block, timeout)  # type: ignore[no-any-return]


def test_a_wait_that_times_out_with_nothing_ended_goes_on_waiting() -> None:
    graph = nx.DiGraph([("a", "b")])
    scheduler = Scheduler(graph, jobs=1)
    scheduler._done = DrowsyQueue()
    work = Recorder()
    outcomes = scheduler.run(graph.nodes, work)
    assert outcomes == {n: Outcome(n, SUCCEEDED) for n in "ab"}
    assert work.started == ["a", "b"]


def test_a_released_child_failing_on_its_own_before_its_parent_succeeds_stops_a_fail_fast_run() -> None:
    graph = nx.DiGraph([("a", "b"), ("b", "c"), ("x", "y")])
    scheduler = ReportedScheduler(graph, jobs=3, keep_going=False)

    def a_releases_then_succeeds_after_b_ended() -> None:
        scheduler.release("a")
        assert scheduler.reported["b"].wait(10)  # b's end is held back until a's is taken in

    def x_ends_after_a() -> None:  # y would become ready only after b's failure was taken in
        assert scheduler.reported["a"].wait(10)

    work = Recorder(fail=["b"], hooks={"a": a_releases_then_succeeds_after_b_ended, "x": x_ends_after_a})
    outcomes = scheduler.run(graph.nodes, work)

    assert outcomes["a"] == Outcome("a", SUCCEEDED)
    assert outcomes["b"].status == FAILED
    assert outcomes["c"] == Outcome("c", SKIPPED, "parent failed: b")
    assert outcomes["x"] == Outcome("x", SUCCEEDED)
    assert outcomes["y"] == Outcome("y", NOT_STARTED, "stopped after b failed")
    assert "y" not in work.started


def test_a_child_released_while_the_slots_are_full_never_starts_once_its_parent_failed() -> None:
    graph = nx.DiGraph([("a", "b")])
    graph.add_node("x")
    scheduler = Scheduler(graph, jobs=1, keep_going=True)

    def a_releases_then_fails() -> None:  # b is ready now, but a holds the only slot
        scheduler.release("a")

    work = Recorder(fail=["a"], hooks={"a": a_releases_then_fails})
    outcomes = scheduler.run(graph.nodes, work)

    assert outcomes["b"] == Outcome("b", SKIPPED, "parent failed: a")
    assert work.started == ["a", "x"]  # b, skipped while it waited for a slot, never ran
