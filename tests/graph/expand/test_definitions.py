"""graph.expand.definitions: definitions → nodes (matrix, constraints, parents, attrs, templates, tags,
-dev)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from graph.errors import Location, StackError
from graph.expand.dag import build_graph
from graph.expand.definitions import expand
from graph.load.stackfile import load_stack
from graph.model.spec import Combination, Definition, Node, Secret, Stack
from graph.tags.conventions import get_convention
from tests.graph.conftest import Loaded

Load = Callable[..., Loaded]
Error = Callable[..., str]
WriteStack = Callable[..., Path]

AMD, ARM, ARMV7 = "linux/amd64", "linux/arm64", "linux/arm/v7"
BOTH = (AMD, ARM)
NO_IMAGE = ("every combination breaks a constraint or has no platform in common with its parent "
            "(relax a constraint, or set 'platforms:' on the node or its parent)")


def names(loaded: Loaded) -> list[str]:
    return [node.name for node in loaded.nodes]


def parents(loaded: Loaded) -> dict[str, str | None]:
    return {node.name: node.parent for node in loaded.nodes}


def tags(loaded: Loaded) -> dict[str, str]:
    return {node.name: node.tag for node in loaded.nodes}


def platforms(loaded: Loaded) -> dict[str, tuple[str, ...]]:
    return {node.name: node.platforms for node in loaded.nodes}


# --- matrix axes --------------------------------------------------------------------------------

AXES = """
stack: s
registry: r
nodes:
  py:
    kind: os
    axes: {os: [deb12, ubuntu24], python: ["3.10", "3.11", "3.12"]}
    tag: "{os}-py{python}"
"""


def test_axes_expand_to_their_product_named_definition_then_values(load: Load) -> None:
    loaded = load(AXES)
    assert names(loaded) == [
        "py-deb12-3.10", "py-deb12-3.11", "py-deb12-3.12",
        "py-ubuntu24-3.10", "py-ubuntu24-3.11", "py-ubuntu24-3.12",
    ]
    assert tags(loaded)["py-ubuntu24-3.11"] == "ubuntu24-py3.11"
    assert len({node.ref for node in loaded.nodes}) == 6


def test_an_expanded_node_carries_its_values_as_attrs(load: Load) -> None:
    node = load(AXES).by_name()["py-deb12-3.10"]
    assert node == Node(
        name="py-deb12-3.10", stack="s", kind="os", parent=None, dockerfile="s/py/Dockerfile",
        context="s/py", registry="r", image="py", tag="deb12-py3.10", platforms=BOTH,
        attrs=(("layer", "os"), ("os", "deb12"), ("python", "3.10")),
        definition="py", location=Location("s/stack.yaml", 4))


def test_a_single_axis_value_still_names_the_node(load: Load) -> None:
    text = AXES.replace("[deb12, ubuntu24]", "[deb12]").replace('["3.10", "3.11", "3.12"]', "['3.11']")
    assert names(load(text)) == ["py-deb12-3.11"]


def test_a_definition_without_axes_is_one_node_named_as_the_definition(load: Load) -> None:
    assert names(load("stack: s\nregistry: r\nnodes:\n  base:\n    kind: os\n    tag: '1'\n")) == ["base"]


def test_exclude_and_include(load: Load) -> None:
    text = AXES + ("    exclude:\n      - {os: deb12, python: '3.12'}\n"
                   "      - {os: ubuntu24, python: '3.10'}\n"
                   "    include: [{os: deb11, python: '3.9'}]\n")
    assert names(load(text)) == ["py-deb12-3.10", "py-deb12-3.11", "py-ubuntu24-3.11",
                                 "py-ubuntu24-3.12", "py-deb11-3.9"]


def test_include_only(load: Load) -> None:
    text = ("stack: s\nregistry: r\nnodes:\n  a:\n    kind: os\n    tag: 't{v}'\n"
            "    include: [{v: '1'}, {v: '2', w: x}]\n")
    loaded = load(text)
    assert names(loaded) == ["a-1", "a-2-x"]
    assert loaded.by_name()["a-2-x"].attrs == (("layer", "os"), ("v", "2"), ("w", "x"))


PICKED = """
stack: s
registry: r
nodes:
  openeuler:
    kind: os
    from: "openeuler/openeuler:{os_release}"
    include:
      - {os: 2203sp3, os_release: 22.03-lts-sp3}
      - {os: 2403lts, os_release: 24.03-lts}
  cann:
    kind: sdk
    parent: openeuler
    tag: "cann{sdk_version}-oe{os}"
    axes: {sdk_version: [8.0.RC1]}
    include: [{sdk_version: 8.0.RC3, os: 2403lts}]
"""


def test_an_include_value_of_an_inherited_attribute_picks_the_parents_it_applies_to(load: Load) -> None:
    # it used to override the parent's os: cann8.0.RC3-oe2403lts was built FROM 22.03-lts-sp3 as well
    built = [(node.tag, node.parent) for node in load(PICKED).nodes if node.definition == "cann"]
    assert built == [("cann8.0.RC1-oe2203sp3", "openeuler-2203sp3-22.03-lts-sp3"),
                     ("cann8.0.RC1-oe2403lts", "openeuler-2403lts-24.03-lts"),
                     ("cann8.0.RC3-oe2403lts", "openeuler-2403lts-24.03-lts")]


def test_an_include_no_parent_fits_is_an_error_at_its_line(error: Error) -> None:
    text = PICKED.replace("      - {os: 2403lts, os_release: 24.03-lts}\n", "")
    assert error(text) == (
        "s/stack.yaml:14: include rule of node 'cann' asks for os=2403lts, which no parent node has "
        "(its parents have os: 2203sp3) (an include value of an inherited attribute picks the parents it "
        "applies to: add a parent node with that value, or drop it from the rule)")


def test_an_include_adding_a_new_attribute_applies_to_every_parent(load: Load) -> None:
    text = PICKED.replace("{sdk_version: 8.0.RC3, os: 2403lts}", "{sdk_version: 8.0.RC3, variant: slim}")
    picked = [node.parent for node in load(text).nodes if dict(node.attrs).get("variant") == "slim"]
    assert picked == ["openeuler-2203sp3-22.03-lts-sp3", "openeuler-2403lts-24.03-lts"]


def test_an_exclude_matching_nothing_is_an_error_at_its_line(error: Error) -> None:
    text = AXES + "    exclude:\n      - {os: deb12}\n      - {os: deb13}\n"
    assert error(text) == ("s/stack.yaml:10: exclude rule 2 of node 'py' matches no combination "
                           "(check the attribute names and values it uses)")


def test_an_exclude_naming_an_unknown_attribute_is_an_error(error: Error) -> None:
    assert error(AXES + "    exclude: [{nope: amd64}]\n") == (
        "s/stack.yaml:8: exclude rule 1 of node 'py' matches no combination "
        "(check the attribute names and values it uses)")


def test_an_exclude_naming_a_reserved_attribute_is_an_error(error: Error) -> None:
    assert error(AXES + "    exclude: [{arch: amd64}]\n") == (
        "s/stack.yaml:8: attribute name 'arch' is reserved: constraints get it from each platform "
        "(rename the attribute)")


def test_a_matrix_with_every_combination_excluded_is_an_error(error: Error) -> None:
    text = AXES + "    exclude: [{os: deb12}, {os: ubuntu24}]\n"
    assert error(text) == ("s/stack.yaml:4: node 'py' expands to no image: every combination breaks a "
                           "constraint or has no platform in common with its parent (relax a constraint, "
                           "or set 'platforms:' on the node or its parent)")


def test_an_axis_without_values_is_an_error(error: Error) -> None:
    assert error(AXES.replace("[deb12, ubuntu24]", "[]")) == (
        "s/stack.yaml:6: axis 'os' has no values (list at least one value)")


def test_axis_values_must_be_usable_in_names_and_tags(error: Error) -> None:
    assert error(AXES.replace("[deb12, ubuntu24]", "[deb12, 'ubuntu/24']")) == (
        "s/stack.yaml:6: value 'ubuntu/24' may use only letters, digits, '_', '.' and '-' (not first) "
        "(see 'Writing a stack' in README.md for the schema)")


def test_axis_values_may_contain_dashes(load: Load) -> None:
    loaded = load(AXES.replace("[deb12, ubuntu24]", "[deb12, 'ubuntu-24']"))
    assert "py-ubuntu-24-3.12" in names(loaded)


RESERVED_AXIS = "stack: s\nregistry: r\nnodes:\n  a:\n    kind: os\n    tag: '1'\n    axes:\n      v: [x]\n"


@pytest.mark.parametrize("axis", ["arch", "platform"])
def test_a_reserved_axis_name_is_an_error_at_its_line(error: Error, axis: str) -> None:
    assert error(RESERVED_AXIS + f"      {axis}: [x]\n") == (
        f"s/stack.yaml:9: attribute name {axis!r} is reserved: constraints get it from each platform "
        "(rename the axis)")


@pytest.mark.parametrize("axis", ["my-axis", "1x", "a.b"])
def test_an_axis_name_that_is_not_an_identifier_is_an_error_at_its_line(error: Error, axis: str) -> None:
    assert error(RESERVED_AXIS + f"      {axis}: [x]\n") == (
        f"s/stack.yaml:9: attribute name {axis!r} must be a letter or '_' followed by letters, digits or '_' "
        "(rename the axis)")


@pytest.mark.parametrize("key", ["arch", "platform", "a-b"])
def test_an_include_rule_key_is_checked_like_an_axis_name(
        root: Path, write_stack: WriteStack, key: str) -> None:
    text = "stack: s\nregistry: r\nnodes:\n  a:\n    kind: os\n    tag: '1'\n    include:\n" \
           f"      - {{{key}: x}}\n"
    with pytest.raises(StackError) as caught:
        expand([load_stack(root, write_stack(text))])
    assert (caught.value.location, caught.value.message.split(" ")[:3]) == (
        Location("s/stack.yaml", 8), ["attribute", "name", repr(key)])


@pytest.mark.parametrize("key", ["exclude", "include"])
def test_a_rule_that_is_not_a_mapping_is_an_error_at_its_line(error: Error, key: str) -> None:
    assert error(AXES + f"    {key}: [deb12]\n") == (
        f"s/stack.yaml:8: an {key} rule must be a mapping, got str "
        "(write it as `key: value` lines indented below its name)")


def test_upper_case_values_make_valid_node_names(load: Load) -> None:
    text = "stack: s\nregistry: r\nnodes:\n  a:\n    kind: os\n    axes: {v: [RC1, X_y.Z]}\n    tag: 't{v}'\n"
    assert tags(load(text)) == {"a-RC1": "tRC1", "a-X_y.Z": "tX_y.Z"}


def test_a_generated_node_name_that_is_not_valid_is_an_error_at_the_matrix_line() -> None:
    # unreachable from a stack file (names and values are checked when loaded): build the
    # definition in memory, as a caller of expand() may
    matrix = Location("s/stack.yaml", 6)
    definition = Definition(
        name="a", stack="s", kind="os", parents=(), registry="r", image="a", tag="1", convention="",
        default_platforms=BOTH, combinations=(Combination((("v", "x/y"),), matrix),),
        location=Location("s/stack.yaml", 4))
    with pytest.raises(StackError) as caught:
        expand([Stack("s", "s/stack.yaml", "r", BOTH, (definition,))])
    assert str(caught.value) == ("s/stack.yaml:6: node name 'a-x/y' is not valid "
                                 "(names and matrix values use letters, digits, '_', '.' and '-')")


# --- constraints --------------------------------------------------------------------------------

CONSTRAINED = """
stack: s
registry: r
nodes:
  a:
    kind: os
    axes: {v: ["1", "2", "3"]}
    tag: "t{v}"
    constraints:
      - "v != '2'"
      - "v == '3' -> arch == 'amd64'"
"""


def test_constraints_drop_combinations_and_narrow_platforms(load: Load) -> None:
    assert platforms(load(CONSTRAINED)) == {"a-1": BOTH, "a-3": (AMD,)}


def test_a_platform_constraint_narrows_a_node_without_matrix(load: Load) -> None:
    text = ("stack: s\nregistry: r\nnodes:\n  a:\n    kind: os\n    tag: '1'\n"
            "    platforms: [linux/amd64, linux/arm64, linux/arm/v7]\n"
            "    constraints: [\"platform != 'linux/arm/v7'\"]\n"
            "  b:\n    kind: sdk\n    parent: a\n    tag: '1'\n    constraints: [\"arch == 'amd64'\"]\n")
    assert platforms(load(text)) == {"a": BOTH, "b": (AMD,)}


def test_a_constraint_on_an_inherited_attr(load: Load) -> None:
    text = ("stack: s\nregistry: r\nnodes:\n  os:\n    kind: os\n    axes: {os: [a, b]}\n    tag: '{os}'\n"
            "  sdk:\n    kind: sdk\n    parent: os\n    tag: 'sdk-{os}'\n    constraints: [\"os == 'b'\"]\n")
    assert parents(load(text)) == {"os-a": None, "os-b": None, "sdk-os-b": "os-b"}


def test_a_constraint_naming_an_unknown_attr_is_an_error_at_its_line(error: Error) -> None:
    text = CONSTRAINED + "      - \"vv == '1'\"\n"
    assert error(text) == (
        "s/stack.yaml:11: constraint \"vv == '1'\": unknown attribute 'vv' "
        "(known: arch, layer, platform, v) "
        "(check the spelling, or give every matrix combination that attribute)")


def test_a_malformed_constraint_is_an_error_at_its_line(error: Error) -> None:
    assert error(CONSTRAINED.replace("v != '2'", "v = '2'")) == (
        "s/stack.yaml:9: constraint \"v = '2'\": syntax error at column 3: invalid syntax "
        "(write e.g. sdk == 'cann' and python >= '3.9' -> arch == 'amd64'; quote values with "
        "several dots ('8.0.1'); -> is allowed only outside parentheses)")


def test_a_definition_that_expands_to_nothing_is_an_error(error: Error) -> None:
    text = CONSTRAINED + "      - \"v == '1' -> platform == 'linux/arm/v7'\"\n      - \"v != '3'\"\n"
    assert error(text) == f"s/stack.yaml:4: node 'a' expands to no image: {NO_IMAGE}"


# --- parents ------------------------------------------------------------------------------------

FAMILY = """
stack: s
registry: r
nodes:
  os:
    kind: os
    axes: {os: [deb12, ubuntu24]}
    tag: "{os}"
  sdk:
    kind: sdk
    parent: os
    attrs: {sdk_version: "1.0"}
    tag: "sdk{sdk_version}-{os}"
  tool:
    kind: tool
    parent: sdk
    axes: {python: ["3.10", "3.11"]}
    tag: "{app}-py{python}-{os}"
"""


def test_a_child_expands_against_every_node_of_its_parent(load: Load) -> None:
    assert parents(load(FAMILY)) == {
        "os-deb12": None, "os-ubuntu24": None,
        "sdk-os-deb12": "os-deb12", "sdk-os-ubuntu24": "os-ubuntu24",
        "tool-3.10-sdk-os-deb12": "sdk-os-deb12", "tool-3.11-sdk-os-deb12": "sdk-os-deb12",
        "tool-3.10-sdk-os-ubuntu24": "sdk-os-ubuntu24", "tool-3.11-sdk-os-ubuntu24": "sdk-os-ubuntu24",
    }


def test_children_inherit_their_parents_attrs(load: Load) -> None:
    tool = load(FAMILY).by_name()["tool-3.11-sdk-os-ubuntu24"]
    assert tool.attrs == (
        ("app", "tool"), ("layer", "tool"), ("os", "ubuntu24"), ("python", "3.11"),
        ("sdk", "sdk"), ("sdk_version", "1.0"))
    assert tool.tag == "tool-py3.11-ubuntu24"


def test_a_child_of_a_single_node_parent_is_not_named_after_it(load: Load) -> None:
    text = FAMILY.replace("[deb12, ubuntu24]", "[deb12]")
    assert names(load(text)) == ["os-deb12", "sdk", "tool-3.10", "tool-3.11"]


def test_a_child_of_several_parent_definitions_gets_one_node_per_parent(load: Load) -> None:
    text = ("stack: s\nregistry: r\nnodes:\n"
            "  deb:\n    kind: os\n    tag: deb\n    platforms: [linux/amd64]\n    attrs: {os_name: deb}\n"
            "  alp:\n    kind: os\n    tag: alp\n    attrs: {os_name: alp}\n"
            "  tool:\n    kind: tool\n    parent: [deb, alp]\n    tag: 't-{os_name}'\n")
    loaded = load(text)
    assert names(loaded) == ["alp", "deb", "tool-deb", "tool-alp"]
    assert parents(loaded)["tool-deb"] == "deb"
    assert tags(loaded) == {"alp": "alp", "deb": "deb", "tool-deb": "t-deb", "tool-alp": "t-alp"}
    assert platforms(loaded) == {"alp": BOTH, "deb": (AMD,), "tool-deb": (AMD,), "tool-alp": BOTH}


def test_several_parents_each_with_a_matrix(load: Load) -> None:
    text = ("stack: s\nregistry: r\nnodes:\n"
            "  a:\n    kind: os\n    axes: {v: ['1', '2']}\n    tag: 'a{v}'\n    attrs: {os_name: a}\n"
            "  b:\n    kind: os\n    tag: b\n    attrs: {os_name: b}\n"
            "  c:\n    kind: sdk\n    parent: [a, b]\n    axes: {w: [x]}\n    tag: 'c-{os_name}-{w}'\n"
            "    image: c\n")
    assert parents(load(text)) == {"a-1": None, "a-2": None, "b": None,
                                   "c-x-a-1": "a-1", "c-x-a-2": "a-2", "c-x-b": "b"}


def test_a_parent_in_another_stack_is_expanded_first(root: Path, write_stack: WriteStack) -> None:
    base = load_stack(root, write_stack(
        "stack: base\nregistry: r\nnodes:\n  os:\n    kind: os\n    axes: {os: [a, b]}\n    tag: '{os}'\n",
        folder="stacks/base"))
    apps = load_stack(root, write_stack(
        "stack: apps\nregistry: r\nnodes:\n  app:\n    kind: llm\n    parent: os\n    tag: 'app-{os}'\n",
        folder="stacks/apps"))
    nodes = expand([apps, base])
    assert [(node.name, node.stack, node.parent) for node in nodes] == [
        ("os-a", "base", None), ("os-b", "base", None), ("app-os-a", "apps", "os-a"),
        ("app-os-b", "apps", "os-b")]


NAMED = ("stack: s\nregistry: r\nnodes:\n"
         "  os:\n    kind: os\n    axes: {os: [a, b]}\n    tag: '{os}'\n"
         "  sdk:\n    kind: sdk\n    parent: os\n    axes: {v: ['1']}\n    name: 'sdk{v}-on-{os}'\n"
         "    tag: 'sdk-{os}'\n")


def test_a_name_template_names_its_nodes_exactly_as_written(load: Load) -> None:
    assert names(load(NAMED)) == ["os-a", "os-b", "sdk1-on-a", "sdk1-on-b"]


def test_a_name_template_that_gives_two_nodes_one_name_is_an_error_at_its_line(error: Error) -> None:
    assert error(NAMED.replace("'sdk{v}-on-{os}'", "'sdk{v}'")) == (
        "s/stack.yaml:12: name template 'sdk{v}' gives two nodes of 'sdk' the name 'sdk1' (use an attribute "
        "that differs between them, such as a matrix axis or the parent's {os} or {sdk_version})")


# --- attributes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "attr"), [
    ("sdk", "sdk"), ("framework", "framework"), ("tool", "app"), ("llm", "app")])
def test_each_kind_names_its_definition_under_one_attr(load: Load, kind: str, attr: str) -> None:
    text = f"stack: s\nregistry: r\nnodes:\n  thing:\n    kind: {kind}\n    tag: '{{{attr}}}'\n"
    node = load(text).nodes[0]
    assert node.attrs == tuple(sorted({attr: "thing", "layer": kind}.items()))
    assert node.tag == "thing"


def test_an_os_node_sets_no_os_name_of_its_own(error: Error) -> None:
    assert error("stack: s\nregistry: r\nnodes:\n  os:\n    kind: os\n    from: '{os_name}:12'\n") == (
        "s/stack.yaml:6: template '{os_name}:12' uses unknown attribute 'os_name' (known here: layer)")


def test_an_os_node_takes_os_name_from_its_axes(load: Load) -> None:
    text = "stack: s\nregistry: r\nnodes:\n  os:\n    kind: os\n    from: '{os_name}:12'\n" \
           "    axes: {os_name: [debian, ubuntu]}\n"
    assert [node.external for node in load(text).nodes] == ["debian:12",
                                                            "ubuntu:12"]


def test_own_attrs_override_inherited_and_built_in_ones(load: Load) -> None:
    text = ("stack: s\nregistry: r\nnodes:\n  os:\n    kind: os\n    tag: '1'\n"
            "    attrs: {os: deb12, x: '1'}\n"
            "  sdk:\n    kind: sdk\n    parent: os\n    tag: '2'\n    attrs: {x: '2', sdk: cpu}\n")
    assert load(text).by_name()["sdk"].attrs == (
        ("layer", "sdk"), ("os", "deb12"), ("sdk", "cpu"), ("x", "2"))


def test_matrix_values_override_inherited_attrs(load: Load) -> None:
    text = ("stack: s\nregistry: r\nnodes:\n  os:\n    kind: os\n    tag: '1'\n    attrs: {python: '3.9'}\n"
            "  sdk:\n    kind: sdk\n    parent: os\n    tag: 'py{python}'\n    axes: {python: ['3.11']}\n")
    assert tags(load(text)) == {"os": "1", "sdk-3.11": "py3.11"}


def test_an_include_value_of_an_own_axis_overrides_inherited_attrs_like_the_axis(load: Load) -> None:
    # the axis python is the definition's own: an include adds a value of it, it picks no parent
    text = ("stack: s\nregistry: r\nnodes:\n  os:\n    kind: os\n    tag: '1'\n    attrs: {python: '3.9'}\n"
            "  sdk:\n    kind: sdk\n    parent: os\n    tag: 'py{python}'\n    axes: {python: ['3.11']}\n"
            "    include: [{python: '3.12'}]\n")
    assert tags(load(text)) == {"os": "1", "sdk-3.11": "py3.11", "sdk-3.12": "py3.12"}


def test_attrs_may_be_templates_over_earlier_attrs(load: Load) -> None:
    text = ("stack: s\nregistry: r\nnodes:\n  a:\n    kind: os\n    axes: {v: ['1']}\n"
            "    attrs: {full: 'a{v}'}\n    tag: '{full}'\n")
    node = load(text).nodes[0]
    assert dict(node.attrs)["full"] == "a1"
    assert node.tag == "a1"


def test_attrs_may_use_own_attrs_in_any_key_order(load: Load) -> None:
    text = "stack: s\nregistry: r\nnodes:\n  a:\n    kind: os\n    attrs: {b: x, a: '{b}'}\n    tag: '{a}'\n"
    assert load(text).nodes[0].tag == "x"


def test_own_attrs_keep_file_order_so_each_may_use_any_earlier_one(load: Load) -> None:
    text = ("stack: s\nregistry: r\nnodes:\n  a:\n    kind: os\n"
            "    attrs: {c: x, b: '{c}y', a: '{b}z'}\n    tag: '{a}'\n")
    loaded = load(text)
    assert loaded.stack.definitions[0].attrs == (("c", "x"), ("b", "{c}y"), ("a", "{b}z"))
    assert loaded.nodes[0].attrs == (("a", "xyz"), ("b", "xy"), ("c", "x"), ("layer", "os"))
    assert loaded.nodes[0].tag == "xyz"


def test_an_attr_using_a_later_attr_is_an_error_at_the_attrs_line(error: Error) -> None:
    text = "stack: s\nregistry: r\nnodes:\n  a:\n    kind: os\n    tag: '1'\n    attrs: {a: '{b}', b: x}\n"
    assert error(text) == (
        "s/stack.yaml:7: template '{b}' uses unknown attribute 'b' (known here: layer)")


RESERVED_ATTR = "stack: s\nregistry: r\nnodes:\n  a:\n    kind: os\n    tag: '1'\n    attrs:\n      ok: '1'\n"


@pytest.mark.parametrize("attr", ["arch", "platform"])
def test_a_reserved_attr_name_is_an_error_at_its_line(error: Error, attr: str) -> None:
    assert error(RESERVED_ATTR + f"      {attr}: x\n") == (
        f"s/stack.yaml:9: attribute name {attr!r} is reserved: constraints get it from each platform "
        "(see 'Writing a stack' in README.md for the schema)")


@pytest.mark.parametrize("attr", ["a-b", "1x", "a.b", "a b"])
def test_an_attr_name_that_is_not_an_identifier_is_an_error_at_its_line(error: Error, attr: str) -> None:
    assert error(RESERVED_ATTR + f"      {attr}: x\n") == (
        f"s/stack.yaml:9: attribute name {attr!r} must be a letter or '_' followed by letters, digits or '_' "
        "(see 'Writing a stack' in README.md for the schema)")


# --- templates ----------------------------------------------------------------------------------

TEMPLATED = """
stack: s
registry: r
args: {STACK: "{layer}"}
nodes:
  a:
    kind: os
    axes: {v: ["1", "2"]}
    attrs: {w: x}
    args: {V: "{v}", PLAIN: "p"}
    test: echo "{v} {w}" '{{literal}}'
    tag: "t{v}-{w}"
"""


def test_templates_fill_tag_args_and_test(load: Load) -> None:
    node = load(TEMPLATED).by_name()["a-2"]
    assert (node.tag, node.args, node.test) == (
        "t2-x", (("PLAIN", "p"), ("STACK", "os"), ("V", "2")), ("echo", "2 x", "{literal}"))


@pytest.mark.parametrize(("old", "new", "line", "template"), [
    ('tag: "t{v}-{w}"', 'tag: "t{v}-{nope}"', 11, "t{v}-{nope}"),  # the tag: line
    ('V: "{v}"', 'V: "{nope}"', 9, "{nope}"),  # the args: line
    ("echo \"{v} {w}\"", "echo \"{v} {nope}\"", 10, "{v} {nope}"),  # the test: line
], ids=["tag", "args", "test"])
def test_a_template_naming_an_unknown_attr_is_an_error_at_its_field_naming_the_known_ones(
        error: Error, old: str, new: str, line: int, template: str) -> None:
    assert error(TEMPLATED.replace(old, new)) == (
        f"s/stack.yaml:{line}: template {template!r} uses unknown attribute 'nope' "
        "(known here: layer, v, w)")


def test_a_template_naming_an_unknown_attr_without_matrix_is_an_error_at_its_field(error: Error) -> None:
    assert error("stack: s\nregistry: r\nnodes:\n  a:\n    kind: os\n    tag: '{nope}'\n") == (
        "s/stack.yaml:6: template '{nope}' uses unknown attribute 'nope' (known here: layer)")


def test_a_template_with_a_conversion_is_an_error(error: Error) -> None:
    assert error("stack: s\nregistry: r\nnodes:\n  a:\n    kind: os\n    tag: 't{os_name!r}'\n") == (
        "s/stack.yaml:6: template 't{os_name!r}': '{os_name}' is not a plain attribute name "
        "(use {name} only: no indexes, attributes, conversions or formats)")


def test_a_rendered_tag_must_be_a_valid_tag_at_the_tag_line(error: Error) -> None:
    text = "stack: s\nregistry: r\nnodes:\n  a:\n    kind: os\n    axes: {v: [x]}\n    tag: '.{v}'\n"
    assert error(text) == (
        "s/stack.yaml:7: tag '.x' is not a valid OCI tag (allowed: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}) "
        "(shorten the tag or change the values it is made of)")


def test_a_template_in_an_inherited_field_is_an_error_at_the_extending_node(error: Error) -> None:
    text = ("stack: s\nregistry: r\nnodes:\n  a:\n    kind: os\n    attrs: {v: '1'}\n    args: {A: '{v}'}\n"
            "    tag: '1'\n  b:\n    extends: a\n    attrs: {w: '2'}\n")
    assert error(text) == (
        "s/stack.yaml:9: template '{v}' uses unknown attribute 'v' (known here: layer, w)")


def test_a_stack_arg_template_naming_an_unknown_attr_is_an_error_at_the_stack_args_line(error: Error) -> None:
    text = "stack: s\nregistry: r\nargs: {S: '{nope}'}\nnodes:\n  a:\n    kind: os\n    tag: '1'\n" \
           "    args: {X: y}\n"
    assert error(text) == (
        "s/stack.yaml:3: template '{nope}' uses unknown attribute 'nope' (known here: layer)")


# --- tag conventions ----------------------------------------------------------------------------

OEEP14 = """
stack: s
registry: r
tags: oeep14
nodes:
  openeuler:
    kind: os
    axes: {os: [2203sp3, 2403lts]}
  cann:
    kind: sdk
    parent: openeuler
    attrs: {sdk_version: 8.0.RC1}
  pytorch:
    kind: framework
    parent: cann
    attrs: {framework_version: 2.1.0}
  chatglm:
    kind: llm
    parent: pytorch
dev:
  dockerfile: dev/Dockerfile
  except: [openeuler]
"""


def test_a_stack_convention_makes_every_tag(load: Load) -> None:
    assert tags(load(OEEP14)) == {
        "openeuler-2203sp3": "oe2203sp3",
        "openeuler-2403lts": "oe2403lts",
        "cann-openeuler-2203sp3": "cann8.0.RC1-oe2203sp3",
        "cann-openeuler-2403lts": "cann8.0.RC1-oe2403lts",
        "pytorch-cann-openeuler-2203sp3": "pytorch2.1.0-cann8.0.RC1-oe2203sp3",
        "pytorch-cann-openeuler-2403lts": "pytorch2.1.0-cann8.0.RC1-oe2403lts",
        "chatglm-pytorch-cann-openeuler-2203sp3": "chatglm-pytorch2.1.0-cann8.0.RC1-oe2203sp3",
        "chatglm-pytorch-cann-openeuler-2403lts": "chatglm-pytorch2.1.0-cann8.0.RC1-oe2403lts",
        "cann-openeuler-2203sp3-dev": "cann8.0.RC1-oe2203sp3-dev",
        "cann-openeuler-2403lts-dev": "cann8.0.RC1-oe2403lts-dev",
        "pytorch-cann-openeuler-2203sp3-dev": "pytorch2.1.0-cann8.0.RC1-oe2203sp3-dev",
        "pytorch-cann-openeuler-2403lts-dev": "pytorch2.1.0-cann8.0.RC1-oe2403lts-dev",
        "chatglm-pytorch-cann-openeuler-2203sp3-dev": "chatglm-pytorch2.1.0-cann8.0.RC1-oe2203sp3-dev",
        "chatglm-pytorch-cann-openeuler-2403lts-dev": "chatglm-pytorch2.1.0-cann8.0.RC1-oe2403lts-dev",
    }


def test_convention_tags_are_what_the_convention_generates(load: Load) -> None:
    convention = get_convention("oeep14")
    for node in load(OEEP14).nodes:
        assert node.tag == convention.generate(node.kind, dict(node.attrs), node.variant == "dev")


def test_an_explicit_tag_that_follows_the_convention_is_kept(load: Load) -> None:
    text = OEEP14.replace("    attrs: {sdk_version: 8.0.RC1}\n",
                          "    attrs: {sdk_version: 8.0.RC1}\n    tag: 'cann{sdk_version}-oe{os}'\n")
    assert tags(load(text))["cann-openeuler-2403lts"] == "cann8.0.RC1-oe2403lts"


def test_an_explicit_tag_that_breaks_the_convention_is_an_error(error: Error) -> None:
    text = OEEP14.replace("    attrs: {sdk_version: 8.0.RC1}\n",
                          "    attrs: {sdk_version: 8.0.RC1}\n    tag: 'cann-{sdk_version}'\n")
    # only the sdk form is expected: the tag is parsed with the node's kind; the error is at the tag: line
    assert error(text) == (
        "s/stack.yaml:12: tag 'cann-8.0.RC1' does not follow oeep14: "
        "expected <sdk><sdk_version>-oe<os>[-dev] "
        "('cann' should look like <sdk><sdk_version>, e.g. cann8.0.RC1)")


def test_an_explicit_tag_of_another_kinds_form_is_an_error(error: Error) -> None:
    text = OEEP14.replace("    attrs: {sdk_version: 8.0.RC1}\n",
                          "    attrs: {sdk_version: 8.0.RC1}\n    tag: 'oe{os}'\n")
    assert error(text) == (
        "s/stack.yaml:12: tag 'oe2203sp3' does not follow oeep14: "
        "expected <sdk><sdk_version>-oe<os>[-dev] (e.g. cann8.0.RC1-oe2203sp3)")


def test_a_convention_needing_a_missing_attr_is_an_error(error: Error) -> None:
    assert error(OEEP14.replace("    attrs: {sdk_version: 8.0.RC1}\n", "")) == (
        "s/stack.yaml:8: oeep14 tag for kind 'sdk' is missing attrs: sdk_version "
        "(add them to the node's attrs, e.g. sdk_version: 8.0.RC1)")


def test_a_node_without_tag_or_convention_is_an_error(error: Error) -> None:
    assert error("stack: s\nregistry: r\nnodes:\n  a:\n    kind: os\n") == (
        "s/stack.yaml:4: node 'a' has no tag "
        "(add 'tag:' to the node, or 'tags: <convention>' to the node or the stack)")


def test_an_unknown_convention_is_an_error(error: Error) -> None:
    assert error("stack: s\nregistry: r\ntags: semver\nnodes:\n  a:\n    kind: os\n") == (
        "s/stack.yaml:3: unknown tag convention 'semver'; use one of oeep14, nvidia, rocm, pai, "
        "openeuler or template:<format> (see 'Writing a stack' in README.md for the schema)")


# --- extends ------------------------------------------------------------------------------------

EXTENDS = """
stack: s
registry: r
nodes:
  base:
    kind: os
    tag: "b"
  one:
    kind: sdk
    parent: base
    image: sdk
    attrs: {v: "1"}
    args: {A: "{v}"}
    test: echo one
    tag: "s{v}"
  two:
    extends: one
    attrs: {v: "2"}
  three:
    extends: two
    image: other
"""


def test_extends_inherits_the_fields_and_own_fields_override(load: Load) -> None:
    nodes = load(EXTENDS).by_name()
    two, three = nodes["two"], nodes["three"]
    assert (two.kind, two.parent, two.image, two.tag, two.args, two.test) == (
        "sdk", "base", "sdk", "s2", (("A", "2"),), ("echo", "one"))
    assert (two.dockerfile, two.definition, two.location) == (
        "s/two/Dockerfile", "two", Location("s/stack.yaml", 15))
    assert (three.image, three.tag, three.ref, dict(three.attrs)["sdk"]) == (
        "other", "s2", "r/other:s2", "three")


def test_extends_keeps_numbers_as_written_in_the_extended_definition(load: Load) -> None:
    text = ("stack: s\nregistry: r\nnodes:\n  a:\n    kind: os\n    tag: 'py{python}-{v}'\n"
            "    axes: {python: [3.10, 3.11]}\n    attrs: {v: 1.20}\n"
            "  b:\n    extends: a\n    image: b\n")
    assert tags(load(text)) == {"a-3.10": "py3.10-1.20", "a-3.11": "py3.11-1.20",
                                "b-3.10": "py3.10-1.20", "b-3.11": "py3.11-1.20"}


def test_extends_loops_are_errors(error: Error) -> None:
    text = ("stack: s\nregistry: r\nnodes:\n  a:\n    extends: b\n    kind: os\n    tag: '1'\n"
            "  b:\n    extends: a\n")
    assert error(text) == "s/stack.yaml:9: 'extends' loops: a -> b -> a (remove one 'extends')"


def test_extending_itself_is_an_error(error: Error) -> None:
    text = "stack: s\nregistry: r\nnodes:\n  a:\n    kind: os\n    tag: '1'\n    extends: a\n"
    assert error(text) == "s/stack.yaml:7: 'extends' loops: a -> a (remove one 'extends')"


def test_extending_an_unknown_node_is_an_error(error: Error) -> None:
    text = EXTENDS + "  four:\n    extends: zero\n"
    assert error(text) == ("s/stack.yaml:22: node 'four' extends unknown node 'zero' "
                           "(known: base, four, one, three, two)")


# --- from: external images ----------------------------------------------------------------------

EXTERNAL = """
stack: s
registry: r
nodes:
  ubuntu:
    kind: os
    from: "docker.io/library/ubuntu:{os_version}"
    axes: {os_version: ["22.04", "24.04"]}
  sdk:
    kind: sdk
    parent: ubuntu
    tag: "py-{os_version}"
dev:
  dockerfile: dev/Dockerfile
"""


def test_an_external_node_needs_no_dockerfile_and_uses_the_image_as_is(load: Load) -> None:
    loaded = load(EXTERNAL, dockerfiles=["sdk/Dockerfile", "dev/Dockerfile"])
    assert loaded.by_name()["ubuntu-22.04"] == Node(
        name="ubuntu-22.04", stack="s", kind="os", parent=None, dockerfile="", context="", registry="r",
        image="ubuntu", tag="", platforms=BOTH,
        attrs=(("layer", "os"), ("os_version", "22.04")),
        external="docker.io/library/ubuntu:22.04", definition="ubuntu", location=Location("s/stack.yaml", 4))
    assert {node.name: node.ref for node in loaded.nodes} == {
        "ubuntu-22.04": "docker.io/library/ubuntu:22.04",
        "ubuntu-24.04": "docker.io/library/ubuntu:24.04",
        "sdk-ubuntu-22.04": "r/sdk:py-22.04",
        "sdk-ubuntu-24.04": "r/sdk:py-24.04",
        "sdk-ubuntu-22.04-dev": "r/sdk:py-22.04-dev",
        "sdk-ubuntu-24.04-dev": "r/sdk:py-24.04-dev",
    }


def test_external_nodes_get_no_dev_sibling(load: Load) -> None:
    loaded = load(EXTERNAL)
    assert [node.name for node in loaded.nodes if node.variant == "dev"] == [
        "sdk-ubuntu-22.04-dev", "sdk-ubuntu-24.04-dev"]


def test_an_external_node_with_a_dockerfile_is_an_error(error: Error) -> None:
    text = EXTERNAL.replace('    from: "docker', '    dockerfile: Dockerfile\n    from: "docker')
    assert error(text, dockerfiles=["Dockerfile", "sdk/Dockerfile", "dev/Dockerfile"]) == (
        "s/stack.yaml:6: node 'ubuntu' has both 'from' and 'dockerfile' "
        "(an external image is used as it is: drop 'dockerfile' or 'from')")


EXTERNAL_CONVENTION = """
stack: s
registry: r
tags: oeep14
nodes:
  openeuler:
    kind: os
    from: docker.io/openeuler/openeuler:24.03-lts
  cann:
    kind: sdk
    parent: openeuler
    attrs: {os: 2403lts, sdk_version: 8.0.RC1}
dev:
  dockerfile: dev/Dockerfile
"""


def test_an_external_node_in_a_convention_stack_gets_no_tag_and_its_from_as_ref(load: Load) -> None:
    loaded = load(EXTERNAL_CONVENTION)
    assert loaded.nodes[0] == Node(
        name="openeuler", stack="s", kind="os", parent=None, dockerfile="", context="", registry="r",
        image="openeuler", tag="", platforms=BOTH, attrs=(("layer", "os"),),
        external="docker.io/openeuler/openeuler:24.03-lts", definition="openeuler",
        location=Location("s/stack.yaml", 5))
    assert {node.name: (node.tag, node.ref) for node in loaded.nodes} == {
        "openeuler": ("", "docker.io/openeuler/openeuler:24.03-lts"),
        "cann": ("cann8.0.RC1-oe2403lts", "r/cann:cann8.0.RC1-oe2403lts"),
        "cann-dev": ("cann8.0.RC1-oe2403lts-dev", "r/cann:cann8.0.RC1-oe2403lts-dev"),
    }


def test_an_external_node_skips_the_convention_that_a_built_node_would_need(error: Error) -> None:
    # the same node built (no from:) needs the convention's attrs: 'os' is missing
    text = EXTERNAL_CONVENTION.replace("    from: docker.io/openeuler/openeuler:24.03-lts\n", "")
    assert error(text) == (
        "s/stack.yaml:5: oeep14 tag for kind 'os' is missing attrs: os (add them to the node's attrs, e.g. "
        "os: 2203sp3)")


# --- duplicates ---------------------------------------------------------------------------------


def test_two_expanded_nodes_with_the_same_ref_are_an_error_naming_both(
        root: Path, write_stack: WriteStack) -> None:
    text = "stack: s\nregistry: r\nnodes:\n  a:\n    kind: os\n    axes: {v: ['1', '2']}\n    tag: same\n"
    with pytest.raises(StackError) as caught:
        build_graph([load_stack(root, write_stack(text))])
    assert str(caught.value) == (
        "s/stack.yaml:4: nodes 'a-1' and 'a-2' both publish r/a:same "
        "('a-1' is at s/stack.yaml:4; change a tag)")


def test_an_expanded_name_clashing_with_a_definition_is_an_error(
        root: Path, write_stack: WriteStack) -> None:
    text = ("stack: s\nregistry: r\nnodes:\n  a:\n    kind: os\n    axes: {v: ['1']}\n    tag: 't{v}'\n"
            "  a-1:\n    kind: os\n    tag: other\n")
    with pytest.raises(StackError) as caught:
        build_graph([load_stack(root, write_stack(text))])
    assert str(caught.value) == ("s/stack.yaml:8: two nodes are named 'a-1' "
                                 "(the other is at s/stack.yaml:4; rename a definition or change a value)")


# --- the -dev rule ------------------------------------------------------------------------------

DEV = """
stack: s
registry: r
secrets: [{id: ca, src: /etc/ca.crt}]
nodes:
  os:
    kind: os
    axes: {os: [a, b]}
    tag: "{os}"
    test: cat /etc/os-release
  app:
    kind: llm
    parent: os
    tag: "app-{os}"
dev:
  dockerfile: dev/Dockerfile
  except: [app]
  args: {SCOPE: "{scope}", OS: "{os}"}
  test: echo "{layer} {scope}"
"""


def test_every_expanded_node_gets_a_dev_sibling_rendered_with_scope_develop(load: Load) -> None:
    loaded = load(DEV)
    assert names(loaded) == ["os-a", "os-b", "app-os-a", "app-os-b", "os-a-dev", "os-b-dev"]
    assert loaded.by_name()["os-b-dev"] == Node(
        name="os-b-dev", stack="s", kind="os", parent="os-b", dockerfile="s/dev/Dockerfile",
        context="s/dev", registry="r", image="os", tag="b-dev", platforms=BOTH,
        args=(("OS", "b"), ("SCOPE", "develop")), test=("echo", "os develop"),
        secrets=(Secret("ca", src="/etc/ca.crt"),), variant="dev",
        attrs=(("layer", "os"), ("os", "b"), ("scope", "develop")),
        definition="os", location=Location("s/stack.yaml", 14))


def test_dev_siblings_follow_their_origins_platforms(load: Load) -> None:
    constraint = "    constraints: [\"os == 'a' -> arch == 'arm64'\"]\n"
    text = DEV.replace("  except: [app]\n", "").replace('    tag: "app-{os}"\n',
                                                          '    tag: "app-{os}"\n' + constraint)
    assert platforms(load(text)) == {
        "os-a": BOTH, "os-b": BOTH, "app-os-a": (ARM,), "app-os-b": BOTH,
        "os-a-dev": BOTH, "os-b-dev": BOTH, "app-os-a-dev": (ARM,), "app-os-b-dev": BOTH}


def test_a_dev_template_naming_an_unknown_attr_is_an_error_at_the_dev_section(error: Error) -> None:
    assert error(DEV.replace('OS: "{os}"', 'OS: "{nope}"')) == (
        "s/stack.yaml:14: template '{nope}' uses unknown attribute 'nope' "
        "(known here: layer, os, scope)")


# --- order --------------------------------------------------------------------------------------


def test_parents_come_before_children_and_dev_siblings_last(root: Path, write_stack: WriteStack) -> None:
    text = ("stack: s\nregistry: r\nnodes:\n  z:\n    kind: sdk\n    parent: m\n    tag: z\n"
            "  m:\n    kind: os\n    parent: b\n    tag: m\n  b:\n    kind: os\n    tag: b\n"
            "  a:\n    kind: os\n    tag: a\ndev:\n  dockerfile: dev/Dockerfile\n")
    nodes = [node.name for node in expand([load_stack(root, write_stack(text))])]
    assert nodes[:4] == ["a", "b", "m", "z"]
    assert sorted(nodes[4:]) == ["a-dev", "b-dev", "m-dev", "z-dev"]


def test_an_include_whose_values_each_parent_has_only_some_of_is_an_error_at_its_line(error: Error) -> None:
    # each value is some parent's, but no parent has both: the error names the pair, not a StopIteration
    text = PICKED.replace("{sdk_version: 8.0.RC3, os: 2403lts}",
                          "{sdk_version: 8.0.RC3, os: 2403lts, os_release: 22.03-lts-sp3}")
    assert error(text) == (
        "s/stack.yaml:15: include rule of node 'cann' asks for os=2403lts, os_release=22.03-lts-sp3, "
        "which no parent node has together (an include value of an inherited attribute picks the parents "
        "it applies to: add a parent node with those values, or drop them from the rule)")


OS_PARENT = ("stack: s\nregistry: r\nnodes:\n  os:\n    kind: os\n    tag: 'oe{os}'\n"
             "    axes: {os: ['2203']}\n")


@pytest.mark.parametrize(("child", "line"), [
    ("    axes: {os: ['2403']}\n", 13),                       # an axis naming the OS
    ("    axes: {os: ['2203']}\n    include: [{os: '2403'}]\n", 14),  # an include value of that axis
    ("    attrs: {os: '{sdk}'}\n", 13),                        # an attr rewriting it
])
def test_a_child_that_would_change_its_parents_os_is_an_error_at_its_line(
        root: Path, write_stack: Callable[[str], Path], child: str, line: int) -> None:
    parent = OS_PARENT + "    attrs: {os_release: '22.03'}\n"
    text = parent + "  sdk:\n    kind: sdk\n    parent: os\n    tag: 'x-oe{os}'\n" + child
    with pytest.raises(StackError) as caught:
        expand([load_stack(root, write_stack(text))])
    assert caught.value.location == Location("s/stack.yaml", line)
    assert "keeps its OS" in caught.value.message and "root definition" in (caught.value.hint or "")


def test_a_child_may_restate_its_parents_os(load: Load) -> None:
    text = (OS_PARENT + "  sdk:\n    kind: sdk\n    parent: os\n    tag: 'x-oe{os_release}'\n"
            "    attrs: {os_release: '{os}'}\n")
    assert tags(load(text)) == {"os-2203": "oe2203", "sdk": "x-oe2203"}


def test_a_child_may_not_change_its_parents_os_version(root: Path,
                                                       write_stack: Callable[[str], Path]) -> None:
    # the nvidia, rocm and pai conventions name the OS as <os_name><os_version>: a child's own would lie
    text = ("stack: s\nregistry: r\nnodes:\n  os:\n    kind: os\n    from: 'ubuntu:{os_version}'\n"
            "    attrs: {os_name: ubuntu}\n    axes: {os_version: ['22.04']}\n"
            "  sdk:\n    kind: sdk\n    parent: os\n    tag: 'x-{os_name}{os_version}'\n"
            "    axes: {os_version: ['24.04']}\n")
    with pytest.raises(StackError) as caught:
        expand([load_stack(root, write_stack(text))])
    assert caught.value.location == Location("s/stack.yaml", 13)
    assert "os_version='24.04'" in caught.value.message and "keeps its OS" in caught.value.message
