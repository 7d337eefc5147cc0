"""`stackbuild build` run in this process over fakes, for tests of what a Ctrl-C or SIGTERM (sent to this
process) does to it: the signals with their exit codes, the builder, the command."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

import engine.build.builder
from engine.build import interrupt
from engine.cli import main as cli
from tests.engine.engine_fakes import FakeBuilder

SIGNALS = [(signal.SIGINT, 130), (signal.SIGTERM, 143)]


class CheckedBuilder(FakeBuilder):
    """The fake builder as the build command uses it: an engine check, a copy for the local store."""

    docker = None

    def check(self) -> str:
        return "github.com/docker/buildx v0.0.0-fake"

    def for_local_store(self) -> CheckedBuilder:
        return self


def build(root: Path, builder: FakeBuilder, monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    """`stackbuild build --no-test ARGS` of root's tiny stack with builder; its exit code."""
    monkeypatch.setattr(interrupt, "descendant_pids", lambda _pid: [])  # no process of pytest is stopped
    monkeypatch.setattr(engine.build.builder, "BuildxBuilder", lambda: builder)
    return cli.main(["build", "--root", str(root), "--state-dir", str(root.parent / "state"),
                     "--log-format", "json", "--no-test", *args])
