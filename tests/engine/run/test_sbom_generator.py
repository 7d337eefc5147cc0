"""The runner hands buildx the SBOM generator built in the same run by digest (its tag moves later)."""

from __future__ import annotations

from pathlib import Path

from engine.run import api
from engine.run.settings import BuildSettings
from tests.engine.engine_fakes import REGISTRY, STACK, FakeBuilder, FakeRegistry, write_stack

SCANNED = f"""\
stack: u
registry: {REGISTRY}
platforms: [linux/amd64, linux/arm64]
sbom: {{generator: "side:4"}}
nodes:
  app: {{kind: os, tag: "9"}}
"""


def _run(tmp_path: Path, generator: str = "side:4") -> tuple[FakeBuilder, api.RunReport]:
    write_stack(tmp_path)
    folder = tmp_path / "stacks/u"
    (folder / "app").mkdir(parents=True)
    (folder / "app/Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    (folder / "stack.yaml").write_text(SCANNED.replace("side:4", generator), encoding="utf-8")
    registry = FakeRegistry()
    builder = FakeBuilder(registry)
    options = api.Options(root=tmp_path, targets=(*STACK, Path("stacks/u")), state_dir=tmp_path / "state")
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
