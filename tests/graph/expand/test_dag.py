"""graph.expand.dag: the definitions of all stacks expanded and joined into one checked, ordered DAG."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from graph.errors import CycleError, GraphError, Location, StackError
from graph.expand.dag import StackGraph, build_graph, graph_of, with_registry
from graph.load.stackfile import load_stack
from graph.model.spec import Definition, Node, Stack

AMD, ARM, ARMV7 = "linux/amd64", "linux/arm64", "linux/arm/v7"


def node(name: str, parent: str | None = None, *, line: int = 1, file: str = "a/stack.yaml",
         image: str = "", tag: str = "1", platforms: tuple[str, ...] = ()) -> Definition:
    """A one-node definition (no matrix) of kind os."""
    return Definition(name=name, stack="s", kind="os", parents=(parent,) if parent else (),
                      registry="r", image=image or name, tag=tag, convention="",
                      dockerfile=f"s/{name}/Dockerfile", context=f"s/{name}", platforms=platforms,
                      location=Location(file, line))


def stack(*definitions: Definition, platforms: tuple[str, ...] = (AMD, ARM), file: str = "a/stack.yaml"
          ) -> Stack:
    """A stack of definitions, each given the stack's default platforms (as load_stack does)."""
    return Stack("s", file, "r", platforms,
                 tuple(replace(definition, default_platforms=platforms) for definition in definitions))


def expanded(name: str, parent: str | None = None, *, line: int = 1, file: str = "a/stack.yaml",
             image: str = "", tag: str = "1", platforms: tuple[str, ...] = (AMD, ARM)) -> Node:
    """The node node(...) expands to."""
    return Node(name=name, stack="s", kind="os", parent=parent, dockerfile=f"s/{name}/Dockerfile",
                context=f"s/{name}", registry="r", image=image or name, tag=tag, platforms=platforms,
                attrs=(("layer", "os"),), definition=name, location=Location(file, line))


def graph_error(*stacks: Stack) -> GraphError:
    with pytest.raises(GraphError) as caught:
        build_graph(stacks)
    return caught.value


# --- structure ----------------------------------------------------------------------------------


def test_edges_go_from_parent_to_child() -> None:
    g = build_graph([stack(node("a"), node("b", "a"), node("c", "a"))])
    assert sorted(g.graph.edges) == [("a", "b"), ("a", "c")]
    assert set(g.nodes) == {"a", "b", "c"}


def test_nodes_may_come_from_several_stacks() -> None:
    g = build_graph([stack(node("a")), stack(node("b", "a"), file="b/stack.yaml")])
    assert g.order == ("a", "b")


def test_no_stacks_is_an_empty_graph() -> None:
    g = build_graph([])
    assert (g.nodes, g.order, g.graph.number_of_nodes()) == ({}, (), 0)


def test_unknown_parent_lists_known_nodes_at_file_line() -> None:
    error = graph_error(stack(node("a", line=4), node("b", "zz", line=9), node("c", "a", line=14)))
    assert isinstance(error, StackError)
    assert str(error) == (
        "a/stack.yaml:9: node 'b': parent 'zz' is not defined (known: a, b, c)")


def test_duplicate_node_names_across_stack_files_name_both(
        root: Path, write_stack: Callable[..., Path]) -> None:
    text = 'stack: {name}\nregistry: r\nnodes:\n  base:\n    kind: os\n    tag: "{tag}"\n'
    one = load_stack(root, write_stack(text.format(name="one", tag="1"), folder="stacks/one"))
    two = load_stack(root, write_stack("# second\n" + text.format(name="two", tag="2"),
                                       folder="stacks/two"))
    with pytest.raises(StackError) as caught:
        build_graph([one, two])
    assert str(caught.value) == (
        "stacks/two/stack.yaml:5: duplicate node name 'base' "
        "(also defined at stacks/one/stack.yaml:4; rename one)")


def test_dev_sibling_clashing_with_a_defined_node_is_a_duplicate(
        root: Path, write_stack: Callable[..., Path]) -> None:
    text = ("stack: s\nregistry: r\nnodes:\n  a:\n    kind: os\n    tag: '1'\n"
            "  a-dev:\n    kind: os\n    tag: '2'\ndev:\n  dockerfile: a/Dockerfile\n"
            "  except: [a-dev]\n")
    with pytest.raises(StackError) as caught:
        build_graph([load_stack(root, write_stack(text))])
    # definitions are unique; the clash is between expanded nodes, found when they are joined
    assert str(caught.value) == (
        "s/stack.yaml:10: two nodes are named 'a-dev' "
        "(the other is at s/stack.yaml:7; rename a definition or change a value)")


# --- cycles -------------------------------------------------------------------------------------


def test_two_node_cycle_prints_the_path() -> None:
    error = graph_error(stack(node("a", "b", line=4), node("b", "a", line=8)))
    assert isinstance(error, CycleError)
    assert not isinstance(error, StackError)
    assert str(error) == ("a/stack.yaml:8: parent cycle: a -> b -> a "
                          "(a node cannot be built on its own descendant; break the loop)")


def test_self_parent_is_a_cycle() -> None:
    error = graph_error(stack(node("a", "a", line=4)))
    assert isinstance(error, CycleError)
    assert error.message == "parent cycle: a -> a"
    assert error.location == Location("a/stack.yaml", 4)


def test_longer_cycle_behind_a_healthy_root() -> None:
    error = graph_error(stack(node("root"), node("x", "root"), node("a", "c"), node("b", "a"),
                              node("c", "b")))
    assert isinstance(error, CycleError)
    assert error.message == "parent cycle: a -> b -> c -> a"


# --- order --------------------------------------------------------------------------------------


TREE = [node("z"), node("y", "z"), node("b", "z"), node("a"), node("m", "a"), node("c", "m"),
        node("d", "c")]


def assert_parents_first(order: tuple[str, ...], definitions: list[Definition]) -> None:
    assert sorted(order) == sorted(d.name for d in definitions)
    for child in definitions:
        for parent in child.parents:
            assert order.index(parent) < order.index(child.name), (parent, child.name)


def test_order_puts_parents_before_children() -> None:
    assert_parents_first(build_graph([stack(*TREE)]).order, TREE)


def test_order_of_siblings_is_by_name() -> None:
    g = build_graph([stack(node("r"), node("c", "r"), node("a", "r"), node("b", "r"))])
    assert g.order == ("r", "a", "b", "c")


def test_order_of_roots_is_by_name() -> None:
    g = build_graph([stack(node("zz"), node("mm"), node("aa"))])
    assert g.order == ("aa", "mm", "zz")


@pytest.mark.parametrize("seed", range(5))
def test_order_does_not_depend_on_definition_order_or_stack_split(seed: int) -> None:
    expected = ("a", "z", "b", "m", "y", "c", "d")  # by depth, then by name
    shuffled = list(TREE)
    random.Random(seed).shuffle(shuffled)
    assert build_graph([stack(*shuffled)]).order == expected
    cut = seed + 1
    split = [stack(*shuffled[:cut]), stack(*shuffled[cut:], file="b/stack.yaml")]
    assert build_graph(split).order == expected


def test_child_defined_before_its_parent_still_builds_after_it() -> None:
    g = build_graph([stack(node("a", "b"), node("b"))])
    assert g.order == ("b", "a")
    assert list(g.nodes) == ["b", "a"]


# --- duplicate refs -----------------------------------------------------------------------------


def test_two_nodes_with_the_same_ref_are_rejected_naming_both() -> None:
    error = graph_error(stack(node("a", line=4, image="x", tag="1"),
                              node("b", line=9, image="x", tag="1")))
    assert isinstance(error, StackError)
    assert str(error) == ("a/stack.yaml:9: nodes 'a' and 'b' both publish r/x:1 "
                          "('a' is at a/stack.yaml:4; change a tag)")


def test_same_image_with_different_tags_is_fine() -> None:
    g = build_graph([stack(node("a", image="x", tag="1"), node("b", "a", image="x", tag="2"))])
    assert [g.nodes[n].ref for n in g.order] == ["r/x:1", "r/x:2"]


def test_defined_node_clashing_with_a_dev_tag(root: Path, write_stack: Callable[..., Path]
                                              ) -> None:
    text = ("stack: s\nregistry: r\nnodes:\n  a:\n    kind: os\n    tag: '1'\n"
            "  b:\n    kind: os\n    image: a\n    tag: 1-dev\ndev:\n  dockerfile: a/Dockerfile\n"
            "  except: [b]\n")
    with pytest.raises(StackError) as caught:
        build_graph([load_stack(root, write_stack(text))])
    assert str(caught.value) == ("s/stack.yaml:11: nodes 'b' and 'a-dev' both publish r/a:1-dev "
                                 "('b' is at s/stack.yaml:7; change a tag)")


# --- graph_of: already expanded nodes -----------------------------------------------------------


def test_graph_of_joins_expanded_nodes() -> None:
    a, b = expanded("a", line=4), expanded("b", "a", line=9)
    g = graph_of([b, a])
    assert (g.nodes, g.order, sorted(g.graph.edges)) == ({"b": b, "a": a}, ("a", "b"), [("a", "b")])


def test_graph_of_rejects_two_nodes_with_one_name() -> None:
    with pytest.raises(StackError) as caught:
        graph_of([expanded("a", line=4), expanded("a", line=9, tag="2")])
    assert str(caught.value) == ("a/stack.yaml:9: two nodes are named 'a' "
                                 "(the other is at a/stack.yaml:4; rename a definition or change a value)")


def test_external_nodes_may_share_a_ref() -> None:
    one = replace(expanded("a"), external="debian:12", dockerfile="", context="")
    two = replace(expanded("b"), external="debian:12", dockerfile="", context="")
    g = graph_of([one, two])
    assert [g.nodes[name].ref for name in g.order] == ["debian:12", "debian:12"]


def test_with_registry_leaves_external_nodes_alone() -> None:
    base = replace(expanded("a"), external="debian:12", dockerfile="", context="")
    moved = with_registry(graph_of([base, expanded("b", "a")]), "elsewhere")
    assert moved.nodes["a"] == base
    assert moved.nodes["b"].ref == "elsewhere/b:1"


def test_with_registry_rejects_two_nodes_it_moves_onto_one_reference() -> None:
    a = replace(expanded("a", image="base", line=3), registry="one.io/team")
    b = replace(expanded("b", image="base", line=9, file="b/stack.yaml"), registry="two.io/team")
    with pytest.raises(StackError) as caught:
        with_registry(graph_of([a, b]), "localhost:5000/x")
    assert str(caught.value) == ("b/stack.yaml:9: nodes 'a' and 'b' both publish localhost:5000/x/base:1 "
                                 "('a' is at a/stack.yaml:3; change a tag)")


# --- platforms ----------------------------------------------------------------------------------


def platforms_of(g: StackGraph) -> dict[str, tuple[str, ...]]:
    return {name: g.nodes[name].platforms for name in g.order}


def test_implicit_platforms_are_the_stack_default() -> None:
    g = build_graph([stack(node("a"), node("b", "a"), platforms=(ARM, AMD))])
    assert platforms_of(g) == {"a": (ARM, AMD), "b": (ARM, AMD)}


def test_amd64_only_parent_makes_implicit_children_amd64_only() -> None:
    g = build_graph([stack(node("a", platforms=(AMD,)), node("b", "a"), node("c", "b"))])
    assert platforms_of(g) == {"a": (AMD,), "b": (AMD,), "c": (AMD,)}


def test_explicit_platforms_within_the_parents_are_kept() -> None:
    g = build_graph([stack(node("a", platforms=(AMD, ARM, ARMV7)), node("b", "a", platforms=(ARM,)),
                           node("c", "b"))])
    assert platforms_of(g) == {"a": (AMD, ARM, ARMV7), "b": (ARM,), "c": (ARM,)}


def test_explicit_root_platforms_may_leave_the_stack_default() -> None:
    g = build_graph([stack(node("a", platforms=(ARMV7,)))])
    assert g.nodes["a"].platforms == (ARMV7,)


def test_explicit_platforms_wider_than_the_parents_name_the_missing_one() -> None:
    error = graph_error(stack(node("a", platforms=(AMD,)),
                              node("b", "a", line=12, platforms=(AMD, ARM))))
    assert isinstance(error, StackError)
    assert str(error) == (
        "a/stack.yaml:12: node 'b' wants linux/arm64 but its parent 'a' is built only for "
        "linux/amd64 (drop those platforms or add them to the parent)")


def test_platforms_missing_from_an_implicit_parent_are_named() -> None:
    wanted = (ARMV7, AMD, "linux/386")
    error = graph_error(stack(node("a"), node("b", "a", line=7, platforms=wanted),
                              platforms=(AMD, ARM)))
    assert error.message == ("node 'b' wants linux/arm/v7, linux/386 but its parent 'a' is built "
                             "only for linux/amd64, linux/arm64")


def test_no_platform_in_common_with_the_parent() -> None:
    error = graph_error(stack(node("a", platforms=(AMD,)), node("b", "a", line=6),
                              platforms=(ARM,)))
    assert isinstance(error, StackError)
    assert str(error) == ("a/stack.yaml:6: node 'b' expands to no image: every combination breaks a "
                          "constraint or has no platform in common with its parent "
                          "(relax a constraint, or set 'platforms:' on the node or its parent)")


def test_child_in_another_stack_uses_its_own_stack_default_narrowed_by_the_parent() -> None:
    g = build_graph([stack(node("a")),
                     stack(node("b", "a"), platforms=(ARMV7, ARM, AMD), file="b/stack.yaml")])
    assert platforms_of(g) == {"a": (AMD, ARM), "b": (ARM, AMD)}


def test_resolving_platforms_changes_nothing_else() -> None:
    g = build_graph([stack(node("a", platforms=(AMD,)), node("b", "a", tag="7"))])
    assert g.nodes == {"a": expanded("a", platforms=(AMD,)),
                       "b": expanded("b", "a", tag="7", platforms=(AMD,))}


def test_dev_siblings_follow_their_origins_platforms(
        root: Path, write_stack: Callable[..., Path]) -> None:
    text = ("stack: s\nregistry: r\nnodes:\n  a:\n    kind: os\n    tag: '1'\n"
            "    platforms: [linux/amd64]\n  b:\n    kind: sdk\n    parent: a\n    tag: '1'\n"
            "dev:\n  dockerfile: a/Dockerfile\n")
    g = build_graph([load_stack(root, write_stack(text))])
    assert platforms_of(g) == {"a": (AMD,), "a-dev": (AMD,), "b": (AMD,), "b-dev": (AMD,)}
    assert g.order == ("a", "a-dev", "b", "b-dev")


def test_dev_sibling_of_a_widened_node_gets_all_its_platforms(
        root: Path, write_stack: Callable[..., Path]) -> None:
    text = ("stack: s\nregistry: r\nplatforms: [linux/amd64]\nnodes:\n  a:\n    kind: os\n"
            "    tag: '1'\n    platforms: [linux/amd64, linux/arm64]\n"
            "dev:\n  dockerfile: a/Dockerfile\n")
    g = build_graph([load_stack(root, write_stack(text))])
    assert g.nodes["a-dev"].platforms == (AMD, ARM)


# --- with_registry, descendants, ancestors ------------------------------------------------------


def test_with_registry_changes_every_ref_and_nothing_else() -> None:
    g = build_graph([stack(node("a", platforms=(AMD,)), node("b", "a", image="x", tag="2"))])
    moved = with_registry(g, "localhost:5000/ci")
    assert {n: moved.nodes[n].ref for n in moved.order} == {
        "a": "localhost:5000/ci/a:1", "b": "localhost:5000/ci/x:2"}
    assert {n: replace(moved.nodes[n], registry="r") for n in moved.nodes} == g.nodes
    assert (moved.order, moved.graph) == (g.order, g.graph)


def test_with_registry_leaves_the_original_alone() -> None:
    g = build_graph([stack(node("a"))])
    with_registry(g, "elsewhere")
    assert g.nodes["a"].ref == "r/a:1"


@pytest.fixture
def family() -> StackGraph:
    #  a ─ b ─ c        x
    #   └─ d
    return build_graph([stack(node("a"), node("b", "a"), node("c", "b"), node("d", "a"),
                              node("x"))])


def test_descendants(family: StackGraph) -> None:
    assert family.descendants("a") == {"b", "c", "d"}
    assert family.descendants("b") == {"c"}
    assert family.descendants("c") == set()
    assert family.descendants("x") == set()


def test_ancestors(family: StackGraph) -> None:
    assert family.ancestors("c") == {"a", "b"}
    assert family.ancestors("d") == {"a"}
    assert family.ancestors("a") == set()


def test_descendants_and_ancestors_are_fresh_sets(family: StackGraph) -> None:
    family.descendants("a").add("zzz")
    assert "zzz" not in family.descendants("a")
