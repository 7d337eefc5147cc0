"""Runs one build of a tiny stack with long node names through the real CLI code paths (logging,
live progress block, summary) but with the fake builder and registry: for the tmux test.

Usage: python -m tests.engine.console.progress_driver FOLDER
"""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

from engine.build.builder import BuildResult, PushGate
from engine.build.request import BuildRequest
from engine.cli import commands
from engine.console import logs
from engine.run import api
from engine.run.settings import BuildSettings
from tests.engine.engine_fakes import FakeBuilder, FakeRegistry

LONG = "pytorch2-4-0-cann8-0-rc3-openeuler2403lts"
NAMES = tuple(f"{LONG}-{part}" for part in ("base", "sdk", "framework", "app"))
STACK = f"""\
    stack: progress
    registry: registry.example/p
    platforms: [linux/amd64]
    nodes:
      {NAMES[0]}: {{kind: os, tag: "1"}}
      {NAMES[1]}: {{kind: sdk, parent: {NAMES[0]}, tag: "2"}}
      {NAMES[2]}: {{kind: framework, parent: {NAMES[1]}, tag: "3"}}
      {NAMES[3]}: {{kind: llm, parent: {NAMES[1]}, tag: "4"}}
"""
BUILD_S = 1.2  # long enough for the block (redrawn every 0.5 s) to be drawn a few times per node


class SlowBuilder(FakeBuilder):
    """The fake builder, taking a moment per build as a real one would."""

    def build(self, request: BuildRequest, log_path: Path, gate: PushGate | None = None) -> BuildResult:
        time.sleep(BUILD_S)
        return super().build(request, log_path)


def main(folder: Path) -> int:
    stack = folder / "stacks" / "progress"
    for name in NAMES:
        (stack / name).mkdir(parents=True, exist_ok=True)
        (stack / name / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    (stack / "stack.yaml").write_text(textwrap.dedent(STACK), encoding="utf-8")
    logs.configure("console")
    registry = FakeRegistry()
    options = api.Options(root=folder, targets=(Path("stacks/progress"),), state_dir=folder / "state")
    report = api.build(options, SlowBuilder(registry), BuildSettings(jobs=2, cache="none"), registry)
    print(commands.run_summary(report))
    return 0 if report.status == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
