"""The engine's image store after tests and bench runs: bench.env lists and removes image records, and
a test session removes only the images of registries it started and stopped (not those of a session
beside it), also when it was killed before its teardown."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.env import image_refs, remove_refs
from engine.build.builder import BuildxBuilder
from engine.build.request import BuildRequest
from tests.conftest import ROOT
from tests.integration.conftest import payload_context
from tests.integration.janitor import PORTS, clean
from tests.integration.registries import free_port


def listed() -> set[str]:
    refs = image_refs()
    assert refs is not None, "the engine's image store could not be listed"
    return refs


def test_the_clean_up_removes_new_images_of_the_sessions_stopped_registries_and_keeps_any_other(
        tmp_path: Path, registry: str, builder: BuildxBuilder) -> None:
    before, ours, foreign = listed(), free_port(), free_port()  # both ports closed: bound, then released
    context = payload_context(tmp_path / "ctx")
    running, stopped = f"{registry}/housekeeping/x:1", f"localhost:{ours}/housekeeping/x:1"
    closed = f"localhost:{foreign}/housekeeping/x:1"  # as another session's test that keeps a port closed
    builder.build(BuildRequest(node="x", context=context, dockerfile=context / "Dockerfile",
                               platforms=("linux/amd64",), tags=(running, stopped, closed), push=False,
                               load=True), tmp_path / "build.log")
    assert {running, stopped, closed} <= listed()
    (tmp_path / PORTS).write_text(f"{registry.rpartition(':')[2]}\n{ours}\n", encoding="utf-8")
    try:
        assert clean(before, tmp_path) in ("ctr", f"docker image rm in the background "
                                                  f"(log: {tmp_path / 'rmi.log'})")
        deadline = time.monotonic() + 60  # `docker image rm` (without ctr) runs in the background
        while stopped in listed() and time.monotonic() < deadline:
            time.sleep(0.5)
        refs = listed()
        assert stopped not in refs and running in refs and closed in refs
    finally:
        remove_refs([running, stopped, closed], tmp_path / "rmi-test.log")


KILLED_SESSION = """\
import os
import signal
from pathlib import Path

from engine.build.request import BuildRequest
from tests.integration.conftest import payload_context


def test_killed_after_storing_an_image(tmp_path, registry, builder):
    context = payload_context(tmp_path / "ctx")
    ref = f"{registry}/killed/x:1"
    builder.build(BuildRequest(node="x", context=context, dockerfile=context / "Dockerfile",
                               platforms=("linux/amd64",), tags=(ref,), push=False, load=True),
                  tmp_path / "build.log")
    Path(os.environ["KILLED_REF"]).write_text(ref, encoding="utf-8")
    os.kill(os.getpid(), signal.SIGKILL)  # as a cancelled CI job, a timeout or pytest-timeout ends it
"""


def test_a_session_killed_before_its_teardown_leaves_no_image_of_its_registries(
        tmp_path: Path, builder: BuildxBuilder) -> None:
    (tmp_path / "test_killed.py").write_text(KILLED_SESSION, encoding="utf-8")
    ref_file = tmp_path / "ref.txt"
    child = subprocess.Popen(  # a session of its own: its process group is ours to end below
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", "-c",
         str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), "-p", "tests.integration.conftest",
         "--basetemp", str(tmp_path / "base"), str(tmp_path / "test_killed.py")],
        cwd=ROOT, env={**os.environ, "KILLED_REF": str(ref_file)}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True)
    ref = ""
    try:
        try:
            output = child.communicate(timeout=300)[0]
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)  # the session and its registry (its janitor ends itself)
            raise AssertionError(f"the session did not end in 300 s: {child.communicate()[0]}") from None
        ref = ref_file.read_text(encoding="utf-8") if ref_file.exists() else ""
        assert child.returncode == -signal.SIGKILL and ref, output
        deadline = time.monotonic() + 60  # the clean-up runs once the session's process is gone
        while ref in listed() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert ref not in listed(), "the killed session's image stayed in the engine's store"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGTERM)  # what the killed session left running (its registry)
        if ref:
            remove_refs([ref], tmp_path / "rmi.log")
