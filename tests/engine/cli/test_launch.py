"""The console script's launcher: the command runs with the collector on, its imports frozen."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import launch

ROOT = Path(__file__).resolve().parents[3]


def test_the_command_runs_with_the_collector_back_on(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[bool, int]] = []

    def command() -> int:
        seen.append((gc.isenabled(), gc.get_freeze_count()))
        return 7

    monkeypatch.setattr("engine.cli.main.main", command)
    try:
        assert launch.main() == 7
    finally:
        gc.unfreeze()
    assert seen[0][0] is True
    assert seen[0][1] > 0  # what the imports made is in the permanent generation


def test_python_dash_m_goes_through_the_launcher() -> None:
    probe = ("import gc, runpy, sys; sys.argv = ['stackbuild', '--help'];\n"
             "import engine.cli.launch as l; real = l.main\n"
             "def spy():\n    print('launcher'); return real()\n"
             "l.main = spy\nrunpy.run_module('engine.cli', run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("launcher") and "usage: stackbuild" in done.stdout
