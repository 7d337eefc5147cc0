"""gitexport: an old tree streamed from git archive, stand-ins for the paths named — on a real temporary
repository."""

from __future__ import annotations

import io
import os
import shlex
import tarfile
import tracemalloc
from pathlib import Path

import pytest

from engine.state import gitexport
from engine.state.gitinfo import GitError
from tests.engine.engine_fakes import commit_all


def test_export_tree_writes_the_files_as_they_were_at_ref(repo: Path, tmp_path: Path) -> None:
    (repo / "stacks" / "t" / "stack.yaml").write_text("stack: t2\n", encoding="utf-8")
    (repo / "stacks" / "t" / "a" / "added.txt").write_text("added\n", encoding="utf-8")
    commit_all(repo, "two")
    (repo / "stacks" / "t" / "stack.yaml").write_text("stack: t3 (not committed)\n", encoding="utf-8")
    old = tmp_path / "old"
    gitexport.export_tree(repo, "HEAD~1", old, ["stacks"])
    assert (old / "stacks" / "t" / "stack.yaml").read_text(encoding="utf-8") == "stack: t\n"
    assert (old / "stacks" / "t" / "a" / "Dockerfile").read_text(encoding="utf-8") == "FROM scratch\n"
    assert not (old / "stacks" / "t" / "a" / "added.txt").exists()
    assert not (old / "README.md").exists()  # only the paths asked for
    new = tmp_path / "new"
    gitexport.export_tree(repo, "HEAD", new, ["stacks", "README.md"])
    assert (new / "stacks" / "t" / "stack.yaml").read_text(encoding="utf-8") == "stack: t2\n"
    assert (new / "stacks" / "t" / "a" / "added.txt").is_file()
    assert (new / "README.md").read_text(encoding="utf-8") == "v1\n"


def test_export_tree_keeps_the_executable_bit(repo: Path, tmp_path: Path) -> None:
    script = repo / "stacks" / "t" / "a" / "run.sh"
    script.write_text("#!/bin/sh\n", encoding="utf-8")
    script.chmod(0o755)
    commit_all(repo, "two")
    gitexport.export_tree(repo, "HEAD", tmp_path / "out", ["stacks"])
    assert os.access(tmp_path / "out" / "stacks" / "t" / "a" / "run.sh", os.X_OK)


@pytest.mark.parametrize("ref", ["no-such-branch", "HEAD~5", "0" * 40])
def test_export_tree_of_a_bad_ref_is_a_git_error_with_exit_code_2(repo: Path, tmp_path: Path,
                                                                   ref: str) -> None:
    with pytest.raises(GitError) as exported:
        gitexport.export_tree(repo, ref, tmp_path / "out", ["stacks"])
    assert exported.value.exit_code == 2
    assert str(exported.value).startswith(f"git archive --format=tar {ref} -- stacks failed: fatal: ")


@pytest.mark.parametrize("ref", ["-h", "--output=/tmp/x", "--no-index"])
def test_export_tree_refuses_a_ref_that_looks_like_an_option_before_git_runs(repo: Path, tmp_path: Path,
                                                                             ref: str) -> None:
    with pytest.raises(GitError, match="bad ref"):
        gitexport.export_tree(repo, ref, tmp_path / "out", ["stacks"])
    assert not (tmp_path / "out").exists()


@pytest.fixture(params=["data filter", "checked members"])
def extraction(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways of extracting: tarfile's data filter (Python 3.11.4+) and the checked members before it."""
    if request.param == "checked members":
        import tarfile

        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    return str(request.param)


def test_export_tree_extracts_with_or_without_the_data_filter(repo: Path, tmp_path: Path,
                                                               extraction: str) -> None:
    os.symlink("Dockerfile", repo / "stacks" / "t" / "a" / "link")
    commit_all(repo, "a link inside")
    gitexport.export_tree(repo, "HEAD", tmp_path / "out", ["stacks"])
    assert (tmp_path / "out" / "stacks" / "t" / "a" / "link").read_text(encoding="utf-8") == "FROM scratch\n"


def test_export_tree_refuses_a_link_out_of_the_tree(repo: Path, tmp_path: Path, extraction: str) -> None:
    os.symlink("../../../../../etc/hostname", repo / "stacks" / "t" / "a" / "escape")
    commit_all(repo, "a link outside")
    with pytest.raises(GitError, match="'stacks/t/a/escape', which points outside it"):
        gitexport.export_tree(repo, "HEAD", tmp_path / "out", ["stacks"])
    assert not (tmp_path / "out" / "stacks" / "t" / "a" / "escape").exists()


def _entries(top: Path) -> set[str]:
    """Every file, folder and link under top, relative to it."""
    return {(Path(folder) / name).relative_to(top).as_posix()
            for folder, dirs, files in os.walk(top) for name in dirs + files}


def test_export_outline_stands_in_only_for_the_paths_named(repo: Path, tmp_path: Path) -> None:
    for index in range(300):  # the rest of a big repository: none of it is written
        (repo / "src" / f"d{index % 3}").mkdir(parents=True, exist_ok=True)
        (repo / "src" / f"d{index % 3}" / f"f{index}.txt").write_text("x\n", encoding="utf-8")
    (repo / "images" / "out" / "ctx").mkdir(parents=True)
    (repo / "images" / "out" / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    (repo / "images" / "out" / "ctx" / "app.txt").write_text("v1\n", encoding="utf-8")
    commit_all(repo, "two")
    (repo / "README.md").write_text("v2\n", encoding="utf-8")
    dest = tmp_path / "old"
    gitexport.export_tree(repo, "HEAD", dest, ["stacks"])
    named = ["images/out/Dockerfile", "images/out/ctx", "stacks/t/a", "nowhere/Dockerfile", "../outside",
             "/abs", ".", ".git/config"]
    gitexport.export_outline(repo, "HEAD", dest, named)
    assert (dest / "stacks/t/stack.yaml").read_text(encoding="utf-8") == "stack: t\n"  # kept as exported
    assert (dest / "images/out/Dockerfile").read_bytes() == b""
    assert (dest / "images/out/ctx").is_dir()
    assert _entries(dest) == {"stacks", "stacks/t", "stacks/t/stack.yaml", "stacks/t/a",
                              "stacks/t/a/Dockerfile", "images", "images/out", "images/out/Dockerfile",
                              "images/out/ctx"}
    assert not (tmp_path / "outside").exists()


def test_export_outline_follows_a_symlink_on_the_way(repo: Path, tmp_path: Path) -> None:
    (repo / "vendor" / "docker" / "app").mkdir(parents=True)
    (repo / "vendor" / "docker" / "app" / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    (repo / "vendor" / "docker" / "app" / "big.bin").write_text("left out\n", encoding="utf-8")
    os.symlink("vendor/docker", repo / "docker")  # a folder linked elsewhere in the repository
    os.symlink("../../vendor/docker/app/Dockerfile", repo / "stacks" / "t" / "Dockerfile.link")
    commit_all(repo, "two")
    dest = tmp_path / "old"
    gitexport.export_tree(repo, "HEAD", dest, ["stacks"])
    gitexport.export_outline(repo, "HEAD", dest, ["docker/app/Dockerfile", "stacks/t/Dockerfile.link"])
    assert os.readlink(dest / "docker") == "vendor/docker"
    assert (dest / "docker/app/Dockerfile").is_file() and (dest / "stacks/t/Dockerfile.link").is_file()
    assert (dest / "docker/app/Dockerfile").resolve() == (dest / "vendor/docker/app/Dockerfile").resolve()
    assert not (dest / "vendor/docker/app/big.bin").exists()


def test_export_outline_refuses_a_symlink_out_of_the_tree(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "app").mkdir(parents=True)
    os.symlink(str(outside), repo / "docker")
    os.symlink("../../../..", repo / "stacks" / "t" / "up")
    commit_all(repo, "links out")
    dest = tmp_path / "old"
    for named, shown in (("docker/app/Dockerfile", "docker"), ("stacks/t/up/x/Dockerfile", "stacks/t/up")):
        with pytest.raises(GitError, match=f"the tree holds '{shown}', which points outside it"):
            gitexport.export_outline(repo, "HEAD", dest, [named])
        assert not os.path.lexists(dest / shown)
    assert _entries(outside) == {"app"}


def test_export_outline_of_a_bad_ref(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(GitError, match="bad ref"):
        gitexport.export_outline(repo, "--output=x", tmp_path / "old", ["README.md"])
    with pytest.raises(GitError, match=r"ls-tree -t -z nope -- README\.md failed: fatal: "):
        gitexport.export_outline(repo, "nope", tmp_path / "old", ["README.md"])


def test_export_tree_streams_a_large_file_in_bounded_memory(repo: Path, tmp_path: Path) -> None:
    size = 48 << 20
    with (repo / "stacks" / "t" / "a" / "big.bin").open("wb") as big:
        big.truncate(size)  # zeros: cheap for git to store, full size in the archive
    commit_all(repo, "a large file under the stacks")
    tracemalloc.start()
    try:
        gitexport.export_tree(repo, "HEAD", tmp_path / "out", ["stacks"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (tmp_path / "out" / "stacks/t/a/big.bin").stat().st_size == size
    assert peak < 4 << 20  # the whole archive read at once held it (and more) in memory


def _fake_git(folder: Path, monkeypatch: pytest.MonkeyPatch, output: bytes) -> None:
    """A git first on PATH that writes output, whatever it is asked, and exits 0."""
    folder.mkdir()
    (folder / "output").write_bytes(output)
    script = f"#!/bin/sh\nexec cat {shlex.quote(str(folder / 'output'))}\n"
    (folder / "git").write_text(script, encoding="utf-8")
    (folder / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


@pytest.mark.parametrize("kind", [tarfile.LNKTYPE, tarfile.FIFOTYPE, tarfile.CHRTYPE])
def test_export_tree_refuses_a_hard_link_or_device_git_never_writes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extraction: str, kind: bytes) -> None:
    member = tarfile.TarInfo("stacks/odd")
    member.type, member.linkname = kind, "/etc/hostname" if kind == tarfile.LNKTYPE else ""
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        tar.addfile(member)
    _fake_git(tmp_path / "bin", monkeypatch, archive.getvalue())
    with pytest.raises(GitError, match="'stacks/odd', which points outside it"):
        gitexport.export_tree(tmp_path, "HEAD", tmp_path / "out", ["stacks"])
    assert not os.path.lexists(tmp_path / "out" / "stacks" / "odd")


def test_export_tree_of_output_that_is_no_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_git(tmp_path / "bin", monkeypatch, b"not a tar archive\n" * 100)
    with pytest.raises(GitError, match=r"^cannot extract the archive of HEAD: ") as caught:
        gitexport.export_tree(tmp_path, "HEAD", tmp_path / "out", ["stacks"])
    assert caught.value.hint == "check the repository for odd symlinks and the git installation"


def test_export_tree_reads_the_archive_to_its_end(tmp_path: Path) -> None:
    # git pads its archive to whole 10 KiB records: when the end-of-archive block closes one record, the
    # padding record comes after what tarfile reads; closing the pipe then killed git (SIGPIPE) and the
    # export failed, so PR mode counted every node as new. One of these sizes ends the archive there.
    repo = tmp_path / "repo"
    (repo / "stacks").mkdir(parents=True)
    sizes = range(0, 10240, 512)
    for size in sizes:
        (repo / "stacks" / f"f{size:05}").write_bytes(b"x" * size)
    commit_all(repo, "one")
    for size in sizes:
        for attempt in range(8):  # git may still win the race: a failing size fails most attempts
            dest = tmp_path / f"out-{size}-{attempt}"
            gitexport.export_tree(repo, "HEAD", dest, [f"stacks/f{size:05}"])
            assert (dest / "stacks" / f"f{size:05}").stat().st_size == size


def test_export_tree_takes_paths_literally_not_as_patterns(repo: Path, tmp_path: Path) -> None:
    # a stack's `logo: ../../*` reached git archive as a pattern and exported the whole repository
    (repo / "src").mkdir()
    (repo / "src" / "big.txt").write_text("unrelated\n", encoding="utf-8")
    commit_all(repo, "more")
    with pytest.raises(GitError):
        gitexport.export_tree(repo, "HEAD", tmp_path / "out", ["*"])
    assert not (tmp_path / "out" / "src").exists()
