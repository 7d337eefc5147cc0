"""graph.change.affected: which nodes a set of changed files (and an old graph) touches, and their
descendants."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from graph.change.affected import affected, directly_changed
from graph.expand.assemble import load_graph
from graph.expand.dag import StackGraph

DATA: dict[str, Any] = {
    "stack": "s",
    "registry": "r.example/x",
    "nodes": {
        "base": {"kind": "os", "from": "debian:12"},
        "a": {"kind": "sdk", "parent": "base", "tag": "a1"},
        "b": {"kind": "framework", "parent": "a", "tag": "b1", "args": {"V": "1"}},
        "c": {"kind": "llm", "parent": "b", "tag": "c1"},
        "sib": {"kind": "framework", "parent": "a", "tag": "s1"},
    },
}


def make_repo(root: Path, data: dict[str, Any] | None = None, comment: str = "") -> StackGraph:
    """Write the stack (DATA unless given) with a Dockerfile, app.txt and .dockerignore per node; load it."""
    data = DATA if data is None else data
    (root / "s").mkdir(parents=True, exist_ok=True)
    (root / "s" / "stack.yaml").write_text(comment + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    for name, definition in data["nodes"].items():
        if "from" in definition:
            continue
        folder = root / "s" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "Dockerfile").write_text(f"FROM scratch\n# {name}\n", encoding="utf-8")
        (folder / "app.txt").write_text(f"{name}\n", encoding="utf-8")
        (folder / ".dockerignore").write_text("*.log\n", encoding="utf-8")
    return load_graph(root, [Path("s")])


def changed_data(**node_changes: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(DATA)
    for name, fields in node_changes.items():
        data["nodes"][name].update(fields)
    return data


@pytest.fixture
def stack_graph(root: Path) -> StackGraph:
    return make_repo(root)


# --- changed files ------------------------------------------------------------------------------


def test_a_changed_dockerfile_touches_its_node(root: Path, stack_graph: StackGraph) -> None:
    assert directly_changed(stack_graph, root, ["s/b/Dockerfile"], None) == {"b": "dockerfile_changed"}


def test_a_visible_context_file_touches_its_node(root: Path, stack_graph: StackGraph) -> None:
    assert directly_changed(stack_graph, root, ["s/b/app.txt"], None) == {"b": "context_changed: app.txt"}


def test_a_new_nested_context_file_is_named_relative_to_the_context(root: Path,
                                                                    stack_graph: StackGraph) -> None:
    assert directly_changed(stack_graph, root, ["s/sib/sub/dir/new.txt"], None) == {
        "sib": "context_changed: sub/dir/new.txt"}


def test_an_ignored_context_file_touches_nothing(root: Path, stack_graph: StackGraph) -> None:
    assert directly_changed(stack_graph, root, ["s/b/debug.log"], None) == {}


def test_editing_the_dockerignore_touches_its_node(root: Path, stack_graph: StackGraph) -> None:
    assert directly_changed(stack_graph, root, ["s/b/.dockerignore"], None) == {
        "b": "context_changed: .dockerignore"}


@pytest.mark.parametrize("path", [
    "s/README.md", "s/stack.yaml", "outside/file.txt", "README.md", "s/bb/app.txt", "s/b", "s",
])
def test_a_file_outside_every_context_touches_nothing(root: Path, stack_graph: StackGraph, path: str) -> None:
    assert directly_changed(stack_graph, root, [path], None) == {}


def test_no_changed_files_touch_nothing(root: Path, stack_graph: StackGraph) -> None:
    assert directly_changed(stack_graph, root, [], None) == {}


def test_changes_in_several_contexts_touch_each_node(root: Path, stack_graph: StackGraph) -> None:
    touched = directly_changed(stack_graph, root, ["s/a/Dockerfile", "s/c/app.txt", "s/sib/x.log",
                                                   "docs/x.md"], None)
    assert touched == {"a": "dockerfile_changed", "c": "context_changed: app.txt"}


def test_the_dockerfile_wins_over_other_files_of_the_context(root: Path, stack_graph: StackGraph) -> None:
    touched = directly_changed(stack_graph, root, ["s/b/app.txt", "s/b/Dockerfile"], None)
    assert touched == {"b": "dockerfile_changed"}


def test_a_context_at_the_repository_root_sees_every_visible_path(root: Path) -> None:
    data = changed_data(c={"context": ".."})
    stack_graph = make_repo(root, data)
    (root / ".dockerignore").write_text("s/b/*.log\n", encoding="utf-8")
    assert stack_graph.nodes["c"].context == "."
    assert directly_changed(stack_graph, root, ["README.md"], None) == {"c": "context_changed: README.md"}
    assert directly_changed(stack_graph, root, ["s/b/app.txt"], None) == {
        "b": "context_changed: app.txt", "c": "context_changed: s/b/app.txt"}
    assert directly_changed(stack_graph, root, ["s/b/debug.log"], None) == {}


def test_the_reason_does_not_depend_on_string_hashing(root: Path, stack_graph: StackGraph) -> None:
    """With several visible files changed, the one named must not depend on set iteration order.

    directly_changed puts the paths in a set; str hashes are randomised per process (PYTHONHASHSEED),
    so the named file varied from run to run. Paths with fixed hashes make both orders happen here.
    """

    class HashedPath(str):
        def __new__(cls, text: str, hashed: int) -> HashedPath:
            item = super().__new__(cls, text)
            item.hashed = hashed  # type: ignore[attr-defined]
            return item

        def __hash__(self) -> int:
            return self.hashed  # type: ignore[attr-defined,no-any-return]

    a_first = [HashedPath("s/b/a.txt", 1), HashedPath("s/b/z.txt", 2)]
    z_first = [HashedPath("s/b/a.txt", 2), HashedPath("s/b/z.txt", 1)]
    assert [str(path) for path in set(a_first)] == ["s/b/a.txt", "s/b/z.txt"]
    assert [str(path) for path in set(z_first)] == ["s/b/z.txt", "s/b/a.txt"]
    first = directly_changed(stack_graph, root, a_first, None)
    second = directly_changed(stack_graph, root, z_first, None)
    assert first == second == {"b": "context_changed: a.txt"}


def test_a_dockerfile_specific_ignore_file_outside_the_context_touches_its_node(root: Path) -> None:
    """Editing <Dockerfile>.dockerignore beside a Dockerfile kept outside the context changes what the
    build sees (and the node's fingerprint), so PR mode must rebuild the node."""
    (root / "s" / "docker").mkdir(parents=True)
    (root / "s" / "ctx").mkdir()
    (root / "s" / "stack.yaml").write_text(
        "stack: s\nregistry: r\nnodes:\n  n:\n    kind: os\n    tag: '1'\n"
        "    dockerfile: docker/n.Dockerfile\n    context: ctx\n", encoding="utf-8")
    (root / "s" / "docker" / "n.Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    (root / "s" / "docker" / "n.Dockerfile.dockerignore").write_text("secret.txt\n", encoding="utf-8")
    (root / "s" / "ctx" / "app.txt").write_text("a\n", encoding="utf-8")
    stack_graph = load_graph(root, [Path("s")])
    assert set(directly_changed(stack_graph, root, ["s/docker/n.Dockerfile.dockerignore"], None)) == {"n"}


def test_a_dockerfile_specific_ignore_file_inside_the_context_touches_its_node(
        root: Path, stack_graph: StackGraph) -> None:
    assert directly_changed(stack_graph, root, ["s/b/Dockerfile.dockerignore"], None) == {
        "b": "context_changed: Dockerfile.dockerignore"}


def test_a_shadowed_dockerignore_the_build_does_not_send_touches_nothing(root: Path,
                                                                        stack_graph: StackGraph) -> None:
    """Beside <Dockerfile>.dockerignore BuildKit never reads the context's .dockerignore (its dockerfile
    frontend falls back to it only when the former is missing): excluded, that file is no input at all."""
    (root / "s" / "b" / "Dockerfile.dockerignore").write_text(".dockerignore\n*.log\n", encoding="utf-8")
    assert directly_changed(stack_graph, root, ["s/b/.dockerignore"], None) == {}
    assert directly_changed(stack_graph, root, ["s/b/Dockerfile.dockerignore"], None) == {
        "b": "context_changed: Dockerfile.dockerignore"}


def test_a_shadowed_dockerignore_the_build_sends_is_a_context_file(root: Path,
                                                                  stack_graph: StackGraph) -> None:
    (root / "s" / "b" / "Dockerfile.dockerignore").write_text("*.log\n", encoding="utf-8")
    assert directly_changed(stack_graph, root, ["s/b/.dockerignore"], None) == {
        "b": "context_changed: .dockerignore"}


def test_the_dockerignore_in_use_touches_its_node_even_when_it_excludes_itself(
        root: Path, stack_graph: StackGraph) -> None:
    (root / "s" / "b" / ".dockerignore").write_text(".dockerignore\n*.log\n", encoding="utf-8")
    assert directly_changed(stack_graph, root, ["s/b/.dockerignore"], None) == {
        "b": "context_changed: .dockerignore"}


def test_another_dockerfiles_ignore_file_counts_only_when_the_build_sends_it(
        root: Path, stack_graph: StackGraph) -> None:
    """s/b/other.Dockerfile.dockerignore belongs to a Dockerfile b is not built from: to b it is a
    context file like any other."""
    assert directly_changed(stack_graph, root, ["s/b/other.Dockerfile.dockerignore"], None) == {
        "b": "context_changed: other.Dockerfile.dockerignore"}
    (root / "s" / "b" / ".dockerignore").write_text("*.log\n*.dockerignore\n", encoding="utf-8")
    assert directly_changed(stack_graph, root, ["s/b/other.Dockerfile.dockerignore"], None) == {}


# --- definitions compared with the old graph ----------------------------------------------------


def test_an_unchanged_definition_touches_nothing(root: Path, tmp_path: Path, stack_graph: StackGraph) -> None:
    old = make_repo(tmp_path / "old")
    assert directly_changed(stack_graph, root, [], old) == {}


def test_a_changed_arg_is_a_changed_definition(root: Path, tmp_path: Path, stack_graph: StackGraph) -> None:
    old = make_repo(tmp_path / "old", changed_data(b={"args": {"V": "0"}}))
    assert directly_changed(stack_graph, root, [], old) == {"b": "definition_changed"}


def test_a_changed_external_reference_is_a_changed_definition(root: Path, tmp_path: Path,
                                                              stack_graph: StackGraph) -> None:
    old = make_repo(tmp_path / "old", changed_data(base={"from": "debian:11"}))
    assert directly_changed(stack_graph, root, [], old) == {"base": "definition_changed"}


def test_a_node_missing_from_the_old_graph_is_new(root: Path, tmp_path: Path,
                                                  stack_graph: StackGraph) -> None:
    data = copy.deepcopy(DATA)
    del data["nodes"]["sib"]
    old = make_repo(tmp_path / "old", data)
    assert directly_changed(stack_graph, root, [], old) == {"sib": "new_node"}


def test_a_node_only_in_the_old_graph_is_not_reported(root: Path, tmp_path: Path) -> None:
    data = copy.deepcopy(DATA)
    del data["nodes"]["sib"]
    new = make_repo(root, data)
    old = make_repo(tmp_path / "old")
    assert directly_changed(new, root, [], old) == {}


def test_a_registry_only_difference_touches_nothing(root: Path, tmp_path: Path,
                                                    stack_graph: StackGraph) -> None:
    data = copy.deepcopy(DATA)
    data["registry"] = "mirror.example:5000/y"
    old = make_repo(tmp_path / "old", data)
    assert old.nodes["b"].registry != stack_graph.nodes["b"].registry
    assert directly_changed(stack_graph, root, [], old) == {}


def test_moved_lines_touch_nothing(root: Path, tmp_path: Path, stack_graph: StackGraph) -> None:
    old = make_repo(tmp_path / "old", comment="# a comment\n# moves every line\n")
    assert old.nodes["b"].location != stack_graph.nodes["b"].location
    assert directly_changed(stack_graph, root, [], old) == {}


def test_a_file_reason_wins_over_a_definition_reason(root: Path, tmp_path: Path,
                                                     stack_graph: StackGraph) -> None:
    old = make_repo(tmp_path / "old", changed_data(b={"args": {"V": "0"}}))
    assert directly_changed(stack_graph, root, ["s/b/app.txt"], old) == {"b": "context_changed: app.txt"}


# --- affected -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("touched", "expected"), [
    ([], set()),
    (["c"], {"c"}),
    (["b"], {"b", "c"}),
    (["a"], {"a", "b", "c", "sib"}),
    (["base"], {"base", "a", "b", "c", "sib"}),
    (["sib", "c"], {"sib", "c"}),
    (["b", "c"], {"b", "c"}),
])
def test_affected_adds_every_descendant(stack_graph: StackGraph, touched: list[str],
                                        expected: set[str]) -> None:
    assert affected(stack_graph, touched) == expected


def test_affected_takes_the_touched_mapping(root: Path, tmp_path: Path, stack_graph: StackGraph) -> None:
    old = make_repo(tmp_path / "old", changed_data(b={"args": {"V": "0"}}))
    touched = directly_changed(stack_graph, root, ["s/sib/app.txt"], old)
    assert touched == {"b": "definition_changed", "sib": "context_changed: app.txt"}
    assert affected(stack_graph, touched) == {"b", "c", "sib"}
