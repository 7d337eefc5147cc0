"""PoolScheduler: (node, platform) builds over the builders of a pool, then one merge per node."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import networkx as nx

from engine.build.pool import Pool, parse_pool
from engine.build.poolscheduler import UNIT_ATTEMPTS, BuilderLost, PoolScheduler, Unit, unit_graph
from engine.build.scheduler import FAILED, NOT_STARTED, SKIPPED, SUCCEEDED, Outcome
from tests.engine.build.poolwork import BOTH, POOL, Boom, Work, chain


def run(graph: nx.DiGraph, work: Work, pool: Pool = POOL, keep_going: bool = False,
        platforms: Callable[[str], tuple[str, ...]] = lambda _: BOTH) -> dict[str, Outcome]:
    scheduler = PoolScheduler(graph, pool, platforms, keep_going)
    work.lost = scheduler.lost
    return scheduler.run(list(graph.nodes), work.build, work.merge)


def test_units_wait_for_the_parent_of_their_own_platform_and_the_merge_for_all() -> None:
    graph = unit_graph(chain(("base", "mid"), ("mid", "leaf")), {"base", "leaf"}, lambda _: BOTH)
    assert set(graph.predecessors(Unit("leaf", "linux/arm64"))) == {Unit("base", "linux/arm64")}
    assert set(graph.predecessors(Unit("leaf"))) == {Unit("base"), Unit("leaf", "linux/amd64"),
                                                     Unit("leaf", "linux/arm64")}


def scanned_by_gen(name: str) -> tuple[str, ...]:
    return ("gen",) if name == "app" else ()


def test_every_build_of_a_node_waits_for_the_merge_of_its_selected_sbom_generator() -> None:
    graph = chain(("gen", "app"))
    units = unit_graph(graph, {"gen", "app"}, lambda _: BOTH, scanned_by_gen)
    for platform in BOTH:
        assert set(units.predecessors(Unit("app", platform))) == {Unit("gen", platform), Unit("gen")}
    alone = unit_graph(graph, {"app"}, lambda _: BOTH, scanned_by_gen)  # gen not built: nothing to wait for
    assert set(alone.predecessors(Unit("app", "linux/amd64"))) == set()
    work = Work()
    outcomes = PoolScheduler(graph, POOL, lambda _: BOTH, merged_first=scanned_by_gen).run(
        list(graph.nodes), work.build, work.merge)
    assert {o.status for o in outcomes.values()} == {SUCCEEDED}
    for platform in BOTH:
        assert work.index("merge", Unit("gen")) < work.index("start", Unit("app", platform))


def test_every_platform_is_built_on_its_builder_and_each_node_merged_once_after_them() -> None:
    work = Work()
    outcomes = run(chain(("base", "mid"), ("base", "side"), nodes=("other",)), work)
    assert {name: o.status for name, o in outcomes.items()} == dict.fromkeys(
        ("base", "mid", "side", "other"), SUCCEEDED)
    assert work.merged == Counter({"base": 1, "mid": 1, "side": 1, "other": 1})
    for node in ("base", "mid", "side", "other"):
        assert work.builders_of(Unit(node, "linux/amd64")) == ["amd"]
        assert work.builders_of(Unit(node, "linux/arm64")) == ["arm"]
        for platform in BOTH:
            assert work.index("end", Unit(node, platform)) < work.index("merge", Unit(node))
    for platform in BOTH:
        assert work.index("end", Unit("base", platform)) < work.index("start", Unit("mid", platform))


def test_a_childs_platform_starts_while_its_parent_still_builds_another_platform() -> None:
    child_started = threading.Event()
    hooks = {Unit("base", "linux/amd64"): lambda _: _wait(child_started),
             Unit("mid", "linux/arm64"): lambda _: child_started.set()}
    work = Work(hooks)
    outcomes = run(chain(("base", "mid")), work)
    assert outcomes["mid"].status == SUCCEEDED
    assert work.index("start", Unit("mid", "linux/arm64")) < work.index("end", Unit("base", "linux/amd64"))


def _wait(event: threading.Event) -> None:
    if not event.wait(timeout=10):
        raise Boom("the child's arm64 build did not start while the parent's amd64 build ran")


def test_capacity_is_kept_per_builder_and_the_load_spread_over_the_platforms_builders() -> None:
    pool = parse_pool({"linux/amd64": [{"name": "a", "capacity": 1}, {"name": "b", "capacity": 2}]}, "t")
    wave = threading.Barrier(3, timeout=10)  # the first three builds overlap, or they fail
    first = {Unit(n, "linux/amd64") for n in ("n0", "n1", "n2")}
    hooks = dict.fromkeys(first, lambda _: wave.wait())
    work = Work({**hooks})
    nodes = tuple(f"n{i}" for i in range(7))
    outcomes = run(chain(nodes=nodes), work, pool, platforms=lambda _: ("linux/amd64",))
    assert all(o.status == SUCCEEDED for o in outcomes.values())
    assert work.max_active == Counter({"a": 1, "b": 2})
    assert {b for k, _, b in work.events if k == "start"} == {"a", "b"}


def test_the_longest_remaining_path_goes_first_on_each_builder() -> None:
    graph = chain(("long1", "long2"), ("long2", "long3"), nodes=("short",))
    work = Work()
    run(graph, work, platforms=lambda _: ("linux/amd64",))
    starts = [u.node for k, u, _ in work.events if k == "start"]
    assert starts[0] == "long1"


def test_a_lost_builders_builds_move_to_another_builder_of_the_platform_and_nothing_merges_twice() -> None:
    pool = parse_pool({"linux/amd64": ["amd"], "linux/arm64": ["arm-1", "arm-2"]}, "t")

    def dies_on_arm_1(builder: str) -> None:
        if builder == "arm-1":
            raise BuilderLost("arm-1", "x", "linux/arm64", "connection refused")

    graph = chain(("base", "mid"), ("mid", "leaf"), nodes=("other",))
    hooks = {Unit(n, "linux/arm64"): dies_on_arm_1 for n in graph.nodes}
    work = Work(hooks)
    outcomes = run(graph, work, pool)
    assert all(o.status == SUCCEEDED for o in outcomes.values())
    assert work.merged == Counter(dict.fromkeys(graph.nodes, 1))
    arm_1 = [u for k, u, b in work.events if k == "start" and b == "arm-1"]
    assert arm_1 and len(arm_1) <= 2  # the builds running when it died, then never again
    for node in graph.nodes:
        assert work.builders_of(Unit(node, "linux/arm64"))[-1] == "arm-2"
    assert work.lost == {"arm-1"}


def test_without_a_remaining_builder_the_node_fails_naming_the_platform_and_is_not_merged() -> None:
    def dies(builder: str) -> None:
        raise BuilderLost(builder, "base", "linux/arm64", "connection refused")

    work = Work({Unit("base", "linux/arm64"): dies})
    outcomes = run(chain(("base", "mid"), nodes=("other",)), work, keep_going=True,
                   platforms=lambda n: ("linux/amd64",) if n == "other" else BOTH)
    assert outcomes["base"].status == FAILED
    assert "builder arm for linux/arm64 stopped answering" in outcomes["base"].reason
    assert outcomes["mid"].status == SKIPPED
    assert outcomes["other"].status == SUCCEEDED
    assert work.merged == Counter({"other": 1})


def test_a_failing_platform_build_is_not_retried_and_its_node_is_never_merged() -> None:
    def broken(_: str) -> None:
        raise Boom("RUN make failed")

    work = Work({Unit("base", "linux/arm64"): broken})
    outcomes = run(chain(("base", "mid")), work)
    assert outcomes["base"].status == FAILED
    assert "RUN make failed" in outcomes["base"].reason
    assert outcomes["mid"].status in (SKIPPED, "not_started")
    assert work.builders_of(Unit("base", "linux/arm64")) == ["arm"]
    assert not work.merged["base"] and not work.merged["mid"]


def test_without_keep_going_a_failure_starts_nothing_more_and_says_which_node_failed() -> None:
    def broken(_: str) -> None:
        raise Boom("RUN make failed")

    work = Work({Unit("base", "linux/amd64"): broken})  # base (the longer path) takes the one builder first
    outcomes = run(chain(("base", "mid"), nodes=("other",)), work, platforms=lambda _: ("linux/amd64",))
    assert outcomes["base"].status == FAILED
    assert outcomes["mid"].status == SKIPPED
    assert outcomes["other"] == Outcome("other", NOT_STARTED, "stopped after base failed")
    assert work.builders_of(Unit("other", "linux/amd64")) == [] and not work.merged

def test_a_builder_serving_two_platforms_keeps_one_capacity_over_both() -> None:
    pool = parse_pool({"linux/amd64": ["solo", "amd"], "linux/arm64": ["solo"]}, "t")
    work = Work()
    nodes = tuple(f"n{i}" for i in range(4))
    outcomes = run(chain(nodes=nodes), work, pool)
    assert all(o.status == SUCCEEDED for o in outcomes.values())
    assert work.max_active["solo"] == 1
    assert {b for k, u, b in work.events if k == "start" and u.platform == "linux/arm64"} == {"solo"}


def test_an_interrupt_starts_nothing_more_and_says_so() -> None:
    stop = threading.Event()
    work = Work({Unit("base", "linux/amd64"): lambda _: stop.set()})
    scheduler = PoolScheduler(chain(("base", "mid")), POOL, lambda _: ("linux/amd64",), stop=stop)
    outcomes = scheduler.run(["base", "mid"], work.build, work.merge)
    assert outcomes["mid"].status == NOT_STARTED and outcomes["mid"].reason == "interrupted"
    assert not work.merged


def test_parents_outside_the_selection_are_neither_built_nor_merged() -> None:
    work = Work()
    outcomes = PoolScheduler(chain(("base", "mid"), ("mid", "leaf")), POOL, lambda _: BOTH).run(
        ["mid", "leaf"], work.build, work.merge)
    assert outcomes == {"mid": Outcome("mid", SUCCEEDED), "leaf": Outcome("leaf", SUCCEEDED)}
    assert work.merged == Counter({"mid": 1, "leaf": 1})
    assert {unit.node for _, unit, _ in work.events} == {"mid", "leaf"}


def test_a_node_whose_platform_lost_every_builder_while_it_waited_fails_naming_the_platform() -> None:
    def dies(builder: str) -> None:
        raise BuilderLost(builder, "a", "linux/arm64", "connection refused")

    work = Work({Unit("a", "linux/arm64"): dies})  # a takes the one arm builder first; b waits for it
    outcomes = run(chain(nodes=("a", "b")), work, keep_going=True, platforms=lambda _: ("linux/arm64",))
    assert outcomes["a"].status == FAILED
    assert outcomes["b"].status == FAILED
    assert outcomes["b"].reason.startswith("node b: no builder of the pool is left for linux/arm64")
    assert work.builders_of(Unit("b", "linux/arm64")) == [] and not work.merged


def test_the_longest_remaining_path_starts_first_among_roots_listed_after_it() -> None:
    graph = nx.DiGraph()
    graph.add_nodes_from(["a", "b", "c", "d"])  # lone roots first in the graph: first in the units too
    graph.add_edges_from([("long", "long2"), ("long2", "long3")])
    work = Work()
    run(graph, work, platforms=lambda _: ("linux/amd64",))
    assert next(u.node for k, u, _ in work.events if k == "start") == "long"


def test_a_build_moves_to_at_most_three_builders_then_its_node_fails() -> None:
    pool = parse_pool({"linux/amd64": [f"amd-{i}" for i in range(1, 5)]}, "t")

    def dies(builder: str) -> None:
        raise BuilderLost(builder, "base", "linux/amd64", "connection refused")

    work = Work({Unit("base", "linux/amd64"): dies})
    outcomes = run(chain(nodes=("base",)), work, pool, platforms=lambda _: ("linux/amd64",))
    assert outcomes["base"].status == FAILED
    assert len(work.builders_of(Unit("base", "linux/amd64"))) == UNIT_ATTEMPTS == 3
    assert len(work.lost) == 3  # the fourth builder is left, and was never tried


class WatchedPoolScheduler(PoolScheduler):
    """A PoolScheduler that says when it has taken in a failure (to order a test's fake work)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failure_seen = threading.Event()

    def _fail(self, units: nx.DiGraph, failed: Unit, error: BaseException,
              results: dict[Unit, Outcome]) -> None:
        super()._fail(units, failed, error, results)
        self.failure_seen.set()


def test_a_platform_build_skipped_while_it_waited_for_its_builder_never_starts() -> None:
    weights = {"a": 10.0, "b": 1.0, "x": 5.0}  # on arm: a's build, then x's, then b's
    scheduler = WatchedPoolScheduler(chain(("a", "b"), nodes=("x",)), POOL,
                                     lambda n: ("linux/arm64",) if n == "x" else BOTH, keep_going=True,
                                     weight=weights.__getitem__)
    x_started = threading.Event()

    def a_fails_once_x_runs(_: str) -> None:  # b's arm64 build is ready by then, waiting for x's builder
        assert x_started.wait(10)
        raise Boom("RUN make failed")

    def x_holds_arm_until_the_failure_is_taken_in(_: str) -> None:
        x_started.set()
        assert scheduler.failure_seen.wait(10)

    work = Work({Unit("a", "linux/amd64"): a_fails_once_x_runs,
                 Unit("x", "linux/arm64"): x_holds_arm_until_the_failure_is_taken_in})
    outcomes = scheduler.run(["a", "b", "x"], work.build, work.merge)
    assert outcomes["a"].status == FAILED
    assert outcomes["b"] == Outcome("b", SKIPPED, "parent failed: a")
    assert outcomes["x"].status == SUCCEEDED
    assert work.builders_of(Unit("b", "linux/arm64")) == []
