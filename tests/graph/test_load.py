"""graph.load: finding stack files and loading them (including the real demo stack) into a DAG."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from graph.dag import StackGraph
from graph.errors import StackError
from graph.load import find_stack_files, load_graph

WriteStack = Callable[..., Path]


def minimal(name: str, node: str, parent: str = "") -> str:
    parent_line = f"    parent: {parent}\n" if parent else ""
    return (f"stack: {name}\nregistry: r\nnodes:\n  {node}:\n    kind: os\n    tag: '1'\n"
            + parent_line)


# --- find_stack_files ---------------------------------------------------------------------------


def test_a_stack_file_target(root: Path, write_stack: WriteStack) -> None:
    file = write_stack(minimal("one", "a"), folder="stacks/one")
    assert find_stack_files(root, [Path("stacks/one/stack.yaml")]) == [file]


def test_a_stack_folder_target(root: Path, write_stack: WriteStack) -> None:
    file = write_stack(minimal("one", "a"), folder="stacks/one")
    assert find_stack_files(root, [Path("stacks/one")]) == [file]


def test_a_folder_of_stack_folders_is_sorted(root: Path, write_stack: WriteStack) -> None:
    names = ["zeta", "eta", "beta", "theta", "alpha", "delta", "iota", "gamma"]
    files = {name: write_stack(minimal(name, f"n-{name}"), folder=f"stacks/{name}")
             for name in names}
    (root / "stacks" / "notes").mkdir()
    (root / "stacks" / "README.md").write_text("not a stack\n")
    write_stack(minimal("deep", "c"), folder="stacks/beta/deeper")  # only one level is searched
    assert find_stack_files(root, [Path("stacks")]) == [files[name] for name in sorted(names)]


def test_absolute_targets_are_used_as_they_are(root: Path, write_stack: WriteStack) -> None:
    file = write_stack(minimal("one", "a"), folder="stacks/one")
    assert find_stack_files(Path("/nonexistent"), [file.parent]) == [file]


def test_several_targets_keep_their_order(root: Path, write_stack: WriteStack) -> None:
    one = write_stack(minimal("one", "a"), folder="stacks/one")
    two = write_stack(minimal("two", "b"), folder="stacks/two")
    assert find_stack_files(root, [Path("stacks/two"), Path("stacks/one/stack.yaml")]) == [two, one]


def test_missing_target_is_an_error(root: Path, write_stack: WriteStack) -> None:
    write_stack(minimal("one", "a"), folder="stacks/one")
    with pytest.raises(StackError) as caught:
        find_stack_files(root, [Path("stacks/one"), Path("stacks/nope")])
    assert str(caught.value) == ("no stack at stacks/nope "
                                 "(name a stack.yaml or a folder holding one)")
    assert caught.value.location is None


def test_folder_without_stacks_is_an_error(root: Path) -> None:
    (root / "stacks" / "empty").mkdir(parents=True)
    with pytest.raises(StackError) as caught:
        find_stack_files(root, [Path("stacks")])
    assert str(caught.value) == ("no stack.yaml found in stacks "
                                 "(create stacks/<name>/stack.yaml)")


def test_no_targets_is_an_error(root: Path) -> None:
    with pytest.raises(StackError) as caught:
        find_stack_files(root, [])
    assert str(caught.value) == "no stack named (name a stack.yaml or a folder holding one)"


# --- load_graph ---------------------------------------------------------------------------------


def test_load_graph_joins_stacks_across_folders(root: Path, write_stack: WriteStack) -> None:
    write_stack(minimal("base", "os"), folder="stacks/base")
    write_stack(minimal("apps", "app", parent="os"), folder="stacks/apps")
    g = load_graph(root, [Path("stacks")])
    assert g.order == ("os", "app")
    app = g.nodes["app"]
    assert (app.stack, app.location.file) == ("apps", "stacks/apps/stack.yaml")


def test_load_graph_reports_errors_from_stack_files(root: Path, write_stack: WriteStack) -> None:
    write_stack(minimal("apps", "app", parent="os"), folder="stacks/apps")
    with pytest.raises(StackError) as caught:
        load_graph(root, [Path("stacks/apps")])
    assert str(caught.value) == ("stacks/apps/stack.yaml:4: node 'app': parent 'os' is not "
                                 "defined (known: app)")


# --- the real demo stack ------------------------------------------------------------------------
# Expectations are read from the demo's own YAML so that editing the demo keeps these tests true.

@pytest.fixture(scope="module")
def demo(repo_root: Path) -> StackGraph:
    return load_graph(repo_root, [Path("stacks/demo")])


@pytest.fixture(scope="module")
def demo_file(repo_root: Path) -> Path:
    return repo_root / "stacks" / "demo" / "stack.yaml"


@pytest.fixture(scope="module")
def demo_yaml(demo_file: Path) -> dict[str, Any]:
    data = yaml.safe_load(demo_file.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_demo_has_at_least_eight_nodes(demo: StackGraph) -> None:
    assert len(demo.nodes) >= 8
    assert {"debian", "python-sdk"} <= set(demo.nodes)


def test_demo_has_a_dev_sibling_for_every_node_but_debian(
        demo: StackGraph, demo_yaml: dict[str, Any]) -> None:
    defined = list(demo_yaml["nodes"])
    assert "debian" in defined
    assert "debian-dev" not in demo.nodes
    dev_file = "stacks/demo/" + demo_yaml["dev"]["dockerfile"]
    for name in defined:
        if name == "debian":
            continue
        dev, origin = demo.nodes[f"{name}-dev"], demo.nodes[name]
        assert (dev.parent, dev.variant, dev.image) == (name, "dev", origin.image)
        assert dev.tag == f"{origin.tag}-dev"
        assert dev.dockerfile == dev_file
        assert dev.test == origin.test
        assert dev.platforms == origin.platforms
    assert sorted(demo.nodes) == sorted([*defined, *(f"{n}-dev" for n in defined if n != "debian")])


def test_demo_children_come_after_their_parents(demo: StackGraph) -> None:
    assert demo.order[0] == "debian"
    assert sorted(demo.order) == sorted(demo.nodes)
    edges = 0
    for name, node in demo.nodes.items():
        if node.parent:
            edges += 1
            assert demo.order.index(node.parent) < demo.order.index(name), (node.parent, name)
    assert edges == len(demo.nodes) - 1  # one root: everything is built on debian
    assert demo.descendants("debian") == set(demo.nodes) - {"debian"}


def test_demo_nodes_are_fully_resolved(demo: StackGraph, demo_yaml: dict[str, Any],
                                       demo_file: Path) -> None:
    registry = demo_yaml["registry"]
    for name, spec in demo_yaml["nodes"].items():
        node = demo.nodes[name]
        assert node.ref == f"{registry}/{spec.get('image', name)}:{spec['tag']}"
        assert node.dockerfile == "stacks/demo/" + spec.get("dockerfile", f"{name}/Dockerfile")
        assert node.parent == spec.get("parent")
        assert node.location.file == "stacks/demo/stack.yaml"
        line = demo_file.read_text(encoding="utf-8").splitlines()[node.location.line - 1]
        assert line == f"  {name}:"
    for node in demo.nodes.values():
        assert node.platforms
        assert set(node.platforms) <= set(demo_yaml.get("platforms", node.platforms))
    assert len({node.ref for node in demo.nodes.values()}) == len(demo.nodes)
