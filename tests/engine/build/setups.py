"""What the builder tests set up: a build request in the test's folder, a buildx plugin program, buildx's
choice of builder."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from engine.build.request import BuildRequest


def request(tmp_path: Path, **changes: object) -> BuildRequest:
    """A two-platform request of node n pushing one tag, its context in tmp_path, changed by changes."""
    fields: dict[str, object] = dict(
        node="n", context=tmp_path / "ctx", dockerfile=tmp_path / "ctx" / "Dockerfile",
        platforms=("linux/amd64", "linux/arm64"), tags=("localhost:5000/t/n:sb-1",),
        labels=(("org.stackbuild.node", "n"),))
    fields.update(changes)
    return BuildRequest(**fields)  # type: ignore[arg-type]


def plant(folder: Path, executable: bool = True) -> str:
    """A docker-buildx program in folder (one that cannot be run unless executable); its path."""
    folder.mkdir(parents=True, exist_ok=True)
    program = folder / "docker-buildx"
    program.write_text("#!/bin/sh\n", encoding="utf-8")
    program.chmod(stat.S_IRWXU if executable else stat.S_IRUSR | stat.S_IWUSR)
    return str(program)


def choose(folder: Path, current: object) -> None:
    """Write buildx's `current` file (what `docker buildx use` records) into folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "current").write_text(json.dumps(current) if not isinstance(current, str) else current,
                                    encoding="utf-8")
