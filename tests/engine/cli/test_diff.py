"""engine.cli.diff on a real git repository: stacks at two refs, exported, loaded and compared."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from engine.cli import main as cli
from engine.cli.diff import commit_of, diff_refs
from engine.run import api
from engine.state.gitinfo import GitError
from engine.state.history import History, NodeRecord
from graph.plan.diff import ADDED, REBUILT, REMOVED

REGISTRY = "localhost:5000/t"
STACK = textwrap.dedent("""\
    stack: t
    registry: localhost:5000/t
    platforms: [linux/amd64]
    nodes:
      os: {kind: os, tag: "1"}
      sdk: {kind: sdk, parent: os, tag: "1"}
      fw: {kind: framework, parent: sdk, tag: "1"}
      app: {kind: llm, parent: os, tag: "1"}
      old: {kind: tool, parent: os, tag: "1"}
      moved: {kind: tool, parent: os, tag: "1"}
    """)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          check=True, capture_output=True, text=True)
    return done.stdout.strip()


def write(repo: Path, path: str, text: str) -> None:
    target = repo / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(textwrap.dedent(text), encoding="utf-8")


def commit(repo: Path, tag: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", tag)
    git(repo, "tag", tag)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with tags v1 and v2 of a tiny stack of FROM scratch images.

    v1 → v2: sdk's context file changes (sdk and fw rebuilt), app's Dockerfile changes, node old is
    removed, node new is added under fw, node moved gets tag 2 (same content). The os context holds a
    git-ignored file that differs between the two commits in the working tree only.
    """
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write(root, ".gitignore", "stacks/t/os/rootfs/\n")
    write(root, "stacks/t/stack.yaml", STACK)
    write(root, "stacks/t/os/Dockerfile", "FROM scratch\nCOPY rootfs/ /\n")
    write(root, "stacks/t/os/rootfs/big.tar.gz", "pretend this is big\n")
    for name in ("sdk", "fw", "app", "old", "moved"):
        write(root, f"stacks/t/{name}/Dockerfile", f"FROM parent\nCOPY . /opt/{name}\n")
    write(root, "stacks/t/sdk/app.py", "print('v1')\n")
    commit(root, "v1")
    write(root, "stacks/t/sdk/app.py", "print('v2')\n")
    write(root, "stacks/t/app/Dockerfile", "FROM parent\nCOPY . /opt/app2\n")
    (root / "stacks/t/old/Dockerfile").unlink()
    write(root, "stacks/t/new/Dockerfile", "FROM parent\n")
    stack = STACK.replace('  old: {kind: tool, parent: os, tag: "1"}\n', "")
    stack = stack.replace('moved: {kind: tool, parent: os, tag: "1"}',
                          'moved: {kind: tool, parent: os, tag: "2"}')
    write(root, "stacks/t/stack.yaml", stack + '  new: {kind: tool, parent: fw, tag: "1"}\n')
    write(root, "stacks/t/os/rootfs/big.tar.gz", "changed, but git does not track it\n")
    commit(root, "v2")
    write(root, "stacks/t/os/Dockerfile", "FROM scratch\n# uncommitted\n")  # the working tree is not a ref
    return root


def ref(name: str, tag: str = "1") -> str:
    return f"{REGISTRY}/{name}:{tag}"


def options(root: Path, registry: str = "") -> api.Options:
    return api.Options(root=root, targets=(Path("stacks"),), registry=registry, state_dir=root / "state")


def test_diff_reports_exactly_the_added_removed_and_rebuilt_tags(repo: Path) -> None:
    diff, commits = diff_refs(options(repo), "v1", "v2")
    assert commits == (git(repo, "rev-parse", "v1"), git(repo, "rev-parse", "v2"))
    changes = {(c.change, c.ref): (c.reason, c.build) for c in diff.changes}
    assert changes == {
        (REBUILT, ref("sdk")): ("context_changed: app.py", True),
        (REBUILT, ref("fw")): ("parent_rebuilt: sdk", True),
        (REBUILT, ref("app")): ("dockerfile_changed", True),
        (ADDED, ref("new")): ("new_node", True),
        (ADDED, ref("moved", "2")): (f"retag (was {ref('moved')})", False),
        (REMOVED, ref("old")): ("node_removed", False),
        (REMOVED, ref("moved")): (f"tag changed: now {ref('moved', '2')}", False),
    }
    assert diff.unchanged == 1  # os: its ignored rootfs is absent from both exported trees
    sdk = next(change for change in diff.changes if change.node == "sdk")
    assert sdk.changed == ("context", "file:app.py")


def test_the_estimate_uses_the_build_history(repo: Path) -> None:
    with History(repo / "state" / "history.db") as history:
        history.start_run("r1", "2026-01-01T00:00:00+00:00", "incremental")
        for node, seconds in (("sdk", 100.0), ("fw", 50.0), ("os", 1000.0)):
            history.record_node(NodeRecord("r1", node, ref(node), "f" * 64, "sha256:d", "build", "x",
                                           "succeeded", seconds, {}, {}, "2026-01-01T00:01:00+00:00"))
    diff, _ = diff_refs(options(repo), "v1", "v2")
    est = diff.estimate
    assert (est.builds, est.total_s, est.critical_path_s) == (4, 270.0, 210.0)
    assert est.critical_path == ("sdk", "fw", "new")
    assert set(est.unknown) == {"app", "new"}


def test_the_registry_option_moves_every_tag(repo: Path) -> None:
    diff, _ = diff_refs(options(repo, "mirror:5000/m"), "v1", "v2")
    assert {c.ref for c in diff.of(REBUILT)} == {"mirror:5000/m/sdk:1", "mirror:5000/m/fw:1",
                                                 "mirror:5000/m/app:1"}


def test_comparing_a_ref_with_itself_finds_nothing(repo: Path) -> None:
    diff, _ = diff_refs(options(repo), "v2", "main")
    assert (diff.changes, diff.unchanged) == ((), 6)


def test_cli_json(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["diff", "--root", str(repo), "v1", "v2", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["summary"] == {"added": 2, "removed": 2, "rebuilt": 3, "unchanged": 1}
    assert (document["ref1"], document["commit2"]) == ("v1", git(repo, "rev-parse", "v2"))
    assert [item["node"] for item in document["rebuilt"]] == ["app", "sdk", "fw"]  # build order


def test_cli_table_and_markdown_with_a_target(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["diff", "--root", str(repo), "v1", "v2", "stacks/t"]) == 0
    table = capsys.readouterr().out
    assert table.startswith("diff v1 (") and ": 2 added, 2 removed, 3 rebuilt, 1 unchanged" in table
    assert "estimate: 4 build(s), 4m00s one after another, critical path 3m00s (sdk → fw → new)" in table
    assert cli.main(["diff", "--root", str(repo), "v1", "v2", "--format", "markdown"]) == 0
    markdown = capsys.readouterr().out
    assert markdown.startswith("### Image changes v1 (")
    assert f"| added | `{ref('new')}` | new | new_node | - | 1m00s* |" in markdown


def test_an_unknown_ref_is_exit_2(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["diff", "--root", str(repo), "v1", "nope"]) == 2
    assert "error: 'nope' names no commit in" in capsys.readouterr().err
    with pytest.raises(GitError, match="bad ref"):
        commit_of(repo, "--all")


def test_stacks_that_do_not_load_at_a_ref_name_the_ref(repo: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    stack = (repo / "stacks/t/stack.yaml").read_text(encoding="utf-8")
    write(repo, "stacks/t/stack.yaml", stack + "  bad: {kind: nope}\n")
    commit(repo, "broken")
    assert cli.main(["diff", "--root", str(repo), "v2", "broken"]) == 2
    err = capsys.readouterr().err
    assert "error: the stacks at broken do not load: stacks/t/stack.yaml:" in err
    assert "unknown kind" in err


def test_a_ref_from_before_the_stacks_existed_adds_every_tag(repo: Path) -> None:
    empty_tree = git(repo, "hash-object", "-t", "tree", "/dev/null")
    before = git(repo, "commit-tree", empty_tree, "-m", "before the stacks")
    diff, _ = diff_refs(options(repo), before, "v1")
    assert {(c.change, c.node) for c in diff.changes} == {
        (ADDED, name) for name in ("os", "sdk", "fw", "app", "old", "moved")}
    assert diff.estimate.builds == 6
    diff, _ = diff_refs(options(repo), "v1", before)
    assert {c.change for c in diff.changes} == {REMOVED}


@pytest.mark.parametrize("folder", ["images", "vendor/images"], ids=["in place", "through a link"])
def test_a_dockerfile_and_context_outside_the_stacks_folder_are_compared_too(tmp_path: Path,
                                                                             folder: str) -> None:
    # only the stacks folder was exported, and the link was not followed: such stacks did not load at
    # either ref
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write(root, "stacks/t/stack.yaml", STACK.split("  sdk:")[0]
          + '  ext: {kind: tool, parent: os, tag: "1", dockerfile: ../../images/ext/Dockerfile,'
            ' context: ../../images/ext}\n')
    write(root, "stacks/t/os/Dockerfile", "FROM scratch\n")
    write(root, f"{folder}/ext/Dockerfile", "FROM parent\nCOPY . /opt/ext\n")
    write(root, f"{folder}/ext/app.py", "print('v1')\n")
    write(root, "src/unrelated.py", "pass\n")
    if folder != "images":
        (root / "images").symlink_to(folder)
    commit(root, "v1")
    write(root, f"{folder}/ext/app.py", "print('v2')\n")
    commit(root, "v2")
    diff, _ = diff_refs(options(root), "v1", "v2")
    assert {(c.change, c.ref): c.reason for c in diff.changes} == {
        (REBUILT, ref("ext")): "context_changed: app.py"}
    assert diff.unchanged == 1
