"""PoolScheduler with --keep-going: a node failing on one platform stops its descendants on every platform."""

from __future__ import annotations

import threading

import networkx as nx

from engine.build.poolscheduler import PoolScheduler, Unit
from engine.build.scheduler import FAILED, SKIPPED, SUCCEEDED, Outcome
from tests.engine.build.poolwork import BOTH, POOL, Boom, Work, chain


class NotingFailures(PoolScheduler):
    """Sets `failed` once the scheduler has taken a failure in."""

    failed = threading.Event()

    def _fail(self, units: nx.DiGraph, failed: Unit, error: BaseException,
              results: dict[Unit, Outcome]) -> None:
        super()._fail(units, failed, error, results)
        self.failed.set()


def test_keep_going_builds_no_platform_of_a_node_whose_parent_failed_on_another_platform() -> None:
    scheduler = NotingFailures(chain(("base", "mid"), ("mid", "leaf"), nodes=("other",)), POOL,
                               lambda _: BOTH, keep_going=True)
    scheduler.failed = threading.Event()

    def fails(_: str) -> None:
        raise Boom("RUN make failed")

    def slow(_: str) -> None:  # base's arm64 image is pushed only after its amd64 build failed
        assert scheduler.failed.wait(10)

    work = Work({Unit("base", "linux/amd64"): fails, Unit("base", "linux/arm64"): slow})
    outcomes = scheduler.run(["base", "mid", "leaf", "other"], work.build, work.merge)
    assert outcomes["base"].status == FAILED and "RUN make failed" in outcomes["base"].reason
    for name in ("mid", "leaf"):
        assert (outcomes[name].status, outcomes[name].reason) == (SKIPPED, "parent failed: base")
        assert not [unit for _, unit, _ in work.events if unit.node == name]
    assert outcomes["other"].status == SUCCEEDED and work.merged["other"] == 1
