"""SIGTERM mid-run: running builds stop, nothing is published, a restart rebuilds no finished node, and
an error the stop brings about still exits 130 or 143."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import pytest

from engine.build.builder import BuildxBuilder
from engine.build.interrupt import child_pids

STACK = """\
stack: slow
registry: localhost:5000/slow
platforms: [linux/amd64]
nodes:
  root: {kind: os, dockerfile: root/Dockerfile, tag: "1"}
  fast: {kind: sdk, parent: root, dockerfile: fast/Dockerfile, tag: "1"}
  slow: {kind: framework, parent: fast, dockerfile: slow/Dockerfile, tag: "1"}
  tail: {kind: llm, parent: slow, dockerfile: fast/Dockerfile, image: tail, tag: "1"}
"""


@pytest.fixture
def slow_stack(tmp_path: Path, repo_root: Path) -> Path:
    """root (the demo's Debian rootfs) → fast → slow (sleeps) → tail."""
    base = tmp_path / "stacks" / "slow"
    for folder in ("root/rootfs", "fast", "slow"):
        (base / folder).mkdir(parents=True)
    (base / "stack.yaml").write_text(STACK, encoding="utf-8")
    os.link(repo_root / "stacks/demo/os/rootfs/amd64.tar.gz", base / "root/rootfs/amd64.tar.gz")
    (base / "root/Dockerfile").write_text("FROM scratch\nARG TARGETARCH\nADD rootfs/${TARGETARCH}.tar.gz /\n")
    (base / "fast/Dockerfile").write_text(f"FROM parent\nRUN echo {time.time_ns()} > /fast\n")
    (base / "slow/Dockerfile").write_text(f"FROM parent\nRUN sleep 25 && echo {time.time_ns()} > /slow\n")
    return tmp_path


class Run:
    """A `stackbuild build` subprocess whose stdout and stderr are drained by reader threads.

    Its JSON log events arrive on a queue, so a test can wait for one with a deadline (no sleeps).
    """

    def __init__(self, root: Path, registry: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "build", "--root", str(root), "--registry",
             f"{registry}/slow", "--state-dir", str(root / "state"), "--jobs", "1", "--no-test",
             "--log-format", "json"],
            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.output: list[str] = []
        self.readers = [threading.Thread(target=self._read, args=(stream,), daemon=True)
                        for stream in (self.process.stdout, self.process.stderr)]
        for reader in self.readers:
            reader.start()

    def _read(self, stream: IO[str] | None) -> None:
        assert stream is not None
        for line in stream:
            self.output.append(line)
            if line.startswith("{"):
                self.events.put(json.loads(line))

    def wait_for(self, event: str, node: str, within_s: float) -> None:
        """Block until the run logs event for node; fail after within_s or when the run ends first."""
        deadline = time.monotonic() + within_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                seen = self.events.get(timeout=min(left, 1.0))
            except queue.Empty:
                if self.process.poll() is not None and self.events.empty():
                    break
                continue
            if (seen.get("event"), seen.get("node")) == (event, node):
                return
        raise AssertionError(f"no {event} for {node} within {within_s} s:\n{''.join(self.output)[-3000:]}")

    def finish(self, within_s: float) -> int:
        """The exit code, once the process and both readers are done."""
        code = self.process.wait(timeout=within_s)
        for reader in self.readers:
            reader.join(timeout=within_s)
        return code


def wait_for_buildx_plugin(pid: int, within_s: float) -> None:
    """Block until a `docker-buildx ... build` process runs below pid: the build is really under way.

    stackbuild runs the plugin program itself when it finds it (a child); through the `docker buildx
    build` CLI (a grandchild) the CLI swallows a SIGTERM in its first moments and the plugin it starts
    next builds to the end (see the report of issue 16), so the CLI alone is not enough.
    """
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        children = child_pids(pid)
        for process in [*children, *(grandchild for child in children for grandchild in child_pids(child))]:
            try:
                argv = Path(f"/proc/{process}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv[0].endswith(b"docker-buildx") and b"build" in argv:
                return
        time.sleep(0.1)  # a poll interval
    raise AssertionError(f"process {pid} started no docker-buildx build within {within_s} s")


def _report(root: Path) -> dict[str, Any]:
    reports = sorted((root / "state" / "runs").glob("*/report.json"))
    data: dict[str, Any] = json.loads(reports[-1].read_text())
    return data


def test_a_terminated_run_publishes_nothing_and_resumes_without_rebuilding(
        slow_stack: Path, registry: str, builder: BuildxBuilder) -> None:
    first_run = Run(slow_stack, registry)
    first_run.wait_for("node_started", "slow", within_s=600)
    wait_for_buildx_plugin(first_run.process.pid, within_s=60)  # slow's build (RUN sleep 25) is running
    first_run.process.send_signal(signal.SIGTERM)
    assert first_run.finish(within_s=120) == 143  # 128 + SIGTERM, as shells and CI runners expect
    first = _report(slow_stack)
    assert (first["status"], first["signal"]) == ("interrupted", "SIGTERM")
    assert first["promoted"] == []
    assert {n: first["nodes"][n]["status"] for n in ("root", "fast")} == {"root": "succeeded",
                                                                            "fast": "succeeded"}
    assert {n: first["nodes"][n]["status"] for n in ("slow", "tail")} == {
        "slow": "interrupted", "tail": "interrupted"}, "".join(first_run.output)[-4000:]

    second_run = Run(slow_stack, registry)
    assert second_run.finish(within_s=300) == 0, "".join(second_run.output)[-3000:]
    resumed = _report(slow_stack)
    actions = {name: node["action"] for name, node in resumed["nodes"].items()}
    assert actions == {"root": "retag", "fast": "retag", "slow": "build", "tail": "build"}
    assert resumed["buildx_invocations"] - resumed["fault_repeats"] == 2


@pytest.mark.parametrize(("sent", "exit_code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_error_after_the_signal_still_exits_130_or_143(slow_stack: Path, registry: str,
                                                          builder: BuildxBuilder, sent: signal.Signals,
                                                          exit_code: int) -> None:
    run = Run(slow_stack, registry)
    run.wait_for("node_started", "slow", within_s=600)
    wait_for_buildx_plugin(run.process.pid, within_s=60)
    for folder in (slow_stack / "state" / "runs").iterdir():  # the run's report can no longer be written
        shutil.rmtree(folder)
    run.process.send_signal(sent)
    assert run.finish(within_s=120) == exit_code, "".join(run.output)[-3000:]  # was 2, the OSError's own
    output = "".join(run.output)
    assert "error: cannot use " in output and "No such file or directory" in output
    assert "Traceback" not in output
