"""Real-engine fixtures: the Docker engine (required in CI) and a throwaway registry per session."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from bench.env import image_refs
from engine.build.builder import BuildxBuilder
from graph.model.secrets import SecretPolicy
from tests.integration.janitor import clean, dies_with_this_thread, record_port, watch


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder needs the real engine."""
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.engine)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"real engine required in CI: {reason} (run `make setup`)")
    pytest.skip(f"no real engine: {reason} (run `make setup`)")


@pytest.fixture(scope="session")
def builder() -> BuildxBuilder:
    """The real buildx builder; fails in CI, skips elsewhere, when there is no engine."""
    real = BuildxBuilder(DockerClient())
    try:
        real.check()
    except Exception as exc:  # any failure to reach the engine means: no engine
        _unavailable(str(exc))
    return real


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# the demo stack hands the host's CA bundle to pip as a build secret: its runs allow that one file
HOST_CA = SecretPolicy(allowed=(Path("/etc/ssl/certs/ca-certificates.crt"),))
REGISTRY_ATTEMPTS = 5  # another process may take the free port between our probe and the registry's bind


def start_registry(folder: Path, delete: bool = True) -> tuple[subprocess.Popen[bytes], str]:
    """Start Debian's docker-registry on a free loopback port, storing in folder; retry on a lost port.
    delete: whether it allows deleting manifests (distribution's storage.delete.enabled)."""
    binary = shutil.which("docker-registry")
    if binary is None:
        _unavailable("docker-registry is not installed")
    folder.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, REGISTRY_ATTEMPTS + 1):
        port = _free_port()
        process = _serve(str(binary), folder, port, attempt, delete)
        if _answers(process, port):
            record_port(port)
            return process, f"localhost:{port}"
        process.kill()
        process.wait(timeout=10)
    pytest.fail(f"throwaway registry did not start in {REGISTRY_ATTEMPTS} attempts; "
                f"see {folder}/registry-*.log")


def _serve(binary: str, folder: Path, port: int, attempt: int, delete: bool) -> subprocess.Popen[bytes]:
    """docker-registry serving folder/data on 127.0.0.1:port, logging to folder/registry-<attempt>.log."""
    config = folder / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\n"
        f"storage:\n  filesystem:\n    rootdirectory: {folder / 'data'}\n"
        f"  delete:\n    enabled: {str(delete).lower()}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n", encoding="utf-8")
    with (folder / f"registry-{attempt}.log").open("wb") as log:
        return subprocess.Popen(dies_with_this_thread([binary, "serve", str(config)]), stdout=log,
                                stderr=log)


def _answers(process: subprocess.Popen[bytes], port: int, wait_s: float = 20.0) -> bool:
    """Whether our registry (not some other process that took the port) answers /v2/ on port."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and process.poll() is None:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1).close()
        except OSError:
            time.sleep(0.1)  # a poll interval, not a wait for a guessed duration
            continue
        return process.poll() is None  # it exited (e.g. address in use): the answer came from elsewhere
    return False


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory, builder: BuildxBuilder) -> Iterator[str]:
    """A throwaway registry for this test session: `localhost:PORT`."""
    process, address = start_registry(tmp_path_factory.mktemp("registry"))
    yield address
    process.terminate()
    process.wait(timeout=10)


def payload_context(folder: Path) -> Path:
    """folder as a build context: FROM scratch and one file of content no build made before."""
    folder.mkdir(parents=True)
    (folder / "payload.txt").write_text(f"{time.time_ns()}\n", encoding="utf-8")
    (folder / "Dockerfile").write_text("FROM scratch\nCOPY payload.txt /payload.txt\n", encoding="utf-8")
    return folder


def run_in(docker: DockerClient, image: str, platform: str, *command: str) -> str:
    """Output of command run in image on platform."""
    try:
        return str(docker.run(image, list(command), platform=platform, remove=True, pull="missing"))
    except DockerException as exc:
        raise AssertionError(f"{command} failed in {image} on {platform}: {exc.stderr}") from None


@pytest.fixture(scope="session", autouse=True)
def engine_left_as_found(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Remove the images of the session's throwaway registries from the engine's image store (every
    build stores its image there before pushing it): repeated test runs on one machine must not fill
    its disk. Every loopback registry stopped by then counts (also the proxies of stackbuild's pushes),
    not a port another live session holds (janitor.hold_port) nor :5000. Set up first,
    so it runs after every registry of the session has stopped; a janitor process does it if the
    session is killed before (see tests/integration/janitor.py)."""
    folder, before = tmp_path_factory.mktemp("cleanup"), image_refs()
    janitor = watch(before, folder)
    yield
    how = clean(before, folder)
    janitor.terminate()
    janitor.wait(timeout=10)
    print(f"\nimages made by the tests removed ({how})")
