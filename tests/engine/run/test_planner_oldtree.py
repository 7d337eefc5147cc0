"""PR mode reads the old stacks from a tree with stand-ins only for what they name (a real git repository)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from engine.run import api, prchanges
from engine.run.prchanges import pr_changes
from graph.expand.assemble import load_graph
from graph.expand.dag import StackGraph
from tests.engine.engine_fakes import NODES, STACK, commit_all, git, write_stack

OUT = '  out: {kind: tool, tag: "9", dockerfile: ../../images/out/Dockerfile, context: ../../images}\n'


def _add_out_node(root: Path, images: Path) -> None:
    """A node whose Dockerfile and context are in root/images (itself maybe a link to images)."""
    (images / "out").mkdir(parents=True)
    (images / "out" / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    (images / "out" / "app.txt").write_text("v1\n", encoding="utf-8")
    with (root / "stacks/t/stack.yaml").open("a", encoding="utf-8") as stack:
        stack.write(OUT)


def _changes(root: Path) -> dict[str, str]:
    graph = api.load(api.Options(root=root, targets=STACK))
    return pr_changes(graph, root, "HEAD", STACK)


@pytest.fixture
def old_trees(monkeypatch: pytest.MonkeyPatch) -> list[set[str]]:
    """What each old tree PR mode loads holds (every file, folder and link, relative to it)."""
    seen: list[set[str]] = []

    def recording(root: Path, targets: Sequence[Path]) -> StackGraph:
        seen.append({(Path(folder) / name).relative_to(root).as_posix()
                     for folder, dirs, files in os.walk(root) for name in dirs + files})
        return load_graph(root, targets)

    monkeypatch.setattr(prchanges, "load_graph", recording)
    return seen


def test_pr_mode_writes_no_stand_in_for_what_the_old_stacks_do_not_name(
        tmp_path: Path, old_trees: list[set[str]]) -> None:
    root = tmp_path / "repo"
    write_stack(root)
    _add_out_node(root, root / "images")
    for index in range(400):  # the rest of a large repository
        (root / "src" / f"d{index % 4}").mkdir(parents=True, exist_ok=True)
        (root / "src" / f"d{index % 4}" / f"f{index}.txt").write_text("x\n", encoding="utf-8")
    (root / "README.md").write_text("docs\n", encoding="utf-8")
    commit_all(root, "one")
    (root / "stacks/t/mid/Dockerfile").write_text("FROM scratch\n# edited\n", encoding="utf-8")
    (root / "images/out/app.txt").write_text("v2\n", encoding="utf-8")
    assert _changes(root) == {"mid": "dockerfile_changed", "out": "context_changed: out/app.txt"}
    [tree] = old_trees
    assert {"images", "images/out", "images/out/Dockerfile", "stacks/t/stack.yaml"} <= tree
    assert not {"src", "README.md", "images/out/app.txt"} & tree
    assert len(tree) == 16  # stacks, t, the stack file, 5 folders and Dockerfiles, images, out, Dockerfile


def test_pr_mode_old_stacks_load_through_a_symlinked_folder(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write_stack(root)
    _add_out_node(root, root / "vendor" / "images")
    os.symlink("vendor/images", root / "images")  # the stack names images/: a link within the repository
    commit_all(root, "one")
    (root / "stacks/t/mid/Dockerfile").write_text("FROM scratch\n# edited\n", encoding="utf-8")
    assert _changes(root) == {"mid": "dockerfile_changed"}  # the old stacks loaded: not every node new
    (root / "vendor/images/out/Dockerfile").write_text("FROM scratch\n# edited\n", encoding="utf-8")
    assert _changes(root) == {"mid": "dockerfile_changed", "out": "dockerfile_changed"}


def test_pr_mode_old_stacks_naming_a_link_out_of_the_tree_count_as_new(tmp_path: Path) -> None:
    root, outside = tmp_path / "repo", tmp_path / "outside"
    write_stack(root)
    _add_out_node(root, outside)  # at the fork images/ linked out of the repository
    os.symlink(str(outside), root / "images")
    commit_all(root, "one")
    (root / "images").unlink()
    shutil.copytree(outside, root / "images")  # the branch made it a real folder
    git(root, "add", "-A")
    assert _changes(root) == dict.fromkeys((*NODES, "out"), "new_node")  # refused at the fork: all new
    assert sorted(path.relative_to(outside).as_posix() for path in outside.rglob("*")) == [
        "out", "out/Dockerfile", "out/app.txt"]
    assert (outside / "out" / "Dockerfile").read_text(encoding="utf-8") == "FROM scratch\n"


def test_pr_mode_old_stacks_load_with_a_logo_outside_the_stacks_folder(tmp_path: Path) -> None:
    # loading checks a doc: logo is a PNG: an empty stand-in (or none) made every node of the fork new
    root = tmp_path / "repo"
    write_stack(root)
    (root / "docs").mkdir()
    (root / "docs" / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 16)
    with (root / "stacks/t/stack.yaml").open("a", encoding="utf-8") as stack:
        stack.write('  logoed: {kind: tool, parent: base, tag: "6", dockerfile: side/Dockerfile,'
                    ' context: side, doc: {logo: ../../docs/logo.png}}\n')
    commit_all(root, "one")
    (root / "stacks/t/mid/Dockerfile").write_text("FROM scratch\n# edited\n", encoding="utf-8")
    assert _changes(root) == {"mid": "dockerfile_changed"}


@pytest.mark.parametrize("linked", ["folder", "file"])
def test_pr_mode_old_stacks_load_with_a_default_dockerfile_reached_through_a_link(
        tmp_path: Path, linked: str) -> None:
    # a node without `dockerfile:` builds <name>/Dockerfile beside the stack file: the stacks never name
    # it, yet a link there (its folder, or the file itself) must lead to a stand-in at the fork as well
    root = tmp_path / "repo"
    folder = write_stack(root)
    (root / "vendor").mkdir()
    if linked == "folder":
        (folder / "side").rename(root / "vendor" / "side")
        os.symlink("../../vendor/side", folder / "side")
    else:
        (folder / "side" / "Dockerfile").rename(root / "vendor" / "side.Dockerfile")
        os.symlink("../../../vendor/side.Dockerfile", folder / "side" / "Dockerfile")
    commit_all(root, "one")
    (root / "stacks/t/mid/Dockerfile").write_text("FROM scratch\n# edited\n", encoding="utf-8")
    assert _changes(root) == {"mid": "dockerfile_changed"}  # the old stacks loaded: not every node new


@pytest.mark.parametrize("named", ["a link", "a build arg"])
def test_pr_mode_old_stacks_load_with_a_logo_through_a_link_or_a_logo_that_is_no_file(
        tmp_path: Path, named: str) -> None:
    # the logo loading reads is exported through a link on the way; a `logo` key that names no file
    # (a build arg so named) is left out: either made every node of the fork new
    root = tmp_path / "repo"
    write_stack(root)
    (root / "docs").mkdir()
    (root / "docs" / "real.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 16)
    os.symlink("real.png", root / "docs" / "logo.png")
    extra = "doc: {logo: ../../docs/logo.png}" if named == "a link" else "args: {logo: not a file}"
    with (root / "stacks/t/stack.yaml").open("a", encoding="utf-8") as stack:
        stack.write(f'  logoed: {{kind: tool, parent: base, tag: "6", dockerfile: side/Dockerfile,'
                    f' context: side, {extra}}}\n')
    commit_all(root, "one")
    (root / "stacks/t/mid/Dockerfile").write_text("FROM scratch\n# edited\n", encoding="utf-8")
    assert _changes(root) == {"mid": "dockerfile_changed"}


@pytest.mark.parametrize("absolute", [False, True])
def test_pr_mode_reads_the_old_stacks_of_an_absolute_target_too(tmp_path: Path, absolute: bool) -> None:
    # an absolute target exported '/' at the fork: git refused it and every node counted as new
    root = tmp_path / "repo"
    write_stack(root)
    commit_all(root, "one")
    (root / "stacks/t/mid/Dockerfile").write_text("FROM scratch\n# edited\n", encoding="utf-8")
    target = (root / "stacks" / "t") if absolute else Path("stacks/t")
    graph = api.load(api.Options(root=root, targets=(target,)))
    assert pr_changes(graph, root, "HEAD", (target,)) == {"mid": "dockerfile_changed"}


@pytest.mark.parametrize(("target", "below"), [(".", ""), ("absolute", ""), (".", "sub")])
def test_pr_mode_with_the_repository_as_target_exports_only_its_stack_files(
        tmp_path: Path, old_trees: list[set[str]], target: str, below: str) -> None:
    # a target naming the stacks' root itself (stack folders at its top) exported all of it at the fork,
    # however many files the repository holds; loading needs only the stack files and stand-ins
    repo = tmp_path / "repo"
    root = repo / below
    root.mkdir(parents=True)
    write_stack(tmp_path / "made").rename(root / "t")
    (root / "src").mkdir()
    for index in range(40):  # the rest of the repository
        (root / "src" / f"f{index}.txt").write_text("x\n", encoding="utf-8")
    commit_all(repo, "one")
    (root / "t/mid/Dockerfile").write_text("FROM scratch\n# edited\n", encoding="utf-8")
    targets = (Path(".") if target == "." else root,)
    graph = api.load(api.Options(root=root, targets=targets))
    assert pr_changes(graph, root, "HEAD", targets) == {"mid": "dockerfile_changed"}
    [tree] = old_trees
    assert "t/stack.yaml" in tree
    assert "src/f0.txt" not in tree
    assert len(tree) == 13  # t, the stack file, 5 folders and Dockerfile stand-ins; src, left empty
