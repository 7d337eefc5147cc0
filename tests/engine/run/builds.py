"""The tiny stack of a repository built through the api, its state folder beside the repository."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.run import api
from engine.run.settings import BuildSettings
from engine.state.report import RunReport
from tests.engine.engine_fakes import STACK, FakeBuilder, FakeRegistry


def options_of(root: Path, **kwargs: Any) -> api.Options:
    """Options building the tiny stack of root (kwargs: any other option)."""
    return api.Options(root=root, targets=STACK, state_dir=root.parent / "state", **kwargs)


def run_build(root: Path, builder: FakeBuilder, registry: FakeRegistry, **settings: Any) -> RunReport:
    """One build of root's tiny stack through the api with the fakes (settings: BuildSettings')."""
    return api.build(options_of(root), builder, BuildSettings(**settings), registry)
