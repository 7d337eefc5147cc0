"""The engine's image store after tests and bench runs: bench.env lists and removes image records, and
a test session removes the new images of stopped loopback registries (not those a session beside it
holds), also when it was killed before its teardown; then its registries and second dockerd end too."""

from __future__ import annotations

import contextlib
import os
import shutil
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
from tests.integration.engines import bridge_of
from tests.integration.janitor import clean, ends_within, hold_port, listening, unmount_below
from tests.integration.registries import free_port


def listed() -> set[str]:
    refs = image_refs()
    assert refs is not None, "the engine's image store could not be listed"
    return refs


def test_the_clean_up_removes_new_images_of_stopped_registries_and_keeps_those_another_session_holds(
        tmp_path: Path, registry: str, builder: BuildxBuilder) -> None:
    before, unrecorded, foreign = listed(), free_port(), free_port()  # both closed: bound, then released
    context = payload_context(tmp_path / "ctx")
    running, stopped = f"{registry}/housekeeping/x:1", f"localhost:{unrecorded}/housekeeping/x:1"
    held = f"localhost:{foreign}/housekeeping/x:1"  # as another session's test that keeps a port closed
    builder.build(BuildRequest(node="x", context=context, dockerfile=context / "Dockerfile",
                               platforms=("linux/amd64",), tags=(running, stopped, held), push=False,
                               load=True), tmp_path / "build.log")
    assert {running, stopped, held} <= listed()
    other_session = subprocess.Popen(["sleep", "300"])
    try:
        hold_port(foreign, other_session.pid)
        # `stopped` is of no port the session noted: as a retrying proxy stackbuild started for a push
        assert clean(before, tmp_path) in ("ctr", f"docker image rm in the background "
                                                  f"(log: {tmp_path / 'rmi.log'})")
        deadline = time.monotonic() + 60  # `docker image rm` (without ctr) runs in the background
        while stopped in listed() and time.monotonic() < deadline:
            time.sleep(0.5)
        refs = listed()
        assert stopped not in refs and running in refs and held in refs
    finally:
        other_session.kill()
        other_session.wait()
        remove_refs([running, stopped, held], tmp_path / "rmi-test.log")


KILLED_SESSION = """\
import os
import signal
from pathlib import Path

from engine.build.request import BuildRequest
from tests.integration.conftest import payload_context
from tests.integration.engines import docker_context, second_dockerd


def test_killed_after_storing_an_image(tmp_path, registry, builder):
    context = payload_context(tmp_path / "ctx")
    ref = f"{registry}/killed/x:1"
    builder.build(BuildRequest(node="x", context=context, dockerfile=context / "Dockerfile",
                               platforms=("linux/amd64",), tags=(ref,), push=False, load=True),
                  tmp_path / "build.log")
    with second_dockerd() as engine, docker_context(f"sbkilled{os.getpid()}", engine.socket) as context:
        Path(os.environ["KILLED_DOCKERD"]).write_text(f"{engine.process.pid} {engine.folder} {context}",
                                                      encoding="utf-8")
        Path(os.environ["KILLED_REF"]).write_text(ref, encoding="utf-8")
        os.kill(os.getpid(), signal.SIGKILL)  # as a cancelled CI job, a timeout or pytest-timeout ends it
"""


def test_a_session_killed_before_its_teardown_leaves_no_image_registry_dockerd_or_context_of_its_own(
        tmp_path: Path, builder: BuildxBuilder) -> None:
    (tmp_path / "test_killed.py").write_text(KILLED_SESSION, encoding="utf-8")
    ref_file, dockerd_file = tmp_path / "ref.txt", tmp_path / "dockerd.txt"
    child = subprocess.Popen(  # a session of its own: its process group is ours to end below
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", "-c",
         str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), "-p", "tests.integration.conftest",
         "--basetemp", str(tmp_path / "base"), str(tmp_path / "test_killed.py")],
        cwd=ROOT, env={**os.environ, "KILLED_REF": str(ref_file), "KILLED_DOCKERD": str(dockerd_file)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    ref = ""
    try:
        try:
            output = child.communicate(timeout=300)[0]
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)  # the session and its registry (its janitor ends itself)
            raise AssertionError(f"the session did not end in 300 s: {child.communicate()[0]}") from None
        ref = ref_file.read_text(encoding="utf-8") if ref_file.exists() else ""
        assert child.returncode == -signal.SIGKILL and ref, output
        pid, folder, context = dockerd_file.read_text(encoding="utf-8").split()
        assert ends_within(int(pid), 60), "the killed session's second dockerd is still running"
        assert closes_within(int(ref.partition("/")[0].rpartition(":")[2]), 10), "its registry still listens"
        bridge = Path("/sys/class/net") / bridge_of(child.pid)
        deadline = time.monotonic() + 90  # the clean-up runs once the session's process is gone
        while (ref in listed() or Path(folder).exists() or bridge.exists() or context in contexts()) and \
                time.monotonic() < deadline:
            time.sleep(0.5)
        assert ref not in listed(), "the killed session's image stayed in the engine's store"
        assert not Path(folder).exists(), "its second dockerd's folder stayed"
        assert not bridge.exists(), "its second dockerd's bridge stayed"
        assert context not in contexts(), "its docker context stayed"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGTERM)  # what the killed session left running
        _remove_second_engine(dockerd_file, child.pid)
        if ref:
            remove_refs([ref], tmp_path / "rmi.log")


def closes_within(port: int, seconds: float) -> bool:
    """Whether nothing listens on the loopback port within seconds."""
    deadline = time.monotonic() + seconds
    while listening(port) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not listening(port)


def contexts() -> set[str]:
    """The names of the docker contexts of this machine."""
    listing = subprocess.run(["docker", "context", "ls", "--format", "{{.Name}}"], check=True,
                             capture_output=True, text=True, timeout=60)
    return set(listing.stdout.split())


def _remove_second_engine(noted: Path, session: int) -> None:
    """What the janitor should have removed, should it not have: the killed session's second dockerd's
    mounts, folder and bridge, and its docker context."""
    if not noted.exists():
        return
    pid, folder, context = noted.read_text(encoding="utf-8").split()
    ends_within(int(pid), 60)  # sent SIGTERM by the death signal or by the killpg above
    unmount_below(Path(folder))
    shutil.rmtree(folder, ignore_errors=True)
    subprocess.run(["ip", "link", "del", bridge_of(session)], check=False, capture_output=True)
    subprocess.run(["docker", "context", "rm", "--force", context], check=False, capture_output=True)
