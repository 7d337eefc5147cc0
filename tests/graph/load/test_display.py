"""graph.load.display: a stack's `display:` (how export meta's pages spell attribute values), each bad
entry an error at its file:line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from graph.errors import StackError
from graph.expand.definitions import expand
from graph.load.display import MAX_DISPLAY, display_names, read_display
from graph.load.fields import Fields
from graph.load.stackfile import load_stack
from graph.load.yamldoc import YamlDoc
from graph.model.spec import DisplayName
from tests.graph.conftest import Loaded, WriteStack

Load = Callable[..., Loaded]
Error = Callable[..., str]

# Lines:      1         2                             3        4            5           6
BASE = 'stack: s\nregistry: localhost:5000/demo\nnodes:\n  base:\n    kind: os\n    tag: "{os}"\n' \
       "    attrs: {os_name: openeuler, os_release: 24.03-lts, os: 2403lts}\n" \
       "  cann:\n    kind: sdk\n    parent: base\n    tag: '8-{os}'\n    attrs: {python: '3.10'}\n"
# Lines       7                                                   8 ... 12


def test_display_maps_attribute_values_to_their_spelling_at_their_lines(load: Load) -> None:
    stack = load(BASE + "display:\n  openeuler: openEuler\n  24.03-lts: ' 24.03-LTS '\n  cann: CANN\n"
                        "  '3.10': Python three ten\n").stack
    assert stack.display == (DisplayName("openeuler", "openEuler"), DisplayName("24.03-lts", "24.03-LTS"),
                             DisplayName("cann", "CANN"), DisplayName("3.10", "Python three ten"))
    assert [str(entry.location) for entry in stack.display] == [f"s/stack.yaml:{line}"
                                                                for line in (14, 15, 16, 17)]
    assert display_names([stack]) == {"s": {"openeuler": "openEuler", "24.03-lts": "24.03-LTS",
                                            "cann": "CANN", "3.10": "Python three ten"}}


def test_a_stack_without_display_has_none(load: Load) -> None:
    stack = load(BASE).stack
    assert stack.display == ()
    assert display_names([stack]) == {}


SCHEMA = "(see 'Writing a stack' in README.md for the schema)"
ERRORS = [
    ("not-a-mapping", "display: [openEuler]\n",
     "s/stack.yaml:13: 'display' must be a mapping of attribute value: display text "
     "(write 'display: {openeuler: openEuler}')"),
    ("text-a-list", "display:\n  openeuler: [openEuler]\n",
     "s/stack.yaml:14: display 'openeuler' must be a string, got list "
     "(write 'openeuler: <text>', quoting a text such as yes, no, on, off or a number)"),
    ("text-a-number", "display:\n  cann: 8.1\n",
     "s/stack.yaml:14: display 'cann' must be a string, got float "
     "(write 'cann: <text>', quoting a text such as yes, no, on, off or a number)"),
    ("text-empty", "display:\n  openeuler:\n",
     "s/stack.yaml:14: display 'openeuler' must be a string, got NoneType "
     "(write 'openeuler: <text>', quoting a text such as yes, no, on, off or a number)"),
    ("text-blank", "display:\n  openeuler: '  '\n",
     "s/stack.yaml:14: display 'openeuler' is empty (write the text to show, or drop the entry)"),
    ("text-lines", 'display:\n  openeuler: "open\\nEuler"\n',
     "s/stack.yaml:14: display 'openeuler' spans several lines (write the text to show on one line)"),
    ("text-control", 'display:\n  openeuler: "open\tEuler"\n',  # the loader refuses escaped ones itself
     "s/stack.yaml:14: display 'openeuler': 'open\\tEuler' contains the control character U+0009 "
     "(write the text to show on one line)"),
    ("text-too-long", f"display:\n  openeuler: {'x' * (MAX_DISPLAY + 1)}\n",
     f"s/stack.yaml:14: display 'openeuler' is {MAX_DISPLAY + 1} characters long (at most {MAX_DISPLAY}) "
     "(write a shorter text)"),
    ("key-a-number", "display:\n  3.10: Python 3.10\n",
     "s/stack.yaml:14: display key 3.1 is read as a float, not as the text of an attribute value "
     "(quote the value as the attribute has it, e.g. '3.10': ...)"),
    *[(f"text-lines-{name}", f"display:\n  openeuler: {text}\n",
       "s/stack.yaml:14: display 'openeuler' spans several lines (write the text to show on one line)")
      for name, text in (("u2028", '"open\\u2028Euler"'), ("P", '"open\\PEuler"'),  # Zl, Zp: not Cc
                         ("raw-u2029", "'open\u2029Euler'"))],
    ("key-empty", "display:\n  '': nothing\n",
     "s/stack.yaml:14: display key '' names no attribute value (a key is a value an attribute of a node has, "
     "such as an os_release: fix it or drop the entry)"),
    ("key-unknown", "display:\n  openeuler: openEuler\n  opneuler: openEuler\n",
     "s/stack.yaml:15: display 'opneuler' is no attribute value of a node of s/stack.yaml "
     "(did you mean 'openeuler'? a key is a value an attribute of a node has, such as an os_release: fix "
     "it or drop the entry)"),
    ("key-unknown-far", "display:\n  tensorflow: TensorFlow\n",
     "s/stack.yaml:14: display 'tensorflow' is no attribute value of a node of s/stack.yaml "
     "(a key is a value an attribute of a node has, such as an os_release: fix it or drop the entry)"),
]


@pytest.mark.parametrize(("text", "expected"), [pytest.param(*case[1:], id=case[0]) for case in ERRORS])
def test_a_bad_display_entry_is_an_error_at_its_line(error: Error, text: str, expected: str) -> None:
    assert error(BASE + text) == expected


@pytest.mark.parametrize("separator", "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
def test_a_text_split_at_any_line_separator_spans_several_lines(root: Path, separator: str) -> None:
    """The loader refuses most of them escaped (control characters); read_display refuses them all."""
    data = {"display": {"openeuler": f"open{separator}Euler"}}
    with pytest.raises(StackError, match="display 'openeuler' spans several lines"):
        read_display(Fields(YamlDoc("s/stack.yaml", data), (), data, ("display",), "a stack"))


def test_two_files_of_one_stack_may_repeat_a_spelling_but_not_change_it(
        root: Path, write_stack: WriteStack) -> None:
    first = load_stack(root, write_stack(BASE + "display: {openeuler: openEuler}\n", folder="a"))
    other = "stack: s\nregistry: localhost:5000/demo\nnodes:\n  torch:\n    kind: framework\n" \
            "    parent: cann\n    tag: 't-{os}'\n"
    same = load_stack(root, write_stack(other + "display: {openeuler: openEuler, torch: PyTorch}\n",
                                        folder="b"))
    assert display_names([first, same]) == {"s": {"openeuler": "openEuler", "torch": "PyTorch"}}
    expand([first, same])
    changed = load_stack(root, write_stack(other + "display:\n  openeuler: OpenEuler\n", folder="c"))
    with pytest.raises(StackError) as caught:
        expand([first, changed])
    assert str(caught.value) == ("c/stack.yaml:9: display 'openeuler' is 'OpenEuler' here and 'openEuler' "
                                 "at a/stack.yaml:13 for stack 's' (give a value one spelling per stack)")


def test_a_display_key_spells_values_of_the_nodes_of_its_own_file_whatever_else_is_loaded(
        root: Path, write_stack: WriteStack) -> None:
    s = load_stack(root, write_stack(BASE, folder="s"))
    alone = "stack: s\nregistry: localhost:5000/demo\nnodes:\n  tools:\n    kind: os\n    tag: tools\n" \
            "    attrs: {os_name: ubuntu}\n"
    t = load_stack(root, write_stack(alone + "display: {openeuler: openEuler}\n", folder="t"))
    expected = ("t/stack.yaml:8: display 'openeuler' is no attribute value of a node of t/stack.yaml (a key "
                "is a value an attribute of a node has, such as an os_release: fix it or drop the entry)")
    for targeted in ([t], [s, t], [t, s]):  # `lint stacks/t` and `lint stacks` give one answer
        with pytest.raises(StackError) as caught:
            expand(targeted)
        assert str(caught.value) == expected
    child = "stack: s\nregistry: localhost:5000/demo\nnodes:\n  torch:\n    kind: framework\n" \
            "    parent: cann\n    tag: 't-{os}'\n"
    u = load_stack(root, write_stack(child + "display: {openeuler: openEuler, '3.10': '3.10'}\n", folder="u"))
    expand([s, u])  # a child's values inherited from a parent in another file are its file's values too


def test_an_unknown_display_key_is_named_by_its_start_in_the_error(error: Error) -> None:
    key = "x" * 100_000
    message = error(BASE + f"display:\n  openeuler: openEuler\n  ? {key}\n  : X\n")
    assert message.startswith(f"s/stack.yaml:15: display {'x' * 40!r}... (100000 characters) is no attribute "
                              "value of a node of s/stack.yaml")
    assert len(message) < 300
