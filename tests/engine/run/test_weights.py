"""Which node a run starts first: the longest path, each node weighing its mean build time in the history
(a node never built weighs DEFAULT_DURATION_S)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from engine.build.builder import BuildResult, PushGate
from engine.build.request import BuildRequest
from engine.run import api
from engine.run.outcomes import DEFAULT_DURATION_S
from engine.run.settings import BuildSettings
from tests.engine.engine_fakes import FakeBuilder, FakeRegistry
from tests.engine.run.builds import options_of, run_build


class Timed(FakeBuilder):
    """Reports `other` as built in duration_s."""

    def __init__(self, registry: FakeRegistry, duration_s: float) -> None:
        super().__init__(registry)
        self.duration_s = duration_s

    def build(self, request: BuildRequest, log_path: Path, gate: PushGate | None = None) -> BuildResult:
        result = super().build(request, log_path, gate)
        return replace(result, duration_s=self.duration_s) if request.node == "other" else result


# base → mid → leaf is three nodes never built: 3 × DEFAULT_DURATION_S = 180 s against other's own time
@pytest.mark.parametrize(("other_s", "first"), [(0.5, "base"), (3 * DEFAULT_DURATION_S + 20, "other")])
def test_the_first_build_is_the_heaviest_path_by_the_history_and_the_default(
        root: Path, other_s: float, first: str) -> None:
    registry = FakeRegistry()
    shard = api.build(options_of(root, only=("other",)), Timed(registry, other_s), BuildSettings(), registry)
    assert shard.nodes["other"].duration_s == other_s  # only other is in the history
    builder = FakeBuilder(registry)
    assert run_build(root, builder, registry, jobs=1, full=True).status == "succeeded"
    assert builder.order[0] == first
