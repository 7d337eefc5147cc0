"""The runner hands buildx the SBOM generator built in the same run by digest (its tag moves later)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from engine.run import api
from engine.run.early import EarlyParents
from engine.run.settings import BuildSettings
from tests.engine.engine_fakes import REGISTRY, FakeBuilder, FakeRegistry
from tests.engine.run.builds import scanned_options


class HeldContentTag(FakeRegistry):
    """Holds the content tag of `side` (the last step of its run, after its push) until `asked` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = threading.Event()

    def tag(self, source: str, target: str) -> str:
        if target.startswith(f"{REGISTRY}/side:sb-"):
            self.asked.wait(10)
        return super().tag(source, target)


def _run(tmp_path: Path, generator: str = "side:4", registry: FakeRegistry | None = None,
         stores: bool = False) -> tuple[FakeBuilder, api.RunReport]:
    options = scanned_options(tmp_path, generator)
    registry = registry or FakeRegistry()
    builder = FakeBuilder(registry, stores=stores)
    return builder, api.build(options, builder, BuildSettings(jobs=2, test=False), registry)


def test_a_generator_built_in_the_run_is_built_first_and_passed_by_digest(tmp_path: Path) -> None:
    builder, report = _run(tmp_path)
    assert report.status == "succeeded"
    assert builder.order.index("side") < builder.order.index("app")
    side = report.nodes["side"].digest
    assert side
    assert builder.requests["app"].sbom_generator == f"{REGISTRY}/side@{side}"
    assert builder.requests["side"].sbom_generator == ""  # stack t names no generator


def test_a_generator_not_built_here_is_passed_as_written(tmp_path: Path) -> None:
    builder, report = _run(tmp_path, "registry.other/scan/gen:2")
    assert report.status == "succeeded"
    assert builder.requests["app"].sbom_generator == "registry.other/scan/gen:2"


def test_a_generator_released_early_is_waited_for_and_passed_by_its_final_digest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = HeldContentTag()
    final_digest = EarlyParents.final_digest

    def noting(self: EarlyParents, name: str) -> str | None:
        if name == "side":  # app asks while side, pushed and released, still runs
            registry.asked.set()
        return final_digest(self, name)

    monkeypatch.setattr(EarlyParents, "final_digest", noting)
    builder, report = _run(tmp_path, registry=registry, stores=True)  # stores: pushed apart, released early
    assert report.status == "succeeded"
    assert registry.asked.is_set()
    assert builder.requests["app"].sbom_generator == f"{REGISTRY}/side@{report.nodes['side'].digest}"
