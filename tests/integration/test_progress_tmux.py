"""The live progress block in a real terminal: tmux, 40 columns, long node names.

A build (fake builder and registry, real logging and progress code: no engine, but a real terminal,
hence among the integration tests) runs in a tmux pane; the pane's whole history must hold the
block exactly once (each redraw erased the one before it, no wrapped debris), the final summary
must be right, and NO_COLOR / TERM=dumb must be honoured.
Fails in CI (CI set) without tmux, skips elsewhere; `make setup` installs it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.engine.console.progress_driver import NAMES

ROOT = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 40, 20
FINISHED = "__driver_finished__"
HEADER = re.compile(r"^\[\d\d:\d\d\] \d+/\d+ built")
SGR = re.compile(r"\x1b\[[0-9;]*m")
DEADLINE_S = 60.0


def _tmux() -> str:
    tmux = shutil.which("tmux")
    if tmux is None:
        if os.environ.get("CI"):
            pytest.fail("tmux is required in CI for the progress view test (run `make setup`)")
        pytest.skip("tmux is not installed (`make setup` installs it)")
    return tmux


def run_in_tmux(tmp_path: Path, env: dict[str, str]) -> tuple[list[str], str]:
    """Run the driver in a fresh 40-column tmux pane; (pane history as plain rows, with escapes)."""
    tmux = _tmux()
    server = ["-L", f"sbprogress-{uuid.uuid4().hex[:8]}"]  # our own tmux server, nobody else's
    assignments = [f"{key}={value}" for key, value in env.items()]
    command = ["env", "-u", "NO_COLOR", "-u", "CI", "-u", "GITHUB_ACTIONS", "-u", "GITLAB_CI", *assignments,
               sys.executable, "-m", "tests.engine.console.progress_driver", str(tmp_path)]
    shell = " ".join(f"'{part}'" for part in command) + f"; echo {FINISHED}; sleep 60"
    size = ["-x", str(WIDTH), "-y", str(HEIGHT)]
    subprocess.run([tmux, *server, "-f", "/dev/null", "new-session", "-d", *size, "-c", str(ROOT), shell],
                   check=True)
    try:
        deadline = time.monotonic() + DEADLINE_S
        while FINISHED not in _capture(tmux, server, escapes=False):
            assert time.monotonic() < deadline, _capture(tmux, server, escapes=False)
            time.sleep(0.2)
        plain = _capture(tmux, server, escapes=False)
        return plain.splitlines(), _capture(tmux, server, escapes=True)
    finally:
        subprocess.run([tmux, *server, "kill-server"], check=False)


def _capture(tmux: str, server: list[str], escapes: bool) -> str:
    flags = ["-p", "-S", "-", "-E", "-"] + (["-e"] if escapes else [])
    return subprocess.run([tmux, *server, "capture-pane", *flags], check=True, capture_output=True,
                          text=True).stdout


def test_the_block_is_redrawn_in_place_in_a_narrow_terminal(tmp_path: Path) -> None:
    rows, escaped = run_in_tmux(tmp_path, {"TERM": "xterm-256color"})
    headers = [row for row in rows if HEADER.match(row)]
    # only the final block, cut to the width (39 columns: the 40th would make tmux wrap)
    assert headers == [f"{headers[0][:7]} 4/4 built · 0 running · 0 queue"], rows
    assert all(len(row) <= WIDTH for row in rows)
    block_rows = [row for row in rows if row.startswith("  running ") or row.startswith("  failed ")]
    assert block_rows == [], rows  # no running-node rows left behind by an earlier redraw
    summary = [row for row in rows if row.startswith("succeeded")]
    assert len(summary) >= len(NAMES)  # each summary line wraps at 40 columns, but each node has one
    assert "4 built, 4 tags promoted," in "".join(rows)
    assert "status succeeded" in "".join(rows)
    assert SGR.search(escaped), "colours are expected on a colour terminal without NO_COLOR"


def test_no_color_gives_no_colours(tmp_path: Path) -> None:
    rows, escaped = run_in_tmux(tmp_path, {"TERM": "xterm-256color", "NO_COLOR": "1"})
    assert SGR.search(escaped) is None, escaped[:2000]
    assert len([row for row in rows if HEADER.match(row)]) == 1  # the block itself stays


def test_term_dumb_gives_no_live_block_and_no_colours(tmp_path: Path) -> None:
    rows, escaped = run_in_tmux(tmp_path, {"TERM": "dumb"})
    assert [row for row in rows if HEADER.match(row)] == [], rows
    assert SGR.search(escaped) is None, escaped[:2000]
    assert "status succeeded" in "".join(rows)
