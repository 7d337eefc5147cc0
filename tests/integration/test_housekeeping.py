"""The engine's image store after tests and bench runs: bench.env lists and removes image records, and
a test session removes only the images of registries it stopped (not those of a session beside it)."""

from __future__ import annotations

import time
from pathlib import Path

from bench.env import image_refs, remove_refs
from engine.build.builder import BuildxBuilder
from engine.build.request import BuildRequest
from tests.integration.conftest import of_a_stopped_registry, payload_context
from tests.integration.registries import free_port


def test_images_of_a_stopped_registry_are_removed_and_those_of_a_running_one_kept(
        tmp_path: Path, registry: str, builder: BuildxBuilder) -> None:
    context = payload_context(tmp_path / "ctx")
    running, stopped = f"{registry}/housekeeping/x:1", f"localhost:{free_port()}/housekeeping/x:1"
    builder.build(BuildRequest(node="x", context=context, dockerfile=context / "Dockerfile",
                               platforms=("linux/amd64",), tags=(running, stopped), push=False, load=True),
                  tmp_path / "build.log")
    assert {running, stopped} <= image_refs()
    assert of_a_stopped_registry(stopped) and not of_a_stopped_registry(running)
    assert not of_a_stopped_registry("stackbuild-local-base:1")  # not a registry's image: left alone

    assert remove_refs([stopped], tmp_path / "rmi.log") in ("ctr", f"docker image rm in the background "
                                                                  f"(log: {tmp_path / 'rmi.log'})")
    deadline = time.monotonic() + 60  # `docker image rm` (without ctr) runs in the background
    while stopped in image_refs() and time.monotonic() < deadline:
        time.sleep(0.5)
    refs = image_refs()
    assert stopped not in refs and running in refs
    remove_refs([running], tmp_path / "rmi.log")
