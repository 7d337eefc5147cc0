"""gitinfo: revision, origin, files changed since a ref, the fork point — on a real temporary repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.errors import EngineError
from engine.state import gitinfo
from engine.state.gitinfo import GitError
from tests.engine.engine_fakes import commit_all, fork, git


def test_clean_tree_has_no_changes(repo: Path) -> None:
    assert gitinfo.changed_files(repo, "HEAD") == set()


def test_changed_files_include_modified_staged_and_untracked_but_not_ignored(repo: Path) -> None:
    (repo / "README.md").write_text("v2\n", encoding="utf-8")  # modified, not staged
    (repo / "stacks" / "t" / "stack.yaml").write_text("stack: t2\n", encoding="utf-8")
    git(repo, "add", "stacks/t/stack.yaml")  # staged
    (repo / "stacks" / "t" / "a" / "new.txt").write_text("new\n", encoding="utf-8")  # untracked
    (repo / "build.log").write_text("ignored\n", encoding="utf-8")  # ignored by *.log
    (repo / "state").mkdir()
    (repo / "state" / "history.db").write_text("ignored\n", encoding="utf-8")  # ignored folder
    (repo / "old.txt").unlink()  # deleted
    assert gitinfo.changed_files(repo, "HEAD") == {
        "README.md", "stacks/t/stack.yaml", "stacks/t/a/new.txt", "old.txt"}


def test_changed_files_since_an_older_commit_include_committed_changes(repo: Path) -> None:
    (repo / "stacks" / "t" / "a" / "Dockerfile").write_text("FROM scratch\nLABEL x=1\n", encoding="utf-8")
    commit_all(repo, "two")
    assert gitinfo.changed_files(repo, "HEAD") == set()
    assert gitinfo.changed_files(repo, "HEAD~1") == {"stacks/t/a/Dockerfile"}
    first = git(repo, "rev-list", "--max-parents=0", "HEAD").strip()
    assert gitinfo.changed_files(repo, first) == {"stacks/t/a/Dockerfile"}


def test_changed_files_with_odd_names(repo: Path) -> None:
    names = {"with space.txt", "tab\there.txt", "ünï.txt", "line\nbreak.txt"}
    for name in names:
        (repo / name).write_text("x\n", encoding="utf-8")
    assert gitinfo.changed_files(repo, "HEAD") == names


def test_changed_files_of_a_rename_include_both_paths(repo: Path) -> None:
    git(repo, "mv", "old.txt", "stacks/t/a/old.txt")  # a file moves from one folder to another
    assert gitinfo.changed_files(repo, "HEAD") == {"old.txt", "stacks/t/a/old.txt"}


def test_merge_base_is_where_the_branch_forked_from_the_ref(repo: Path) -> None:
    forked = fork(repo, upstream={"README.md": "main moved on\n"}, branch={"old.txt": "the pr\n"})
    assert gitinfo.merge_base(repo, "main") == forked
    assert gitinfo.merge_base(repo, "HEAD") == gitinfo.merge_base(repo, "pr") == gitinfo.revision(repo)
    git(repo, "switch", "-q", "main")
    assert gitinfo.merge_base(repo, "pr") == forked
    assert gitinfo.changed_files(repo, forked) == {"README.md"}


def test_merge_base_of_unrelated_histories_is_a_git_error_naming_the_ref(repo: Path) -> None:
    git(repo, "switch", "-q", "--orphan", "lone")
    git(repo, "commit", "-q", "--allow-empty", "-m", "unrelated history")
    git(repo, "switch", "-q", "main")
    with pytest.raises(GitError) as caught:
        gitinfo.merge_base(repo, "lone")
    assert caught.value.exit_code == 2
    assert str(caught.value) == (
        f"'lone' shares no history with HEAD in {repo} (no merge base) (fetch the whole history "
        "(`git fetch --unshallow`; in CI: actions/checkout fetch-depth: 0, GitLab GIT_DEPTH: 0), "
        "or name the branch this one was forked from)")
    with pytest.raises(GitError, match="'nope' names no commit"):
        gitinfo.merge_base(repo, "nope")
    with pytest.raises(GitError, match="bad ref"):
        gitinfo.merge_base(repo, "--all")


@pytest.mark.parametrize("ref", ["no-such-branch", "HEAD~5", "0" * 40])
def test_a_bad_ref_is_a_git_error_with_exit_code_2(repo: Path, ref: str) -> None:
    with pytest.raises(GitError) as caught:
        gitinfo.changed_files(repo, ref)
    assert caught.value.exit_code == 2
    assert isinstance(caught.value, EngineError)
    assert str(caught.value).startswith(f"git rev-parse --verify --quiet {ref}^{{commit}} failed: ")
    assert caught.value.hint == "check the ref and that the folder is a git checkout"


@pytest.mark.parametrize("ref", ["-h", "--output=/tmp/x", "--no-index"])
def test_a_ref_that_looks_like_an_option_is_refused_before_git_runs(repo: Path, ref: str) -> None:
    with pytest.raises(GitError) as caught:
        gitinfo.changed_files(repo, ref)
    assert str(caught.value) == f"bad ref {ref!r} (name a commit, branch or tag)"
    assert caught.value.exit_code == 2


def test_outside_a_checkout_changed_files_is_a_git_error(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="failed: fatal: not a git repository") as caught:
        gitinfo.changed_files(tmp_path, "HEAD")
    assert caught.value.exit_code == 2
    with pytest.raises(GitError, match="failed: fatal: not a git repository"):  # not "names no commit"
        gitinfo.merge_base(tmp_path, "main")


def test_revision_is_the_head_commit(repo: Path, tmp_path: Path) -> None:
    assert gitinfo.revision(repo) == git(repo, "rev-parse", "HEAD").strip()
    assert len(gitinfo.revision(repo)) == 40
    assert gitinfo.revision(tmp_path / "elsewhere") == ""


def test_source_is_the_origin_never_the_folder(repo: Path) -> None:
    assert gitinfo.source(repo) == ""  # no origin: no local path is published
    git(repo, "remote", "add", "origin", "https://example.com/org/stacks.git")
    assert gitinfo.source(repo) == "https://example.com/org/stacks.git"


def test_source_strips_credentials_and_refuses_a_path(repo: Path, tmp_path: Path) -> None:
    git(repo, "remote", "add", "origin", "https://ci:SB_TOKEN_x1@example.com/org/stacks.git")
    assert gitinfo.source(repo) == "https://example.com/org/stacks.git"
    git(repo, "remote", "set-url", "origin", str(tmp_path / "upstream"))  # a fresh clone of a folder
    assert gitinfo.source(repo) == ""


def test_commit_time_is_the_committer_time(repo: Path, tmp_path: Path) -> None:
    assert gitinfo.commit_time(repo) == int(git(repo, "log", "-1", "--format=%ct").strip())
    assert gitinfo.commit_time(tmp_path / "elsewhere") is None


@pytest.mark.skipif(os.fsencode("\udcff") != b"\xff", reason="needs surrogateescape file names")
def test_changed_files_with_a_name_that_is_not_utf8(repo: Path) -> None:
    name = os.fsdecode(b"caf\xe9 latin1.txt")  # as os.scandir names it in the context walk
    (repo / name).write_text("x\n", encoding="utf-8")
    (repo / "README.md").write_text("v2\n", encoding="utf-8")
    assert gitinfo.changed_files(repo, "HEAD") == {name, "README.md"}
    commit_all(repo, "two")
    (repo / name).unlink()
    assert gitinfo.changed_files(repo, "HEAD") == {name}
