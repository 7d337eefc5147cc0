"""SIGTERM mid-run: running builds stop, nothing is published, and a restart rebuilds no finished node."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.build.builder import BuildxBuilder

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


def _build(root: Path, registry: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "build", "--root", str(root), "--registry", f"{registry}/slow",
         "--state-dir", str(root / "state"), "--jobs", "1", "--no-test", "--log-format", "json"],
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def _report(root: Path) -> dict:
    reports = sorted((root / "state" / "runs").glob("*/report.json"))
    return json.loads(reports[-1].read_text())


def test_a_terminated_run_publishes_nothing_and_resumes_without_rebuilding(
        slow_stack: Path, registry: str, builder: BuildxBuilder) -> None:
    process = _build(slow_stack, registry)
    assert process.stderr is not None
    for line in process.stderr:
        event = json.loads(line) if line.startswith("{") else {}
        if event.get("event") == "node_started" and event.get("node") == "slow":
            time.sleep(3)  # slow's RUN sleep is under way
            process.send_signal(signal.SIGTERM)
            break
    process.wait(timeout=120)
    assert process.returncode == 130
    first = _report(slow_stack)
    assert first["status"] == "interrupted"
    assert first["promoted"] == []
    assert {n: first["nodes"][n]["status"] for n in ("root", "fast")} == {"root": "succeeded",
                                                                            "fast": "succeeded"}
    assert {n: first["nodes"][n]["status"] for n in ("slow", "tail")} == {"slow": "interrupted",
                                                                            "tail": "interrupted"}

    second = _build(slow_stack, registry)
    second.wait(timeout=300)
    assert second.returncode == 0
    resumed = _report(slow_stack)
    actions = {name: node["action"] for name, node in resumed["nodes"].items()}
    assert actions == {"root": "retag", "fast": "retag", "slow": "build", "tail": "build"}
    assert resumed["buildx_invocations"] == 2
