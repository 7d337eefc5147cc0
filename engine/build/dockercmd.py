"""The command lines a build runs for a builder name: the docker program (`docker --context NAME` on a docker
context's builder) or the buildx plugin program without the CLI, and the builder's driver; each asked once."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from engine.build.buildx_args import buildx_argv, without_builder
from engine.build.plugin import default_builder_chosen, find_buildx
from engine.build.probes import driver_of, names_context
from engine.build.request import BuildRequest
from engine.errors import EngineUnavailable

if TYPE_CHECKING:  # python-on-whales (and pydantic under it) is imported only when Docker is used
    from python_on_whales import DockerClient

Answer = TypeVar("Answer")


class DockerCommands:
    """The docker and buildx command lines of one builder, what it asked remembered (thread-safe)."""

    def __init__(self, client: Callable[[], DockerClient | None]) -> None:
        self._client = client  # the python-on-whales client given or made so far, None: `docker` on PATH
        self._contexts: dict[str, bool] = {}  # builder name → whether it is a docker context
        self._drivers: dict[str, str] = {}  # buildx builder name ('' the current one) → its driver
        self._buildx: str | None = None  # the buildx plugin program, '' to go through the CLI
        self._lock = threading.Lock()

    def shown(self, request: BuildRequest) -> list[str]:
        """The command line as logged: buildx_argv, on `docker --context NAME` for a context's builder."""
        shown = buildx_argv(request)
        if not self.is_context(request.builder):
            return shown
        return ["docker", "--context", request.builder, *without_builder(shown[1:], True)]

    def argv(self, request: BuildRequest, metadata: Path) -> list[str]:
        """The buildx command line that is run: the logged one plus labels, metadata file and progress."""
        shown = buildx_argv(request, redact=False)  # the real values: only ever run, never written
        if request.extra:
            raise ValueError(f"node {request.node}: extra buildx options {sorted(request.extra)} "
                             "are not supported by the build command")
        labels = [part for key, value in request.labels for part in ("--label", f"{key}={value}")]
        on_context = self.is_context(request.builder)
        options = without_builder(shown[1:-1], on_context)
        program = [] if on_context else self._plugin()
        command = [*program, *options[1:]] if program else [*self.docker(request.builder), *options]
        return [*command, *labels, "--metadata-file", str(metadata), "--progress", "plain", shown[-1]]

    def docker(self, builder: str) -> list[str]:
        """The docker command; on a docker context's builder `docker --context NAME` (buildx 0.13 refuses
        `--builder NAME` for a context other than the current one)."""
        docker = self._program()
        if docker is None:
            raise EngineUnavailable("the docker program is not installed", "run `make setup`")
        return [*docker, "--context", builder] if self.is_context(builder) else docker

    def on_docker_driver(self, builder: str) -> bool:
        """Whether builder (a docker context, or a buildx builder asked once) runs the docker driver."""
        return self.is_context(builder) or self.driver(builder) == "docker"

    def driver(self, builder: str) -> str:
        """The buildx builder's driver ('' the current builder's), asked once; '' when buildx names none."""
        return self._asked_once(self._drivers, builder, lambda: self._driver_of(builder))

    def is_context(self, builder: str) -> bool:
        """Whether builder names a docker context (not the current one): asked once per name."""
        if not builder or builder == "default":
            return False
        docker = self._program() or ["docker"]
        return self._asked_once(self._contexts, builder, lambda: names_context(docker, builder))

    def _driver_of(self, builder: str) -> str:
        """The builder's driver (`docker` unasked for the context's own builder), else as buildx names it."""
        if not builder and self._plugin() and default_builder_chosen():
            return "docker"
        flags = ["--builder", builder] if builder else []
        return driver_of([*self.docker(builder), "buildx", "inspect", *flags])

    def _plugin(self) -> list[str]:
        """The buildx plugin program to run without the docker CLI (found once), [] for the CLI."""
        with self._lock:
            if self._buildx is None:
                self._buildx = find_buildx(self._program() or [])
            return [self._buildx] if self._buildx else []

    def _program(self) -> list[str] | None:
        """The docker command of the python-on-whales client, else `docker` on PATH (building imports no
        python-on-whales); None when there is none."""
        client = self._client()
        if client is None:
            found = shutil.which("docker")
            return [found] if found else None
        from python_on_whales.client_config import ClientNotFoundError

        try:
            return [str(part) for part in client.client_config.docker_cmd]
        except ClientNotFoundError:
            return None

    def _asked_once(self, answers: dict[str, Answer], key: str, ask: Callable[[], Answer]) -> Answer:
        """answers[key], asked once (outside the lock: two first asks at once may both run, harmlessly)."""
        with self._lock:
            if key in answers:
                return answers[key]
        answer = ask()
        with self._lock:
            return answers.setdefault(key, answer)
