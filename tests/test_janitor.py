"""The engine test session's clean-up without the engine: which image records are the session's own to
remove, and no clean-up at all when the image store could not be listed."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bench.env import free_port, image_refs
from tests.conftest import ROOT
from tests.integration import janitor


def test_new_images_of_stopped_loopback_ports_and_new_dangling_records_are_left_over() -> None:
    stopped, kept = free_port(), free_port()  # both closed: bound, then released
    with socket.create_server(("127.0.0.1", 0)) as live:
        running = int(live.getsockname()[1])
        now = {f"localhost:{stopped}/a:1", f"127.0.0.1:{stopped}/b:1", f"localhost:{kept}/c:1",
               f"localhost:{running}/d:1", "localhost:5000/e:1", "moby-dangling@sha256:new",
               "moby-dangling@sha256:old", f"localhost:{stopped}/old:1", "stackbuild-local-base:1",
               f"registry.example:{stopped}/f:1"}
        before = {"moby-dangling@sha256:old", f"localhost:{stopped}/old:1"}
        left = janitor.leftovers(now, before, {kept, 5000})
    # a stopped port nobody recorded (a retrying proxy of a build) counts; a kept or running one does not
    assert left == [f"127.0.0.1:{stopped}/b:1", f"localhost:{stopped}/a:1", "moby-dangling@sha256:new"]


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    folder = tmp_path / "held"
    monkeypatch.setattr(janitor, "HELD", folder)
    return folder


def test_a_port_is_kept_while_another_live_process_holds_it(held: Path) -> None:
    other = subprocess.Popen(["sleep", "60"])
    try:
        janitor.hold_port(4711, other.pid)
        janitor.hold_port(4712)  # by this process: its own session's teardown removes those images
        assert janitor.held_ports(os.getpid()) == {4711}
        assert janitor.held_ports(other.pid) == {4712}
    finally:
        other.kill()
        other.wait()
    assert janitor.held_ports(os.getpid()) == set()
    assert sorted(note.name for note in held.iterdir()) == [f"4712.{os.getpid()}"]  # the ended one's went
    assert held.stat().st_mode & 0o7777 == 0o1777  # another user's session may note its ports there too


def test_every_closed_port_is_kept_when_the_holds_cannot_be_read(held: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    stopped = free_port()
    (tmp_path / "elsewhere").mkdir()
    held.symlink_to(tmp_path / "elsewhere")  # planted by someone: not ours to read or write through
    assert janitor.held_ports(os.getpid()) is None
    with pytest.raises(OSError):
        janitor.hold_port(stopped)
    assert not list((tmp_path / "elsewhere").iterdir())
    removed: list[list[str]] = []
    now = {f"localhost:{stopped}/a:1", "moby-dangling@sha256:new"}
    monkeypatch.setattr(janitor, "image_refs", lambda: now)
    monkeypatch.setattr(janitor, "remove_refs", lambda refs, log: removed.append(refs) or "test")
    assert janitor.clean(set(), tmp_path) == "test"
    assert removed == [["moby-dangling@sha256:new"]]


def test_the_clean_up_keeps_held_ports_and_the_default_registrys(held: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    stopped, kept = free_port(), free_port()
    now = {f"localhost:{stopped}/a:1", f"localhost:{kept}/b:1", "localhost:5000/c:1"}
    removed: list[list[str]] = []
    monkeypatch.setattr(janitor, "image_refs", lambda: now)
    monkeypatch.setattr(janitor, "remove_refs", lambda refs, log: removed.append(refs) or "test")
    other = subprocess.Popen(["sleep", "60"])
    try:
        janitor.hold_port(kept, other.pid)
        assert janitor.clean(set(), tmp_path) == "test"
        assert janitor.clean(set(), tmp_path, other.pid) == "test"  # the janitor of the holder's session
    finally:
        other.kill()
        other.wait()
    mine, held_by_other = f"localhost:{stopped}/a:1", f"localhost:{kept}/b:1"
    assert removed == [[mine], sorted([held_by_other, mine])]


def test_the_ports_a_session_records_are_read_back_by_its_janitor(tmp_path: Path) -> None:
    janitor.own_ports(tmp_path)
    try:
        janitor.record_port(4711)
        janitor.record_port(4712)
    finally:
        janitor.own_ports(None)
    janitor.record_port(4713)  # no session folder any more: noted nowhere
    assert janitor.recorded_ports(tmp_path) == {4711, 4712}
    assert janitor.recorded_ports(tmp_path / "none") == set()


def test_a_failed_image_listing_is_told_apart_from_an_empty_store(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # neither ctr nor docker can be run
    assert image_refs() is None


def test_no_clean_up_when_the_images_before_the_session_are_unknown(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    how = janitor.clean(image_refs(), tmp_path)
    assert how.startswith("skipped: the engine's image store could not be listed")
    assert not (tmp_path / "rmi.refs").exists()
    assert janitor.leftovers({"moby-dangling@sha256:1"}, None, set()) == []


STARTER = """\
import os, signal, subprocess, sys
from tests.integration.janitor import dies_with_this_thread
child = subprocess.Popen(dies_with_this_thread(["sleep", "300"]), stdout=subprocess.DEVNULL)
print(child.pid, flush=True)
sys.stdin.readline()  # the test has the pid: now die as a killed test session does
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_command_started_by_a_process_that_is_then_killed_ends_too() -> None:
    starter = subprocess.Popen([sys.executable, "-c", STARTER], cwd=ROOT, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    assert starter.stdin is not None and starter.stdout is not None
    pid = int(starter.stdout.readline())
    handle = os.pidfd_open(pid)  # that very process: a kill below never reaches a later one given its pid
    try:
        assert not select.select([handle], [], [], 0)[0]  # readable once that process has ended
        starter.communicate("go\n", timeout=30)
        assert starter.returncode == -signal.SIGKILL
        assert select.select([handle], [], [], 10)[0], "the command outlived the process that started it"
    finally:
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(handle, signal.SIGKILL)
        os.close(handle)


def test_a_command_whose_starter_is_no_longer_its_parent_does_not_start(tmp_path: Path) -> None:
    started = tmp_path / "started"
    argv = janitor.dies_with_this_thread(["touch", str(started)])
    # run by another process (sh forks it: `; exit` keeps sh from exec'ing it), as when the starter died
    # between fork and the death signal being set and the command's parent is now init or a subreaper
    orphan = subprocess.run(["sh", "-c", '"$@"; exit $?', "sh", *argv], check=False, timeout=30)
    assert orphan.returncode == 125 and not started.exists()
    assert subprocess.run(argv, check=False, timeout=30).returncode == 0 and started.exists()


def test_a_missing_setpriv_is_named_with_the_package_that_has_it(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no setpriv on PATH
    with pytest.raises(FileNotFoundError, match=r"^setpriv is not on PATH: the engine tests start "
                       r"docker-registry through .* install the Debian package util-linux"):
        janitor.dies_with_this_thread(["docker-registry", "serve", "config.yml"])


def test_what_a_session_noted_is_undone_by_its_janitor_while_its_block_runs_only(tmp_path: Path) -> None:
    certs = tmp_path / "certs.d"
    trusted, finished = certs / "localhost:4711", certs / "localhost:4712"
    session = tmp_path / "session"
    session.mkdir()
    janitor.undo(session)  # nothing noted: nothing to do
    janitor.own_ports(session)
    try:
        with janitor.undone_if_killed("folder", str(finished)):
            pass  # its block ended: the test undid it; the folder may be another session's by now
        finished.mkdir(parents=True)
        with janitor.undone_if_killed("folder", str(trusted)):
            trusted.mkdir(parents=True)
            (trusted / "ca.crt").write_text("x", encoding="utf-8")
            janitor.undo(session)  # as the janitor of the session killed here
            assert not trusted.exists()
    finally:
        janitor.own_ports(None)
    assert finished.exists() and not list((session / janitor.UNDO).iterdir())


def test_a_planted_parent_of_the_holds_is_not_written_through(monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "shared").symlink_to(tmp_path / "elsewhere")
    monkeypatch.setattr(janitor, "HELD", tmp_path / "shared" / "held-ports")
    with pytest.raises(OSError):
        janitor.hold_port(free_port())
    assert not list((tmp_path / "elsewhere").iterdir())
    assert janitor.held_ports(os.getpid()) is None
