"""The only door to Docker: a small Builder interface and its buildx implementation."""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from engine.build.buildx_args import BuildRequest, buildx_argv, buildx_kwargs
from engine.errors import BuildError, EngineUnavailable, SmokeTestError

LOG_TAIL_LINES = 25


@dataclass(frozen=True)
class BuildResult:
    """What one successful build pushed."""

    node: str
    digest: str  # digest of the pushed multi-platform index
    duration_s: float
    log_path: str


class Builder(Protocol):
    """What the scheduler needs from a build engine."""

    def build(self, request: BuildRequest, log_path: Path) -> BuildResult:
        """Build and push one node for all its platforms in one call."""

    def smoke_test(self, node: str, image: str, platform: str, command: Sequence[str],
                   entrypoint: str | None = None) -> str:
        """Run command in image on platform; return its output or raise SmokeTestError."""


class BuildxBuilder:
    """Builds with `docker buildx build` through python-on-whales."""

    def __init__(self, docker: DockerClient | None = None) -> None:
        self.docker = docker or DockerClient()

    def check(self) -> str:
        """The buildx version, or EngineUnavailable with how to get an engine."""
        try:
            self.docker.info()
            return str(self.docker.buildx.version())
        except DockerException as exc:
            raise EngineUnavailable(f"the Docker engine does not answer: {_first_line(exc)}",
                                    "run `make setup` to start it") from None

    def build(self, request: BuildRequest, log_path: Path) -> BuildResult:
        """Run one buildx build, streaming its output to log_path; never retried."""
        metadata = log_path.with_suffix(".metadata.json")
        metadata.unlink(missing_ok=True)
        start = time.monotonic()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("w", encoding="utf-8") as log:
            log.write(f"$ {shlex.join(buildx_argv(request))}\n")
            try:
                lines = self.docker.buildx.build(**buildx_kwargs(request, metadata),
                                                 stream_logs=True)
                for line in cast(Iterator[str], lines):
                    log.write(line)
            except DockerException as exc:
                log.write(f"\nexit code {exc.return_code}\n")
                log.flush()
                raise BuildError(request.node, exc.docker_command, exc.return_code,
                                 tail(log_path), str(log_path)) from None
        digest = json.loads(metadata.read_text(encoding="utf-8"))["containerimage.digest"]
        return BuildResult(request.node, digest, time.monotonic() - start, str(log_path))

    def smoke_test(self, node: str, image: str, platform: str, command: Sequence[str],
                   entrypoint: str | None = None) -> str:
        """Run command in a throwaway container of image on platform (entrypoint '': skip the image's)."""
        try:
            self.docker.pull(image, platform=platform, quiet=True)  # docker run would print its progress
            output = self.docker.run(image, list(command), platform=platform, remove=True,
                                     pull="never", entrypoint=entrypoint)
        except DockerException as exc:
            raise SmokeTestError(node, platform, command,
                                 (exc.stdout or "") + (exc.stderr or "")) from None
        return str(output)


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log file."""
    text = path.read_text(encoding="utf-8", errors="replace")
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


def _first_line(exc: DockerException) -> str:
    return (exc.stderr or str(exc)).strip().splitlines()[0] if (exc.stderr or str(exc)).strip() else ""
