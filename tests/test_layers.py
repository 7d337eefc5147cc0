"""The package layout: import-linter's contracts (rooms import only rooms below; graph stays pure)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept() -> None:
    linter = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(linter), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "3 kept, 0 broken" in result.stdout


def test_every_room_says_what_lives_there() -> None:
    rooms = [p for pkg in ("graph", "engine") for p in (ROOT / pkg).iterdir()
             if p.is_dir() and (p / "__init__.py").exists()]
    assert len(rooms) >= 12
    for room in rooms:
        text = (room / "__init__.py").read_text(encoding="utf-8")
        assert text.startswith('"""') and len(text.strip()) > 20, room


def test_no_test_module_imports_another() -> None:
    """Shared samples and fakes live in helper modules (no test_ prefix), never in a test module."""
    imported = []
    for path in (ROOT / "tests").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [f"{node.module}.{alias.name}" for alias in node.names]
                     if isinstance(node, ast.ImportFrom) and node.module else [])
            imported += [f"{path.relative_to(ROOT)}: {name}" for name in names
                         if name.startswith("tests.") and ".test_" in name]
    assert imported == []
