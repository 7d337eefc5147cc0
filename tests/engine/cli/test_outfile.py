"""--out files are written whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.cli import outfile
from engine.cli.outfile import write_output


def test_text_and_bytes_are_written_as_ordinary_files(tmp_path: Path) -> None:
    write_output(tmp_path / "a" / "plan.yml", "jobs: {}\n")
    write_output(tmp_path / "graph.png", b"\x89PNG")
    assert (tmp_path / "a" / "plan.yml").read_text(encoding="utf-8") == "jobs: {}\n"
    assert (tmp_path / "graph.png").read_bytes() == b"\x89PNG"
    assert (tmp_path / "graph.png").stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "graph.png"]


def test_a_write_that_fails_midway_keeps_the_old_file_and_leaves_no_temporary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "docker-bake.json"
    path.write_text("old\n", encoding="utf-8")

    def failing_replace(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(outfile.os, "replace", failing_replace)
    with pytest.raises(OSError):
        write_output(path, "new\n")
    assert path.read_text(encoding="utf-8") == "old\n"
    assert os.listdir(tmp_path) == ["docker-bake.json"]


def test_a_symlinked_output_is_written_through_the_link(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link.json").symlink_to(tmp_path / "real" / "out.json")
    write_output(tmp_path / "link.json", "{}\n")
    assert (tmp_path / "link.json").is_symlink()
    assert (tmp_path / "real" / "out.json").read_text(encoding="utf-8") == "{}\n"
