"""The tiny stack of a repository built through the api, its state folder beside the repository."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.run import api
from engine.run.settings import BuildSettings
from engine.state.report import RunReport
from tests.engine.engine_fakes import REGISTRY, STACK, FakeBuilder, FakeRegistry, write_stack

SCANNED = f"""\
stack: u
registry: {REGISTRY}
platforms: [linux/amd64, linux/arm64]
sbom: {{generator: "side:4"}}
nodes:
  app: {{kind: os, tag: "9"}}
"""


def options_of(root: Path, **kwargs: Any) -> api.Options:
    """Options building the tiny stack of root (kwargs: any other option)."""
    return api.Options(root=root, targets=STACK, state_dir=root.parent / "state", **kwargs)


def run_build(root: Path, builder: FakeBuilder, registry: FakeRegistry, **settings: Any) -> RunReport:
    """One build of root's tiny stack through the api with the fakes (settings: BuildSettings')."""
    return api.build(options_of(root), builder, BuildSettings(**settings), registry)


def scanned_options(root: Path, generator: str = "side:4") -> api.Options:
    """Options building the tiny stack and stack u, whose node app is scanned by generator."""
    write_stack(root)
    folder = root / "stacks/u"
    (folder / "app").mkdir(parents=True)
    (folder / "app/Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    (folder / "stack.yaml").write_text(SCANNED.replace("side:4", generator), encoding="utf-8")
    return api.Options(root=root, targets=(*STACK, Path("stacks/u")), state_dir=root / "state")
