"""A build's engine check can start ahead, while the CLI imports: its answers are taken, not asked again."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from engine.build import probes
from engine.build.builder import BuildxBuilder
from engine.errors import EngineUnavailable
from tests.engine.build.test_docker_push import FAKE_DOCKER


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `docker` program on PATH (the stand-in of test_docker_push); the file it appends its calls to."""
    script, program = tmp_path / "fake_docker.py", tmp_path / "bin" / "docker"
    script.write_text(FAKE_DOCKER, encoding="utf-8")
    program.parent.mkdir()
    program.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{script}" "$@"\n', encoding="utf-8")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{program.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("CALLS", str(tmp_path / "calls"))
    monkeypatch.setenv("DRIVER", "docker")
    monkeypatch.setattr(probes, "_started", {})
    return tmp_path / "calls"


def asked(calls: Path) -> list[list[str]]:
    return [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []


def test_a_check_takes_the_answers_of_the_probes_started_ahead(fake_docker: Path) -> None:
    probes.start_engine_probes()
    assert BuildxBuilder().check() == "26.1.5"
    version = ["version", "--format", "{{.Server.Version}}"]
    assert sorted(asked(fake_docker)) == [["buildx", "inspect"], version]  # each asked once
    assert not probes._started


def test_an_engine_that_was_down_ahead_is_reported_as_down(fake_docker: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENGINE", "down")
    probes.start_engine_probes()
    with pytest.raises(EngineUnavailable, match="does not answer: Cannot connect to the Docker daemon"):
        BuildxBuilder().check()


def test_probes_nobody_asked_are_stopped_at_exit(fake_docker: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTEXT", "hangs")
    probes.start_engine_probes()
    hung = probes._started[next(iter(probes._started))]
    probes._started[("docker", "context", "inspect", "x")] = hung  # one that would not end by itself
    probes._stop_unasked()
    assert not probes._started and hung.poll() is not None


def test_a_probe_that_does_not_answer_in_time_is_no_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probes, "_started", {})
    monkeypatch.setattr(probes, "PROBE_TIMEOUT_S", 0.2)
    argv = (sys.executable, "-c", "import time; time.sleep(30)")
    probes._started[argv] = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    code, out, why = probes._ask(argv)
    assert (code, out) == (-1, "") and "timed out" in why
    assert not probes._started  # taken, and killed
