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
MAX_NAMED = 40  # characters of a key a message repeats (a key may be as long as a stack file)
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
    where, named = top.where("display", str(key)), _named(key)
    if not isinstance(key, str):
        raise StackError(f"display key {named} is read as a {type(key).__name__}, not as the text of an "
                         "attribute value", where,
                         "quote the value as the attribute has it, e.g. '3.10': ...")
    if not key:
        raise StackError("display key '' names no attribute value", where, KEY_HINT)
    if not isinstance(text, str):
        raise StackError(f"display {named} must be a string, got {type(text).__name__}", where,
                         f"write '{_short(key)}: <text>', quoting a text such as yes, no, on, off or a "
                         "number")
    shown = text.strip()
    if not shown:
        raise StackError(f"display {named} is empty", where, "write the text to show, or drop the entry")
    if shown.splitlines() != [shown]:  # \r, \x85, U+2028, ... as well as \n
        raise StackError(f"display {named} spans several lines", where, ONE_LINE)
    if problem := checks.control_problem(shown):
        raise StackError(f"display {named}: {problem}", where, ONE_LINE)
    if len(shown) > MAX_DISPLAY:
        raise StackError(f"display {named} is {len(shown)} characters long (at most {MAX_DISPLAY})",
                         where, "write a shorter text")
    return DisplayName(key, shown, where)


def _named(key: object) -> str:
    """key as a message names it: quoted, and only its start when it is long."""
    text = key if isinstance(key, str) else str(key)
    return repr(key) if len(text) <= MAX_NAMED else f"{text[:MAX_NAMED]!r}... ({len(text)} characters)"


def _short(key: str) -> str:
    """key as a hint repeats it: only its start when it is long."""
    return key if len(key) <= MAX_NAMED else key[:MAX_NAMED] + "..."


def display_names(stacks: Iterable[Stack]) -> dict[str, dict[str, str]]:
    """stack name → attribute value → its display text, across the files of one stack name; StackError at
    the second of two entries that spell one value of one stack differently."""
    seen: dict[tuple[str, str], DisplayName] = {}
    result: dict[str, dict[str, str]] = {}
    for stack in stacks:
        for entry in stack.display:
            first = seen.setdefault((stack.name, entry.value), entry)
            if first.text != entry.text:
                raise StackError(f"display {_named(entry.value)} is {entry.text!r} here and {first.text!r} "
                                 f"at {first.location} for stack {stack.name!r}", entry.location,
                                 "give a value one spelling per stack")
            result.setdefault(stack.name, {})[entry.value] = entry.text
    return result


def check_display(stack: Stack, nodes: Iterable[Node]) -> None:
    """StackError at a `display:` key that none of nodes (those stack's file defines, with their -dev
    siblings) has as an attribute value: a typo, or a value the file no longer has. Checking the file's own
    nodes gives one answer whichever files are loaded with it."""
    known = {value for node in nodes for _, value in node.attrs}
    for entry in stack.display:
        if entry.value not in known:
            close = difflib.get_close_matches(entry.value, sorted(known), n=1)
            raise StackError(f"display {_named(entry.value)} is no attribute value of a node of {stack.file}",
                             entry.location, (f"did you mean {close[0]!r}? " if close else "") + KEY_HINT)
