"""The tiny stack of a repository built through the api, its state folder beside the repository."""

from __future__ import annotations

from pathlib import Path

from engine.run import api
from engine.run.runner import BuildSettings
from engine.state.report import RunReport
from tests.engine.engine_fakes import STACK, FakeBuilder, FakeRegistry


def options_of(root: Path, **kwargs: object) -> api.Options:
    return api.Options(root=root, targets=STACK, state_dir=root.parent / "state", **kwargs)  # type: ignore[arg-type]


def run_build(root: Path, builder: FakeBuilder, registry: FakeRegistry, **settings: object) -> RunReport:
    return api.build(options_of(root), builder, BuildSettings(**settings), registry)  # type: ignore[arg-type]
