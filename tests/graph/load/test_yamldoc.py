"""graph.load.yamldoc: safe YAML parsing that remembers the line of every key and item."""

from __future__ import annotations

import pytest
import yaml

from graph.errors import Location, StackError
from graph.load.yamldoc import YamlDoc, parse_yaml


def fail(text: str) -> str:
    with pytest.raises(StackError) as caught:
        parse_yaml(text, "s/stack.yaml")
    return str(caught.value)


# --- line numbers -------------------------------------------------------------------------------


def test_keys_get_their_own_line() -> None:
    doc = parse_yaml("# a comment\nstack: demo\nnodes:\n  a:\n    kind: os\n", "f.yaml")
    assert doc.lines[("stack",)] == 2
    assert doc.lines[("nodes",)] == 3
    assert doc.lines[("nodes", "a")] == 4
    assert doc.lines[("nodes", "a", "kind")] == 5


def test_key_line_wins_over_the_line_its_value_starts_on() -> None:
    doc = parse_yaml("a:\n  - 1\n", "f.yaml")
    assert doc.lines[("a",)] == 1
    assert doc.lines[("a", 0)] == 2


def test_block_list_items_get_their_own_line() -> None:
    doc = parse_yaml("platforms:\n  - linux/amd64\n\n  - linux/arm64\n", "f.yaml")
    assert doc.lines[("platforms", 0)] == 2
    assert doc.lines[("platforms", 1)] == 4


def test_flow_list_items_share_the_line() -> None:
    doc = parse_yaml("x: 1\nplatforms: [linux/amd64, linux/arm64]\n", "f.yaml")
    assert doc.lines[("platforms", 0)] == 2
    assert doc.lines[("platforms", 1)] == 2


def test_keys_inside_list_items() -> None:
    doc = parse_yaml("secrets:\n  - id: a\n    env: A\n  - id: b\n    src: f\n", "f.yaml")
    assert doc.data == {"secrets": [{"id": "a", "env": "A"}, {"id": "b", "src": "f"}]}
    assert doc.lines[("secrets", 0, "id")] == 2
    assert doc.lines[("secrets", 0, "env")] == 3
    assert doc.lines[("secrets", 1)] == 4
    assert doc.lines[("secrets", 1, "src")] == 5


def test_non_string_keys_are_recorded_as_text() -> None:
    doc = parse_yaml("a: 0\n12: twelve\n", "f.yaml")
    assert doc.data == {"a": 0, 12: "twelve"}
    assert doc.lines[("12",)] == 2


def test_at_gives_the_location_of_the_deepest_known_prefix() -> None:
    doc = parse_yaml("stack: demo\nnodes:\n  a:\n    kind: os\n", "f.yaml")
    assert doc.at("nodes", "a", "kind") == Location("f.yaml", 4)
    assert doc.at("nodes", "a", "tag") == Location("f.yaml", 3)
    assert doc.at("nodes", "zzz", "tag") == Location("f.yaml", 2)
    assert str(doc.at("nodes", "a")) == "f.yaml:3"


def test_at_of_nothing_is_the_first_line_of_content() -> None:
    doc = parse_yaml("# header\n\nstack: demo\n", "f.yaml")
    assert doc.at() == Location("f.yaml", 3)


def test_empty_document_has_no_data_and_locates_the_whole_file() -> None:
    doc = parse_yaml("# nothing here\n", "f.yaml")
    assert doc == YamlDoc("f.yaml", None, {})
    assert str(doc.at("nodes")) == "f.yaml"


@pytest.mark.parametrize("text", [
    "a: 1\nb: [x, 'y', \"z\"]\nc: {d: 1.5, e: true, f: null}\n",
    "- 1\n- two\n- [3]\n",
    "a: &anchor [1, 2]\nb: *anchor\n",
    "tag: '12'\nnum: 12\noct: 0o17\nbig: 1_000\n",
    "text: |\n  line one\n  line two\n",
])
def test_data_is_what_safe_load_gives(text: str) -> None:
    assert parse_yaml(text, "f.yaml").data == yaml.safe_load(text)


# --- duplicate keys -----------------------------------------------------------------------------


def test_duplicate_top_level_key_is_rejected_at_the_second_one() -> None:
    assert fail("stack: a\nnodes: {}\nstack: b\n") == (
        "s/stack.yaml:3: duplicate key 'stack' (each key may appear once in a mapping)"
    )


def test_duplicate_nested_key_is_rejected_at_the_second_one() -> None:
    text = "nodes:\n  a:\n    kind: os\n    tag: '1'\n    kind: sdk\n"
    assert fail(text) == (
        "s/stack.yaml:5: duplicate key 'kind' (each key may appear once in a mapping)"
    )


def test_duplicate_keys_in_a_flow_mapping_are_rejected() -> None:
    assert fail("x: 1\nargs: {A: 1, A: 2}\n") == (
        "s/stack.yaml:2: duplicate key 'A' (each key may appear once in a mapping)"
    )


def test_same_key_in_different_mappings_is_fine() -> None:
    doc = parse_yaml("a:\n  kind: os\nb:\n  kind: sdk\n", "f.yaml")
    assert doc.data == {"a": {"kind": "os"}, "b": {"kind": "sdk"}}


# --- syntax errors ------------------------------------------------------------------------------


SYNTAX = "(fix the YAML syntax)"


@pytest.mark.parametrize(("text", "expected"), [  # libyaml's wording
    ("a: 1\nb: c: d\n",
     f"s/stack.yaml:2: invalid YAML: mapping values are not allowed in this context {SYNTAX}"),
    ("a:\n  b: 1\n\tc: 2\n",
     f"s/stack.yaml:3: invalid YAML: found a tab character that violates indentation {SYNTAX}"),
    ("a: [1, 2\nb: 3\n", f"s/stack.yaml:2: invalid YAML: did not find expected ',' or ']' {SYNTAX}"),
    ("a: &x [1]\nb: *y\n",
     "s/stack.yaml:2: alias *y has no anchor before it (define &y on a complete value before using *y)"),
    ("a: 1\n---\nb: 2\n", "s/stack.yaml:2: a stack file holds one YAML document, found a second "
     "(remove the '---' and what follows it)"),
])
def test_syntax_errors_give_file_line_and_hint(text: str, expected: str) -> None:
    assert fail(text) == expected


def test_syntax_error_is_not_chained_to_the_yaml_exception() -> None:
    with pytest.raises(StackError) as caught:
        parse_yaml("a: b: c\n", "f.yaml")
    assert caught.value.__cause__ is None
    assert caught.value.location == Location("f.yaml", 1)
    assert caught.value.hint == "fix the YAML syntax"


@pytest.mark.parametrize(("text", "expected"), [
    ("? [a, b]\n: 1\n",
     "s/stack.yaml:1: a list or mapping cannot be a mapping key (use a string key)"),
    ("ok: 1\n~: 1\n", "s/stack.yaml:2: mapping key '~' is not text or a number (use a string key)"),
])
def test_keys_must_be_plain_scalars(text: str, expected: str) -> None:
    assert fail(text) == expected


# --- unsafe tags (safe_load semantics) ----------------------------------------------------------


@pytest.mark.parametrize("tag", [
    "python/object/apply:os.system",
    "python/object:os.system",
    "python/name:os.system",
    "python/module:os",
])
def test_python_tags_on_scalars_are_rejected(tag: str) -> None:
    assert fail(f"ok: 1\nx: !!{tag} echo pwned\n") == (
        f"s/stack.yaml:2: YAML tag 'tag:yaml.org,2002:{tag}' is not allowed "
        "(remove the tag: stack files hold plain data only)"
    )


def test_python_apply_tag_on_a_sequence_is_rejected() -> None:
    # The usual exploit form; yaml.safe_load raises ConstructorError for it.
    text = "ok: 1\nx: !!python/object/apply:os.system [echo pwned]\n"
    with pytest.raises(yaml.constructor.ConstructorError):
        yaml.safe_load(text)
    assert fail(text) == (
        "s/stack.yaml:2: YAML tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed "
        "(remove the tag: stack files hold plain data only)"
    )


def test_python_new_tag_on_a_mapping_is_rejected() -> None:
    text = "ok: 1\nx: !!python/object/new:os.system {args: [echo pwned]}\n"
    with pytest.raises(yaml.constructor.ConstructorError):
        yaml.safe_load(text)
    assert fail(text) == (
        "s/stack.yaml:2: YAML tag 'tag:yaml.org,2002:python/object/new:os.system' is not allowed "
        "(remove the tag: stack files hold plain data only)"
    )


# --- merge keys ---------------------------------------------------------------------------------


def test_merge_key_copies_the_anchored_mapping() -> None:
    text = "base: &base {kind: sdk, tag: '1'}\nnode:\n  <<: *base\n  parent: os\n"
    doc = parse_yaml(text, "f.yaml")
    assert doc.data["node"] == {"kind": "sdk", "tag": "1", "parent": "os"}
    assert "<<" not in doc.data["node"]
    assert doc.data == yaml.safe_load(text)


def test_merge_key_with_a_list_of_mappings() -> None:
    text = "a: &a {x: 1}\nb: &b {y: 2}\nc:\n  <<: [*a, *b]\n  z: 3\n"
    assert parse_yaml(text, "f.yaml").data["c"] == {"x": 1, "y": 2, "z": 3}


def test_merged_keys_have_lines() -> None:
    doc = parse_yaml("base: &base\n  kind: sdk\nnode:\n  <<: *base\n  tag: '1'\n", "f.yaml")
    assert doc.lines[("node", "tag")] == 5
    assert doc.lines[("node", "kind")] == 2  # where the merged key is written


def test_own_keys_override_merged_keys_like_safe_load() -> None:
    text = "base: &base {kind: sdk, tag: '1'}\nnode:\n  <<: *base\n  tag: '2'\n"
    assert yaml.safe_load(text)["node"] == {"kind": "sdk", "tag": "2"}
    assert parse_yaml(text, "f.yaml").data["node"] == {"kind": "sdk", "tag": "2"}


def test_numbers_reached_through_aliases_and_merges_keep_their_spelling() -> None:
    doc = parse_yaml("nodes: {a: &c {kind: os, tag: 1.10}, b: {<<: *c}}\nt: &t 1.10\nu: *t\n", "s.yaml")
    assert doc.raw[("nodes", "a", "tag")] == "1.10"
    assert doc.raw[("nodes", "b", "tag")] == "1.10"
    assert doc.raw[("u",)] == "1.10"


# --- control characters made by escapes ---------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ('a: ok\nb: "x\\e[2Jy"\n', "s/stack.yaml:2: control character U+001B"),
    ('a: ok\nb: "x\\0y"\n', "s/stack.yaml:2: control character U+0000"),
    ('a: ok\nb: "x\\ry"\n', "s/stack.yaml:2: control character U+000D"),
    ('a: ok\nb: "x\\x85y"\n', "s/stack.yaml:2: control character U+0085"),
    ('a: ok\n"k\\x07": 1\n', "s/stack.yaml:2: control character U+0007"),  # a key
    ('a: ok\nb: [x, "\\x7f"]\n', "s/stack.yaml:2: control character U+007F"),
    ('a: ok\nb: "x\\u202ey"\n', "s/stack.yaml:2: control character U+202E"),  # bidi, Trojan Source
])
def test_a_control_character_written_as_an_escape_is_rejected_at_its_line(text: str, expected: str) -> None:
    assert fail(text) == (f"{expected} is not allowed in a stack file value "
                          "(remove the escape; write tabs and newlines as they are)")


def test_escaped_tabs_and_newlines_stay_allowed_like_written_ones() -> None:
    assert parse_yaml('a: "x\\ty\\nz"\n', "f.yaml").data == {"a": "x\ty\nz"}
