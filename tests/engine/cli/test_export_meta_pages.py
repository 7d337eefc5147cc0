"""`export meta` writes each image's README.md, doc/image-info.yml and logo beside its meta.yml, lists them
so the next export removes the stale ones, and keeps a page it did not write (one written by hand)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from engine.cli import main as cli
from engine.cli.exportlisting import LISTING
from graph.load.imagedoc import PNG_SIGNATURE
from tests.engine.engine_fakes import NODES, write_stack

LOGO = PNG_SIGNATURE + b"logo bytes"
SIDE = '  side: {kind: tool, parent: base, tag: "4"}\n'
SIDE_WITH_DOC = ('  side: {kind: tool, parent: base, tag: "4", '
                 'doc: {description: The side tool., logo: logo.png}}\n')


def export(root: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert cli.main(["export", "meta", "--root", str(root), "--out", str(out)]) == 0
    return capsys.readouterr().out.splitlines()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = write_stack(tmp_path / "repo")
    (folder / "logo.png").write_bytes(LOGO)
    stack = folder / "stack.yaml"
    text = stack.read_text(encoding="utf-8")
    assert SIDE in text
    stack.write_text(text.replace(SIDE, SIDE_WITH_DOC), encoding="utf-8")
    return tmp_path / "repo"


def test_every_image_gets_its_pages_and_the_listing_names_them(
        root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "meta"
    lines = export(root, out, capsys)
    assert lines[-1] == "wrote 5 image pages (README.md, doc/image-info.yml, 1 logo)"
    side = out / "t" / "side"
    assert (side / "doc" / "picture" / "logo.png").read_bytes() == LOGO
    info = yaml.safe_load((side / "doc" / "image-info.yml").read_text(encoding="utf-8"))
    assert (info["name"], info["description"]) == ("side", "The side tool.")
    readme = (side / "README.md").read_text(encoding="utf-8")
    assert "| [4](4/any/Dockerfile) | side | amd64, arm64 |" in readme
    listed = set(json.loads((out / LISTING).read_text(encoding="utf-8"))["files"])
    pages = {f"t/{name}/{page}" for name in NODES for page in ("README.md", "doc/image-info.yml")}
    assert pages | {"t/side/doc/picture/logo.png"} <= listed


def test_a_page_no_export_wrote_is_kept_and_the_others_are_written(
        root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "meta"
    (out / "t" / "leaf").mkdir(parents=True)
    (out / "t" / "leaf" / "README.md").write_text("by hand\n", encoding="utf-8")
    lines = export(root, out, capsys)
    assert f"kept {out}/t/leaf/README.md as it is: the previous export did not write it " \
           "(remove it to have it written)" in lines
    assert (out / "t" / "leaf" / "README.md").read_text(encoding="utf-8") == "by hand\n"
    assert (out / "t" / "leaf" / "doc" / "image-info.yml").is_file()
    assert "t/leaf/README.md" not in json.loads((out / LISTING).read_text(encoding="utf-8"))["files"]
    export(root, out, capsys)  # still not ours: kept again, never removed
    assert (out / "t" / "leaf" / "README.md").read_text(encoding="utf-8") == "by hand\n"


def test_a_page_the_last_export_wrote_is_written_again(
        root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "meta"
    export(root, out, capsys)
    stack = root / "stacks" / "t" / "stack.yaml"
    stack.write_text(stack.read_text(encoding="utf-8").replace("The side tool.", "The new words."),
                     encoding="utf-8")
    export(root, out, capsys)
    assert "The new words." in (out / "t" / "side" / "README.md").read_text(encoding="utf-8")


def test_stale_pages_and_logos_are_removed_with_their_folders(
        root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "meta"
    export(root, out, capsys)
    stack = root / "stacks" / "t" / "stack.yaml"
    text = stack.read_text(encoding="utf-8")
    stack.write_text(text.replace(", logo: logo.png", ""), encoding="utf-8")
    export(root, out, capsys)
    assert not (out / "t" / "side" / "doc" / "picture").exists()
    assert (out / "t" / "side" / "doc" / "image-info.yml").is_file()
    stack.write_text(text.replace(SIDE_WITH_DOC, ""), encoding="utf-8")
    lines = export(root, out, capsys)
    assert not (out / "t" / "side").exists()
    # its meta.yml, Dockerfile, README.md and image-info.yml
    assert lines[-1] == "removed 4 files the previous export wrote and this one does not"


def test_no_page_is_written_through_a_linked_folder(
        root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, elsewhere = tmp_path / "meta", tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "t" / "side").mkdir(parents=True)
    (out / "t" / "side" / "doc").symlink_to(elsewhere, target_is_directory=True)
    assert cli.main(["export", "meta", "--root", str(root), "--out", str(out)]) == 2
    assert f"error: --out: {out}/t/side/doc is a symbolic link inside the output folder; export meta " \
           "writes t/side/doc/image-info.yml through it" in capsys.readouterr().err
    assert list(elsewhere.iterdir()) == []


def test_a_page_made_a_folder_since_the_last_export_is_kept(
        root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "meta"
    export(root, out, capsys)
    readme = out / "t" / "leaf" / "README.md"
    readme.unlink()
    readme.mkdir()
    lines = export(root, out, capsys)
    assert f"kept {readme} as it is: it is a folder" in lines
    assert readme.is_dir()


def test_link_base_makes_the_tag_links_absolute(root: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "meta"
    assert cli.main(["export", "meta", "--root", str(root), "--out", str(out),
                     "--link-base", "https://gitee.com/openeuler/openeuler-docker-images/blob/master/"]) == 0
    readme = (out / "t" / "side" / "README.md").read_text(encoding="utf-8")
    assert "| [4](https://gitee.com/openeuler/openeuler-docker-images/blob/master/t/side/4/any/Dockerfile) " \
           "| side | amd64, arm64 |" in readme


@pytest.mark.parametrize(("argv", "expected"), [
    (["meta", "--link-base", "gitee.com/openeuler"],
     "error: --link-base: 'gitee.com/openeuler' is not an https:// or http:// URL (give the URL the output "
     "folder is published at, e.g. https://gitee.com/openeuler/openeuler-docker-images/blob/master)\n"),
    (["meta", "--link-base", "https://gitee.com/a\tb"],
     "error: --link-base: 'https://gitee.com/a\\tb' contains the control character U+0009 (remove the "
     "control characters)\n"),
    (["bake", "--link-base", "https://gitee.com/x"],
     "error: --link-base: only export meta writes pages with links (drop --link-base)\n"),
])
def test_a_bad_link_base_is_refused(argv: list[str], expected: str, root: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "meta"
    assert cli.main(["export", *argv, "--root", str(root), "--out", str(out)]) == 2
    assert capsys.readouterr().err == expected
    assert not out.exists()
