"""`export meta` never writes or removes through a symbolic link inside its output folder: it stops before
touching anything, naming the link; a file it writes that is a link is replaced, never written through."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from engine.cli import main as cli
from engine.cli.exportlisting import LISTING
from tests.engine.engine_fakes import write_stack

HINT = "(remove the link or make it a real folder, or name another --out)"


def export(root: Path, out: Path) -> int:
    return cli.main(["export", "meta", "--root", str(root), "--out", str(out)])


def files_below(folder: Path) -> dict[str, str]:
    """Every file and link below folder: its content, or where the link points."""
    return {path.relative_to(folder).as_posix(): os.readlink(path) if path.is_symlink()
            else path.read_text(encoding="utf-8")
            for path in sorted(folder.rglob("*")) if path.is_symlink() or path.is_file()}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = write_stack(tmp_path / "repo")
    (folder / "leaf" / "ctx.txt").write_text("from the context\n", encoding="utf-8")
    return tmp_path / "repo"


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


def test_meta_yml_and_a_tag_folder_are_not_written_through_a_linked_image_folder(
        root: Path, tmp_path: Path, elsewhere: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "meta"
    (out / "t").mkdir(parents=True)
    (out / "t" / "leaf").symlink_to(elsewhere, target_is_directory=True)
    code = export(root, out)
    assert files_below(elsewhere) == {}
    assert files_below(out) == {"t/leaf": str(elsewhere)}  # it stopped before writing anything
    assert code == 2
    assert capsys.readouterr().err == (
        f"error: --out: {out}/t/leaf is a symbolic link inside the output folder; export meta writes "
        f"t/leaf/3/any/Dockerfile through it and never writes or removes a file through a link {HINT}\n")


def test_a_file_outside_is_not_replaced_through_a_linked_tag_folder(
        root: Path, tmp_path: Path, elsewhere: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "meta"
    (out / "t" / "leaf").mkdir(parents=True)
    (out / "t" / "leaf" / "3").symlink_to(elsewhere, target_is_directory=True)
    (elsewhere / "any").mkdir()
    (elsewhere / "any" / "ctx.txt").symlink_to(tmp_path / "precious")  # the old code unlinks it
    (elsewhere / "any" / "Dockerfile").write_text("theirs\n", encoding="utf-8")
    before = files_below(elsewhere)
    code = export(root, out)
    assert files_below(elsewhere) == before
    assert code == 2
    assert f"{out}/t/leaf/3 is a symbolic link inside the output folder" in capsys.readouterr().err


def test_a_stale_file_behind_a_linked_folder_stops_the_export_and_stays(
        root: Path, tmp_path: Path, elsewhere: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "meta"
    assert export(root, out) == 0
    shutil.move(out / "t" / "side", elsewhere / "side")
    (out / "t" / "side").symlink_to(elsewhere / "side", target_is_directory=True)
    stack = root / "stacks" / "t" / "stack.yaml"
    side = '  side: {kind: tool, parent: base, tag: "4"}\n'
    stack.write_text(stack.read_text(encoding="utf-8").replace(side, ""), encoding="utf-8")
    before, listing = files_below(elsewhere), (out / LISTING).read_text(encoding="utf-8")
    capsys.readouterr()
    code = export(root, out)
    assert files_below(elsewhere) == before
    assert code == 2
    assert capsys.readouterr().err == (
        f"error: --out: {out}/t/side is a symbolic link inside the output folder; export meta removes "
        f"t/side/4/any/Dockerfile through it and never writes or removes a file through a link {HINT}\n")
    assert files_below(elsewhere) == before
    assert (out / LISTING).read_text(encoding="utf-8") == listing


@pytest.mark.parametrize("written", ["t/leaf/meta.yml", "t/leaf/3/any/Dockerfile", "t/leaf/3/any/ctx.txt",
                                     "t/leaf/README.md"])
def test_a_written_file_that_is_a_link_is_replaced_not_written_through(
        written: str, root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, victim = tmp_path / "meta", tmp_path / "victim.txt"
    assert export(root, out) == 0
    victim.write_text("keep\n", encoding="utf-8")
    (out / written).unlink()
    (out / written).symlink_to(victim)
    assert export(root, out) == 0
    assert victim.read_text(encoding="utf-8") == "keep\n"
    assert not (out / written).is_symlink()
    assert written in json.loads((out / LISTING).read_text(encoding="utf-8"))["files"]


def test_a_folder_where_a_file_goes_stops_the_export_before_anything_is_written(
        root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # it stopped with "cannot use" (exit 1) halfway, some tag folders and meta.yml files written
    out = tmp_path / "meta"
    (out / "t" / "leaf" / "3" / "any" / "Dockerfile").mkdir(parents=True)
    assert export(root, out) == 2
    assert capsys.readouterr().err == (
        f"error: --out: {out}/t/leaf/3/any/Dockerfile is a folder, where export meta writes a file "
        "(remove or rename that folder, or name another --out)\n")
    assert files_below(out) == {}


def test_a_file_where_a_folder_goes_stops_the_export_unless_the_export_removes_it_first(
        root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "meta"
    (out / "t").mkdir(parents=True)
    (out / "t" / "leaf").write_text("mine\n", encoding="utf-8")
    assert export(root, out) == 2
    assert capsys.readouterr().err.startswith(
        f"error: --out: {out}/t/leaf is a file, where export meta needs a folder for t/leaf/")
    assert files_below(out) == {"t/leaf": "mine\n"}
    (out / "t" / "leaf").unlink()
    assert export(root, out) == 0  # an export's own stale file in the way is removed first
    listing = json.loads((out / LISTING).read_text(encoding="utf-8"))
    shutil.rmtree(out / "t" / "leaf")
    (out / "t" / "leaf").write_text("stale\n", encoding="utf-8")
    (out / LISTING).write_text(json.dumps({**listing, "files": [*listing["files"], "t/leaf"]}),
                               encoding="utf-8")
    assert export(root, out) == 0
    assert (out / "t" / "leaf").is_dir()
