"""Build contexts written for context tests: files under a folder, and the paths its context sends."""

from __future__ import annotations

from pathlib import Path

from graph.context.files import list_context


def write(root: Path, files: dict[str, str]) -> Path:
    """Create files (POSIX paths under root) with the given text; return root."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def paths(root: Path, patterns: tuple[str, ...] = ()) -> list[str]:
    """The paths the context at root sends."""
    return [item.path for item in list_context(root, patterns)]
