"""A second dockerd for tests: own data-root, exec-root, socket, pidfile and bridge; containerd image store.

The shared engine is never reconfigured: the second engine gets a bridge of its own (with
--bridge=none, dockerd deletes the first engine's docker0 and every RUN step there fails afterwards).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from tests.integration.conftest import _unavailable
from tests.integration.janitor import dies_with_this_thread, require_setpriv, undone_if_killed, unmount_below


@dataclass
class SecondEngine:
    """A running second dockerd: its client, its socket and its process."""

    docker: DockerClient
    socket: Path
    process: subprocess.Popen[bytes]
    folder: Path
    killed: bool = False

    def kill(self) -> None:
        """SIGKILL the daemon (a builder host that dies)."""
        self.killed = True
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


@contextmanager
def second_dockerd(config: dict[str, Any] | None = None) -> Iterator[SecondEngine]:
    """Start a second dockerd (daemon.json: containerd image store plus config); stop and remove it after."""
    dockerd = shutil.which("dockerd") or ""
    if not dockerd or os.geteuid() != 0:
        _unavailable("a second dockerd needs the dockerd binary and root")
    require_setpriv(dockerd)  # before the bridge and folder it would leave behind
    folder = Path(tempfile.mkdtemp(prefix="sbb-", dir="/tmp"))  # short: a socket path has < 108 bytes
    exec_root, daemon_json = folder / "e", folder / "daemon.json"
    exec_root.mkdir()
    daemon_json.write_text(json.dumps({"features": {"containerd-snapshotter": True}, **(config or {})}),
                           encoding="utf-8")
    had_docker0 = Path("/sys/class/net/docker0").exists()
    bridge = _own_bridge()
    socket = exec_root / "docker.sock"
    with (folder / "dockerd.log").open("wb") as log:
        process = subprocess.Popen(dies_with_this_thread(
            [dockerd, "--config-file", str(daemon_json), "--data-root", str(folder / "d"), "--exec-root",
             str(exec_root), "--pidfile", str(exec_root / "dockerd.pid"), "-H", f"unix://{socket}",
             f"--bridge={bridge}", "--iptables=false", "--ip-masq=false"]),
            stdout=log, stderr=subprocess.STDOUT)
    engine = SecondEngine(DockerClient(host=f"unix://{socket}"), socket, process, folder)
    trouble = ""
    with undone_if_killed("engine", str(folder), bridge, str(process.pid)):
        try:
            _wait_until_up(engine.docker, process, folder / "dockerd.log")
            yield engine
            trouble = _trouble_of(engine)
            # the first engine's default bridge must survive a second engine
            assert Path("/sys/class/net/docker0").exists() or not had_docker0, "a second dockerd took docker0"
        finally:
            _stop_and_remove(engine, bridge)
    if trouble:
        pytest.fail(trouble)


def _stop_and_remove(engine: SecondEngine, bridge: str) -> None:
    """Stop the second dockerd; remove its bridge, mounts and folder."""
    subprocess.run(["ip", "link", "del", bridge], check=False, capture_output=True)
    if engine.process.poll() is None:
        engine.process.terminate()
        try:
            engine.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            engine.process.kill()
            engine.process.wait(timeout=10)
    unmount_below(engine.folder)
    shutil.rmtree(engine.folder, ignore_errors=True)


def _trouble_of(engine: SecondEngine) -> str:
    """Why the engine is gone or deaf at the end of its tests, with its log's tail; "" when it answers."""
    if engine.killed:
        return ""
    code = engine.process.poll()
    if code is None:
        try:
            probe = subprocess.run(["docker", "-H", f"unix://{engine.socket}", "version"], check=False,
                                   capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            answer = "no answer within 60 s"
        else:
            if probe.returncode == 0:
                return ""
            answer = probe.stderr.strip()[-300:]
        why = f"second dockerd (pid {engine.process.pid}) does not answer: {answer}"
    else:
        why = f"second dockerd exited with {code} while its tests ran"
    log = (engine.folder / "dockerd.log").read_text(errors="replace")
    return f"{why}; the end of its log:\n{log[-4000:]}"


def bridge_of(pid: int) -> str:
    """The name of the bridge the second engine of the test process pid has (pids have 7 digits at most:
    the name stays within the kernel's 15 characters)."""
    return f"sbb{pid}"


def _own_bridge() -> str:
    """A bridge of the second engine's own, on a /30 no traffic is sent to."""
    name = bridge_of(os.getpid())
    subprocess.run(["ip", "link", "del", name], check=False, capture_output=True)
    for argv in (["ip", "link", "add", name, "type", "bridge"],
                 ["ip", "addr", "add", _bridge_address(os.getpid()), "dev", name],
                 ["ip", "link", "set", name, "up"]):
        subprocess.run(argv, check=True, capture_output=True)
    return name


def _bridge_address(pid: int) -> str:
    """The bridge's address in one of the 16384 /30 networks of 198.18.0.0/16 (benchmarking space, no
    traffic is sent there): sessions beside one another rarely meet on one."""
    index = pid % 16384
    return f"198.18.{index // 64}.{(index % 64) * 4 + 1}/30"


def _wait_until_up(docker: DockerClient, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            docker.info()
            return
        except DockerException:
            time.sleep(0.5)
    pytest.fail(f"second dockerd did not start; see {log}:\n{log.read_text(errors='replace')[-2000:]}")


@contextmanager
def docker_context(name: str, socket: Path) -> Iterator[str]:
    """A docker context (and so a buildx builder) of that name for the engine at socket; removed after."""
    with undone_if_killed("context", name):
        subprocess.run(["docker", "context", "create", name, "--docker", f"host=unix://{socket}"],
                       check=True, capture_output=True)
        try:
            yield name
        finally:
            subprocess.run(["docker", "context", "rm", "--force", name], check=False, capture_output=True)
