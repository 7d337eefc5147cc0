"""graph.expand.assemble: finding stack files and loading them (including the real demo stack) into a DAG."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from graph.errors import StackError
from graph.expand.assemble import find_stack_files, load_graph, stack_paths
from graph.expand.dag import StackGraph

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


def documented(stack: str, node: str, description: str) -> str:
    """A stack file whose one node builds image 'one' (tagged as the node is named) and writes a doc:
    (on line 8)."""
    return minimal(stack, node).replace("tag: '1'", f"tag: '{node}'") + \
        f"    image: one\n    doc: {{description: {description}}}\n"


def test_two_files_of_one_stack_may_not_write_two_docs_for_one_image(root: Path,
                                                                      write_stack: WriteStack) -> None:
    write_stack(documented("s", "a", "From a."), folder="stacks/a")
    write_stack(documented("s", "b", "From b."), folder="stacks/b")
    with pytest.raises(StackError) as caught:
        load_graph(root, [Path("stacks")])
    assert str(caught.value) == (
        "stacks/b/stack.yaml:8: nodes 'a' and 'b' both write a 'doc:' for image 'one' of stack 's' "
        "(an image has one README: keep 'doc:' on node 'a' only, at stacks/a/stack.yaml:8)")


@pytest.mark.parametrize(("second", "description"), [("s", "From a."), ("t", "From b.")])
def test_one_image_may_repeat_its_doc_or_have_another_in_another_stack(
        root: Path, write_stack: WriteStack, second: str, description: str) -> None:
    write_stack(documented("s", "a", "From a."), folder="stacks/a")
    write_stack(documented(second, "b", description), folder="stacks/b")
    assert set(load_graph(root, [Path("stacks")]).nodes) == {"a", "b"}


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


@pytest.fixture(scope="module")
def demo_names(demo_yaml: dict[str, Any]) -> dict[str, list[str]]:
    """Definition → the names of the nodes it expands to: one per combination of its axes.

    The demo's parents each expand to one node, so no child name carries its parent's name.
    """
    nodes = demo_yaml["nodes"]
    names = {}
    for name, spec in nodes.items():
        assert "include" not in spec and "exclude" not in spec  # not modelled here
        for parent in [spec["parent"]] if isinstance(spec.get("parent"), str) else spec.get("parent", []):
            assert "axes" not in nodes[parent]
        axes = spec.get("axes", {})
        names[name] = ["-".join([name, *values]) for values in itertools.product(*axes.values())]
    return names


def test_demo_chat_has_one_node_per_ngram(demo_names: dict[str, list[str]]) -> None:
    assert demo_names["chat"] == ["chat-2", "chat-3"]


def test_demo_expands_every_definition_and_nothing_else(
        demo: StackGraph, demo_names: dict[str, list[str]]) -> None:
    built = sorted(name for name, node in demo.nodes.items() if not node.variant)
    assert built == sorted(name for names in demo_names.values() for name in names)
    for definition, names in demo_names.items():
        assert [demo.nodes[name].definition for name in names] == [definition] * len(names)


def test_demo_has_a_dev_sibling_for_every_node_but_debian(
        demo: StackGraph, demo_yaml: dict[str, Any], demo_names: dict[str, list[str]]) -> None:
    assert demo_yaml["dev"]["except"] == ["debian"]
    assert "debian-dev" not in demo.nodes
    dev_file = "stacks/demo/" + demo_yaml["dev"]["dockerfile"]
    with_dev = [name for definition, names in demo_names.items() if definition != "debian"
                for name in names]
    for name in with_dev:
        dev, origin = demo.nodes[f"{name}-dev"], demo.nodes[name]
        assert (dev.parent, dev.variant, dev.image) == (name, "dev", origin.image)
        assert dev.tag == f"{origin.tag}-dev"
        assert dev.dockerfile == dev_file
        assert dev.test == origin.test
        assert dev.platforms == origin.platforms
        assert dev.args == tuple(sorted(demo_yaml["dev"]["args"].items()))
        assert dict(dev.attrs) == {**dict(origin.attrs), "scope": "develop"}
    built = [name for names in demo_names.values() for name in names]
    assert sorted(demo.nodes) == sorted([*built, *(f"{name}-dev" for name in with_dev)])


def test_demo_trigram_chat_is_amd64_only(demo: StackGraph, demo_yaml: dict[str, Any]) -> None:
    assert demo_yaml["nodes"]["chat"]["constraints"] == ["ngram == '3' -> arch == 'amd64'"]
    both = tuple(demo_yaml["platforms"])
    assert both == ("linux/amd64", "linux/arm64")
    assert {name: node.platforms for name, node in demo.nodes.items()} == {
        name: ("linux/amd64",) if name.startswith("chat-3") else both for name in demo.nodes}


def test_demo_chat_nodes(demo: StackGraph) -> None:
    registry = "localhost:5000/stackbuild"
    assert {name: (demo.nodes[name].ref, demo.nodes[name].parent, demo.nodes[name].args)
            for name in ("chat-2", "chat-3", "chat-3-dev")} == {
        "chat-2": (f"{registry}/llm:chat2gram-numpy2.2.6-cpu-py311-deb12", "numpy", (("NGRAM", "2"),)),
        "chat-3": (f"{registry}/llm:chat3gram-numpy2.2.6-cpu-py311-deb12", "numpy", (("NGRAM", "3"),)),
        "chat-3-dev": (f"{registry}/llm:chat3gram-numpy2.2.6-cpu-py311-deb12-dev", "chat-3",
                       (("PYTEST_VERSION", "8.3.5"),)),
    }
    assert demo.nodes["chat-3"].attrs == (
        ("accelerator", "cpu"), ("app", "chat"), ("framework", "numpy"), ("framework_version", "2.2.6"),
        ("layer", "llm"), ("ngram", "3"), ("os", "deb12"), ("os_name", "debian"), ("python", "3.11"),
        ("scope", "inference"), ("sdk", "cpu"))


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
                                       demo_file: Path, demo_names: dict[str, list[str]]) -> None:
    registry = demo_yaml["registry"]
    lines = demo_file.read_text(encoding="utf-8").splitlines()
    for definition, names in demo_names.items():
        spec = demo_yaml["nodes"][definition]
        for name in names:
            node = demo.nodes[name]
            tag = spec["tag"].format_map(dict(node.attrs))  # the tag template, filled
            assert node.ref == f"{registry}/{spec.get('image', definition)}:{tag}"
            assert node.dockerfile == "stacks/demo/" + spec.get("dockerfile", f"{definition}/Dockerfile")
            assert node.parent == spec.get("parent")
            assert node.location.file == "stacks/demo/stack.yaml"
            assert re.fullmatch(rf"  {re.escape(definition)}:( &\w+)?", lines[node.location.line - 1])
            assert {key: dict(node.attrs)[key] for key in spec.get("attrs", {})} == {
                key: str(value) for key, value in spec.get("attrs", {}).items()}
    for node in demo.nodes.values():
        assert node.platforms
        assert set(node.platforms) <= set(demo_yaml.get("platforms", node.platforms))
        assert "{" not in node.ref and "}" not in node.ref
        assert all("{" not in value for _, value in node.args)
    assert len({node.ref for node in demo.nodes.values()}) == len(demo.nodes)


# --- stack_paths --------------------------------------------------------------------------------


def test_stack_paths_are_every_dockerfile_and_context_named(root: Path, write_stack: WriteStack) -> None:
    write_stack("""
        stack: one
        registry: r
        nodes:
          a: {kind: os, tag: "1"}
          b: {kind: os, tag: "1", dockerfile: ../../images/b/Dockerfile, context: ../../images}
          c: {kind: os, tag: "1", extends: b, dockerfile: ./c.Dockerfile}
          d: {kind: os, tag: "1", dockerfile: ../../../outside/Dockerfile, context: /abs}
        dev: {dockerfile: ../../dev/Dockerfile, context: ../..}
        """, folder="stacks/one", dockerfiles=[])
    write_stack("stack: [not, a, mapping\n", folder="stacks/broken", dockerfiles=[])
    assert stack_paths(root, [Path("stacks")]) == {
        "images/b/Dockerfile", "images", "stacks/one/c.Dockerfile", "dev/Dockerfile",
        *(f"stacks/one/{name}/Dockerfile" for name in "abcd")}  # the defaults: one may be a link
