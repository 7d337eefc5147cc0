"""`export meta` again into the same folder: what the last export wrote and this one does not is removed,
anything else stays; a planted or damaged listing never makes it remove a file it did not write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import main as cli
from engine.cli.exportlisting import FORMAT, LISTING
from tests.engine.engine_fakes import write_stack


def export(root: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert cli.main(["export", "meta", "--root", str(root), "--out", str(out)]) == 0
    return capsys.readouterr().out.splitlines()


def files_below(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if not path.is_dir()}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write_stack(tmp_path / "repo")
    return tmp_path / "repo"


def test_files_the_last_export_wrote_and_this_one_does_not_are_removed(
        root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "meta"
    leaf = root / "stacks" / "t" / "leaf"
    (leaf / "conf").mkdir()
    (leaf / "conf" / "old.txt").write_text("old\n", encoding="utf-8")
    export(root, out, capsys)
    assert "t/leaf/3/any/conf/old.txt" in files_below(out)
    (out / "t" / "leaf" / "NOTES.md").write_text("by hand\n", encoding="utf-8")  # beside the export
    first = files_below(out)
    (leaf / "conf" / "old.txt").unlink()
    (leaf / "conf").rmdir()
    (leaf / "conf").write_text("now a file\n", encoding="utf-8")  # a folder before, a file now
    lines = export(root, out, capsys)
    assert lines[-1] == "removed 1 files the previous export wrote and this one does not"
    assert files_below(out) == (first - {"t/leaf/3/any/conf/old.txt"}) | {"t/leaf/3/any/conf"}
    assert (out / "t" / "leaf" / "NOTES.md").read_text(encoding="utf-8") == "by hand\n"
    assert (out / "t" / "leaf" / "3" / "any" / "conf").read_text(encoding="utf-8") == "now a file\n"


def test_a_removed_node_leaves_no_folder_behind(root: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "meta"
    export(root, out, capsys)
    assert (out / "t" / "side").is_dir()
    stack = root / "stacks" / "t" / "stack.yaml"
    text = stack.read_text(encoding="utf-8")
    assert '  side: {kind: tool, parent: base, tag: "4"}\n' in text
    stack.write_text(text.replace('  side: {kind: tool, parent: base, tag: "4"}\n', ""), encoding="utf-8")
    export(root, out, capsys)
    assert not (out / "t" / "side").exists()
    listed = json.loads((out / LISTING).read_text(encoding="utf-8"))["files"]
    assert sorted(listed) == sorted(files_below(out) - {LISTING})


@pytest.mark.parametrize("planted", ["../victim.txt", "/ABS", "t/../../victim.txt", "link/victim.txt",
                                     "./victim.txt", ""])
def test_a_planted_listing_removes_nothing_outside_or_through_a_link(
        planted: str, root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "meta"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep\n", encoding="utf-8")
    (out / "link").symlink_to(tmp_path, target_is_directory=True)
    entry = str(victim) if planted == "/ABS" else planted
    (out / LISTING).write_text(json.dumps({"format": FORMAT, "files": [entry]}), encoding="utf-8")
    if planted.startswith("link/"):  # through a link: the export stops before removing anything
        assert cli.main(["export", "meta", "--root", str(root), "--out", str(out)]) == 2
        assert f"{out}/link is a symbolic link inside the output folder" in capsys.readouterr().err
    else:
        export(root, out, capsys)
    assert victim.read_text(encoding="utf-8") == "keep\n"
    assert (out / "link").is_symlink()


@pytest.mark.parametrize("content", ["{not json", json.dumps({"format": "other", "files": ["t/x"]}),
                                     json.dumps(["t/x"]), json.dumps({"format": FORMAT, "files": "t/x"}),
                                     "[" * 100_000])  # too deep for json: RecursionError, a traceback
def test_a_damaged_listing_is_ignored_and_replaced(content: str, root: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "meta"
    (out / "t").mkdir(parents=True)
    (out / "t" / "x").write_text("keep\n", encoding="utf-8")
    (out / LISTING).write_text(content, encoding="utf-8")
    export(root, out, capsys)
    assert (out / "t" / "x").read_text(encoding="utf-8") == "keep\n"
    assert json.loads((out / LISTING).read_text(encoding="utf-8"))["format"] == FORMAT


def test_a_listing_that_is_a_symlink_is_not_followed(root: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "meta"
    (out / "t").mkdir(parents=True)
    (out / "t" / "x").write_text("keep\n", encoding="utf-8")
    elsewhere = tmp_path / "listing.json"
    elsewhere.write_text(json.dumps({"format": FORMAT, "files": ["t/x"]}), encoding="utf-8")
    (out / LISTING).symlink_to(elsewhere)
    export(root, out, capsys)
    assert (out / "t" / "x").exists() and not (out / LISTING).is_symlink()
    assert json.loads(elsewhere.read_text(encoding="utf-8"))["files"] == ["t/x"]  # not written through


@pytest.mark.parametrize("inside", [False, True])
def test_a_listing_that_is_a_folder_stops_the_export_before_anything_is_written(
        inside: bool, root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "meta"
    (out / LISTING).mkdir(parents=True)
    if inside:  # a file in it, which no export listed: it stays, so the folder stays
        (out / LISTING / "notes.txt").write_text("mine\n", encoding="utf-8")
    before = files_below(out)
    assert cli.main(["export", "meta", "--root", str(root), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"--out: {out / LISTING} is a folder, where export meta writes a file" in err
    assert "Traceback" not in err and "export_listing_ignored" not in err  # refused, not read
    assert files_below(out) == before and sorted(p.name for p in out.iterdir()) == [LISTING]
