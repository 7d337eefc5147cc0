"""A stack's `display:`: how the pages `export meta` writes spell attribute values.

Attribute values are tag-safe and lower case by design (`openeuler`, `24.03-lts`); upstream's pages write
product names in their own spelling (`openEuler 24.03-LTS`). The stack author maps each value to its
display text; a value without an entry is shown as it is.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from graph.errors import StackError
from graph.load.fields import Fields
from graph.model import checks
from graph.model.spec import DisplayName, Node, Stack

MAX_DISPLAY = 100  # characters of one display text: it fills a table cell
ONE_LINE = "write the text to show on one line"
KEY_HINT = "a key is a value an attribute of a node has, such as an os_release: fix it or drop the entry"


def read_display(top: Fields) -> tuple[DisplayName, ...]:
    """The stack's `display:` entries, each checked at its line (none without the key)."""
    entries = top.data.get("display", {})
    if not isinstance(entries, Mapping):
        raise top.fail("display", "'display' must be a mapping of attribute value: display text",
                       "write 'display: {openeuler: openEuler}'")
    return tuple(_entry(top, key, text) for key, text in entries.items())


def _entry(top: Fields, key: object, text: object) -> DisplayName:
    """One entry: a text key (YAML reads 3.10 as the number 3.1) and a one-line text to show."""
    where = top.where("display", str(key))
    if not isinstance(key, str):
        raise StackError(f"display key {key!r} is read as a {type(key).__name__}, not as the text of an "
                         "attribute value", where,
                         "quote the value as the attribute has it, e.g. '3.10': ...")
    if not key:
        raise StackError("display key '' names no attribute value", where, KEY_HINT)
    if not isinstance(text, str):
        raise StackError(f"display {key!r} must be a string, got {type(text).__name__}", where,
                         f"write '{key}: <text>', quoting a text such as yes, no, on, off or a number")
    shown = text.strip()
    if not shown:
        raise StackError(f"display {key!r} is empty", where, "write the text to show, or drop the entry")
    if shown.splitlines() != [shown]:  # \r, \x85, U+2028, ... as well as \n
        raise StackError(f"display {key!r} spans several lines", where, ONE_LINE)
    if problem := checks.control_problem(shown):
        raise StackError(f"display {key!r}: {problem}", where, ONE_LINE)
    if len(shown) > MAX_DISPLAY:
        raise StackError(f"display {key!r} is {len(shown)} characters long (at most {MAX_DISPLAY})", where,
                         "write a shorter text")
    return DisplayName(key, shown, where)


def display_names(stacks: Iterable[Stack]) -> dict[str, dict[str, str]]:
    """stack name → attribute value → its display text, across the files of one stack name; StackError at
    the second of two entries that spell one value of one stack differently."""
    seen: dict[tuple[str, str], DisplayName] = {}
    result: dict[str, dict[str, str]] = {}
    for stack in stacks:
        for entry in stack.display:
            first = seen.setdefault((stack.name, entry.value), entry)
            if first.text != entry.text:
                raise StackError(f"display {entry.value!r} is {entry.text!r} here and {first.text!r} at "
                                 f"{first.location} for stack {stack.name!r}", entry.location,
                                 "give a value one spelling per stack")
            result.setdefault(stack.name, {})[entry.value] = entry.text
    return result


def check_display(stacks: Iterable[Stack], nodes: Iterable[Node]) -> None:
    """StackError at a `display:` key that no node of its stack has as an attribute value (a typo, or a
    value the stack no longer has)."""
    stacks = list(stacks)
    display_names(stacks)
    values: dict[str, set[str]] = {}
    for node in nodes:
        values.setdefault(node.stack, set()).update(value for _, value in node.attrs)
    for stack in stacks:
        known = values.get(stack.name, set())
        for entry in stack.display:
            if entry.value not in known:
                close = difflib.get_close_matches(entry.value, sorted(known), n=1)
                raise StackError(f"display {entry.value!r} is no attribute value of a node of stack "
                                 f"{stack.name!r}", entry.location,
                                 (f"did you mean {close[0]!r}? " if close else "") + KEY_HINT)
