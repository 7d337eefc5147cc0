"""engine.console.logs: console lines in CI unless JSON is asked for, colours rules, the run's JSON log."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
import structlog

from engine.console import logs


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colours_only_on_a_terminal_without_no_color_or_dumb_term() -> None:
    assert logs.colours_wanted(Tty(), {"TERM": "xterm"}) is True
    assert logs.colours_wanted(Tty(), {"TERM": "xterm", "NO_COLOR": ""}) is False
    assert logs.colours_wanted(Tty(), {"TERM": "dumb"}) is False
    assert logs.colours_wanted(io.StringIO(), {"TERM": "xterm"}) is False


def test_no_live_block_on_a_dumb_terminal() -> None:
    assert logs.live_wanted(Tty(), {"TERM": "xterm-256color"}) is True
    assert logs.live_wanted(Tty(), {"TERM": "dumb"}) is False
    assert logs.live_wanted(io.StringIO(), {}) is False


def _emit(capsys: pytest.CaptureFixture[str]) -> str:
    structlog.get_logger().info("node_built", node="numpy", duration_s=1.5)
    return capsys.readouterr().err


def test_ci_gets_console_lines_not_json(monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.delenv("STACKBUILD_LOG_FORMAT", raising=False)
    logs.configure("auto")
    line = _emit(capsys)
    assert "node_built" in line and "node=numpy" in line
    assert not line.lstrip().startswith("{")
    assert "\x1b[" not in line  # stderr is not a terminal here: no colour codes


def test_json_when_asked_by_environment(monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("STACKBUILD_LOG_FORMAT", "json")
    logs.configure("auto")
    event = json.loads(_emit(capsys).strip())
    assert (event["event"], event["node"], event["duration_s"]) == ("node_built", "numpy", 1.5)


def test_json_log_file_gets_every_event_while_open(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("console")
    path = tmp_path / "log.jsonl"
    with logs.json_log(path):
        structlog.get_logger().info("node_started", node="a")
        logging.getLogger("python_on_whales").warning("from a library")
    structlog.get_logger().info("after", node="b")
    events = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [(e["event"], e.get("node")) for e in events] == [("node_started", "a"), ("from a library", "*")]
    assert "node_started" in capsys.readouterr().err  # the console still shows it


def test_an_event_outside_a_nodes_work_names_the_run(tmp_path: Path) -> None:
    logs.configure("console")
    path = tmp_path / "log.jsonl"
    with logs.json_log(path):
        structlog.get_logger().warning("registry_retried", attempt=1)
        structlog.contextvars.bind_contextvars(node="numpy")
        try:
            structlog.get_logger().warning("registry_retried", attempt=2)
        finally:
            structlog.contextvars.unbind_contextvars("node")
    events = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [(e["attempt"], e["node"]) for e in events] == [(1, "*"), (2, "numpy")]
