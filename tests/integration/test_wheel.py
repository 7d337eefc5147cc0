"""The wheel: built from the repository, installed into a fresh virtual environment outside it, it
plans a copied stack; it ships graph and engine with py.typed, never bench or tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*argv: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{argv}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
    return result


def test_a_wheel_installs_outside_the_repository_and_plans_a_copied_stack(tmp_path: Path) -> None:
    pip = Path(sys.executable).parent / "pip"
    _run(pip, "wheel", "--no-deps", "-q", "-w", tmp_path / "dist", ROOT, cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("stackbuild-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "graph/py.typed" in names and "engine/py.typed" in names
    assert not [name for name in names if name.startswith(("bench/", "tests/"))]
    _run(sys.executable, "-m", "venv", tmp_path / "venv", cwd=tmp_path)
    _run(tmp_path / "venv" / "bin" / "pip", "install", "-q", wheel, cwd=tmp_path)
    project = tmp_path / "elsewhere"
    shutil.copytree(ROOT / "stacks" / "demo", project / "stacks" / "demo",
                    ignore=shutil.ignore_patterns("rootfs"))
    plan = _run(tmp_path / "venv" / "bin" / "stackbuild", "plan", "--offline", "--secret-src-allow",
                "/etc/ssl/certs/ca-certificates.crt", cwd=project)  # the demo's CA bundle secret
    assert plan.stdout.splitlines()[-1] == "13 nodes: 13 build"
    version = _run(tmp_path / "venv" / "bin" / "stackbuild", "--version", cwd=project)
    assert version.stdout.strip() == "stackbuild 0.1.0"
