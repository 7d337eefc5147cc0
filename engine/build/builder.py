"""The only door to Docker: a small Builder interface and its buildx implementation."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol, runtime_checkable

from engine.build.buildlog import cache_export_failed_after_image, pushed_digest
from engine.build.dockercmd import DockerCommands
from engine.build.dockerpush import push_argv, pushed_names, stored_instead
from engine.build.probes import answers, engine_version
from engine.build.request import BuildRequest
from engine.build.watch import read_from, run_watched, tail
from engine.errors import BuildError, BuildStalled, EngineUnavailable, PushError, SmokeTestError
from engine.state.hygiene import looks_secret

if TYPE_CHECKING:  # python-on-whales (and pydantic under it) is imported only when Docker is used
    from python_on_whales import DockerClient

DEFAULT_STALL_TIMEOUT_S = 300.0  # a build that prints nothing for this long is stopped
MERGE_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class BuildResult:
    """What one successful build pushed."""

    node: str
    digest: str  # digest of the pushed multi-platform index
    duration_s: float
    log_path: str


@dataclass(frozen=True)
class PushGate:
    """What a builder that stores an image and then pushes it calls: before the push (it may wait, or
    raise to stop the push; digest '' when not known) and after it."""

    before_push: Callable[[str], None]
    after_push: Callable[[str], None]


class Builder(Protocol):
    """What the scheduler needs from a build engine."""

    def build(self, request: BuildRequest, log_path: Path, gate: PushGate | None = None) -> BuildResult:
        """Build and push one node for all its platforms in one call; a builder that pushes apart from
        the build calls gate around the push."""

    def smoke_test(self, node: str, image: str, platform: str, command: Sequence[str],
                   entrypoint: str | None = None) -> str:
        """Run command in image on platform; return its output or raise SmokeTestError."""


@runtime_checkable
class PoolBuilderOps(Builder, Protocol):
    """What per-platform builds over a pool also need: merging platforms and probing a builder."""

    def merge(self, node: str, target: str, sources: Sequence[str]) -> None:
        """Push target as one index of the platform images sources (repository@digest each)."""

    def alive(self, builder: str) -> bool:
        """Whether the builder still answers."""


@runtime_checkable
class EngineCheck(Protocol):
    """A builder that can say whether its engine answers (asked only when something is to be built)."""

    def check(self) -> str:
        """The engine's version, or EngineUnavailable."""


class BuildxBuilder:
    """Builds with `docker buildx build` (a watched child process: the buildx plugin program itself when it
    can be found, see engine.build.dockercmd); runs images through python-on-whales."""

    def __init__(self, docker: DockerClient | None = None,
                 stall_timeout_s: float = DEFAULT_STALL_TIMEOUT_S) -> None:
        self._docker_client = docker
        self.stall_timeout_s = stall_timeout_s
        self.pull_for_tests = True  # False for images loaded into the local store (--load): no registry
        self.commands = DockerCommands(lambda: self._docker_client)

    @property
    def docker(self) -> DockerClient:
        """The python-on-whales client, made (and its package imported) on first use."""
        if self._docker_client is None:
            from python_on_whales import DockerClient

            self._docker_client = DockerClient()
        return self._docker_client

    def for_local_store(self) -> BuildxBuilder:
        """The same builder, testing images already in the local image store (never pulling them)."""
        local = BuildxBuilder(self.docker, self.stall_timeout_s)
        local.pull_for_tests = False
        return local

    def check(self) -> str:
        """The engine's version, or EngineUnavailable with how to get an engine. The current builder's
        driver, which the first build needs, is asked meanwhile."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="probe") as pool:
            driver = pool.submit(self.commands.driver, "")
            version = engine_version(self.commands.docker(""))
            named = driver.result()
        if not named:
            raise EngineUnavailable("`docker buildx inspect` names no builder driver: is buildx installed?",
                                    "run `make setup`")
        return version

    def build(self, request: BuildRequest, log_path: Path, gate: PushGate | None = None) -> BuildResult:
        """Run one buildx build, writing each output line to log_path as it comes; never retried here.

        On the docker driver the image is stored, then pushed once with `docker push`
        (engine.build.dockerpush), with gate called around the push. A build that prints nothing for
        stall_timeout_s is stopped and raises BuildStalled.
        """
        metadata = log_path.with_suffix(".metadata.json")
        metadata.unlink(missing_ok=True)
        names = pushed_names(request)
        by_docker = bool(names) and self.commands.on_docker_driver(request.builder)
        run = stored_instead(request) if by_docker else request
        hidden = tuple(value for name, value in request.build_args if looks_secret(name))
        start = time.monotonic()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("w", encoding="utf-8") as log:
            try:
                run_watched(run.node, self.commands.argv(run, metadata), self.commands.shown(run), log,
                            log_path, self.stall_timeout_s, hidden)
            except BuildError:
                text = log_path.read_text(encoding="utf-8", errors="replace")
                if by_docker and cache_export_failed_after_image(text):
                    if gate is not None:
                        gate.before_push("")  # stored, digest not read
                    self._push(request, names, log, log_path, "")  # stored before its cache export failed
                raise
            digest = json.loads(metadata.read_text(encoding="utf-8"))["containerimage.digest"]
            if by_docker:
                if gate is not None:
                    gate.before_push(digest)
                self._push(request, names, log, log_path, digest)
                if gate is not None:
                    gate.after_push(digest)
        return BuildResult(request.node, digest, time.monotonic() - start, str(log_path))

    def _push(self, request: BuildRequest, names: tuple[str, ...], log: IO[str], log_path: Path,
              digest: str) -> None:
        """`docker push` of each name the build stored; the registry must hold digest (when known) after."""
        for tag in names:
            argv = push_argv(self.commands.docker(request.builder), tag)
            start = log.tell()  # where this push's own output begins in the log file
            try:
                run_watched(request.node, argv, argv, log, log_path, self.stall_timeout_s, on_terminal=True)
            except BuildStalled:
                raise
            except BuildError as exc:
                raise PushError(request.node, argv, exc.exit_code_of_build, exc.log_tail,
                                str(log_path)) from None
            sent = pushed_digest(read_from(log_path, start))
            if digest and sent != digest:
                raise PushError(request.node, argv, 0, tail(log_path), str(log_path),
                                f"docker push of {tag} sent {sent or 'no digest'}, the build stored {digest}")

    def merge(self, node: str, target: str, sources: Sequence[str]) -> None:
        """Push target as one index of the platform images sources (repository@digest each).

        `docker buildx imagetools create` copies the manifests by digest; nothing is rebuilt.
        """
        argv = [*self.commands.docker(""), "buildx", "imagetools", "create", "--tag", target, *sources]
        try:
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=MERGE_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BuildError(node, argv, None, str(exc)) from None
        if done.returncode != 0:
            raise BuildError(node, argv, done.returncode, (done.stdout + done.stderr)[-2000:])

    def alive(self, builder: str) -> bool:
        """Whether the buildx builder (or docker context) still answers."""
        on_context = self.commands.is_context(builder)
        return answers([*self.commands.docker(builder), "buildx", "inspect", "--bootstrap",
                        *([] if on_context else ["--builder", builder])])

    def smoke_test(self, node: str, image: str, platform: str, command: Sequence[str],
                   entrypoint: str | None = None) -> str:
        """Run command in a throwaway container of image on platform (entrypoint '': skip the image's)."""
        from python_on_whales.exceptions import DockerException

        try:
            if self.pull_for_tests:
                self.docker.pull(image, platform=platform, quiet=True)  # docker run would print its progress
            output = self.docker.run(image, list(command), platform=platform, remove=True,
                                     pull="never", entrypoint=entrypoint)
        except DockerException as exc:
            raise SmokeTestError(node, platform, command,
                                 (exc.stdout or "") + (exc.stderr or "")) from None
        return str(output)

