"""NodeRunner: a stalled build is retried when it hung on a transfer, not when a RUN step hung."""

from __future__ import annotations

from pathlib import Path

from engine.build.builder import BuildResult, PushGate
from engine.build.request import BuildRequest
from engine.errors import BuildStalled
from engine.state.report import RunReport
from tests.engine.engine_fakes import FakeBuilder, FakeRegistry
from tests.engine.run.builds import run_build

PUSHING = "#9 pushing layers"
RUN_STEP = "#5 [linux/amd64 2/2] RUN sleep infinity"


class StallingBuilder(FakeBuilder):
    """The first build of `base` stalls after printing last_line; later builds succeed."""

    def __init__(self, registry: FakeRegistry, last_line: str) -> None:
        super().__init__(registry)
        self.last_line, self.stalls = last_line, 0

    def build(self, request: BuildRequest, log_path: Path, gate: PushGate | None = None) -> BuildResult:
        if request.node == "base" and self.stalls == 0:
            self.stalls += 1
            log_path.write_text(f"#1 [internal] load build definition\n{self.last_line}\n", encoding="utf-8")
            raise BuildStalled("base", ["docker", "buildx", "build"], 5.0, self.last_line,
                               self.last_line, str(log_path))
        return super().build(request, log_path)


def build(root: Path, builder: FakeBuilder, registry: FakeRegistry) -> RunReport:
    return run_build(root, builder, registry, jobs=1)


def test_a_build_stalled_on_a_push_is_retried_and_succeeds(root: Path) -> None:
    registry = FakeRegistry()
    builder = StallingBuilder(registry, PUSHING)
    report = build(root, builder, registry)
    assert report.status == "succeeded"
    assert report.nodes["base"].retries == 1
    assert builder.order.count("base") == 1  # FakeBuilder.build ran once: after the stalled attempt
    assert report.buildx_invocations == 5 + 1


def test_a_build_stalled_in_a_run_step_fails_without_retry_naming_the_step(root: Path) -> None:
    registry = FakeRegistry()
    report = build(root, StallingBuilder(registry, RUN_STEP), registry)
    assert report.status == "failed"
    base = report.nodes["base"]
    assert (base.status, base.retries) == ("failed", 0)
    assert base.error.startswith(f"node base: build stalled: no output for 5 s after '{RUN_STEP}', stopped")
