"""YAML events → one node tree, iteratively, refusing deep nesting and alias bombs before they grow.

libyaml (when present) scans and parses; composing happens here, so no recursion depends on the input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from graph.errors import Location, StackError
from graph.load.limits import MAX_ALIAS_NODES, MAX_DEPTH
from graph.model.checks import BIDI_CHARS

TOO_DEEP = f"lists and mappings are nested more than {MAX_DEPTH} deep"
DEPTH_HINT = "flatten the structure: stack files need only a few levels"
LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SYNTAX_HINT = "fix the YAML syntax"
STR_TAG = "tag:yaml.org,2002:str"
# Control characters a quoted scalar's escapes (\e, \x00, \r, \u202e, ...) can make; tab and newline stay
# allowed.
ESCAPED_CONTROL_RE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{BIDI_CHARS}]")


@dataclass
class _Frame:
    """A collection being composed: its size and height so far, and the key waiting for its value."""

    node: yaml.CollectionNode
    anchor: str | None
    key: yaml.Node | None = None
    size: int = 1  # nodes it stands for, aliases expanded
    height: int = 1  # levels of collections in it


class Composer:
    """Builds yaml.Node trees from a loader's events, measuring depth and alias expansion."""

    def __init__(self, loader: Any, file: str) -> None:
        self.loader, self.file = loader, file
        self.anchors: dict[str, tuple[yaml.Node, int, int]] = {}  # name → (node, size, height)
        self.added = 0  # nodes aliases added so far

    def single_node(self) -> yaml.Node | None:
        """The document's root node, or None for an empty stream; StackError for several documents."""
        self.loader.get_event()  # stream start
        if self.loader.check_event(yaml.StreamEndEvent):
            return None
        self.loader.get_event()  # document start
        root = self._tree()
        self.loader.get_event()  # document end
        if not self.loader.check_event(yaml.StreamEndEvent):
            event = self.loader.get_event()
            raise self._error(event.start_mark, "a stack file holds one YAML document, found a second",
                              "remove the '---' and what follows it")
        return root

    def _tree(self) -> yaml.Node:
        stack: list[_Frame] = []
        get_event = self.loader.get_event
        while True:
            event = get_event()
            kind = type(event)
            if kind is yaml.ScalarEvent:
                node, size, height = self._scalar(event), 1, 0
            elif kind is yaml.SequenceStartEvent or kind is yaml.MappingStartEvent:
                stack.append(self._open(event, len(stack)))
                continue
            elif kind is yaml.AliasEvent:
                node, size, height = self._alias(event, len(stack))
            else:  # the end of a collection
                frame = stack.pop()
                node, size, height = frame.node, frame.size, frame.height
                node.end_mark = event.end_mark
                self._anchor(frame.anchor, node, size, height)
            if not stack:
                return node
            self._add(stack[-1], node, size, height)

    def _open(self, event: Any, depth: int) -> _Frame:
        if depth >= MAX_DEPTH:
            raise self._error(event.start_mark, TOO_DEEP, DEPTH_HINT)
        mapping = isinstance(event, yaml.MappingStartEvent)
        kind = yaml.MappingNode if mapping else yaml.SequenceNode
        tag = event.tag if event.tag not in (None, "!") else self.loader.resolve(kind, None, event.implicit)
        node = kind(tag, [], event.start_mark, None, flow_style=event.flow_style)
        return _Frame(node, event.anchor)

    @staticmethod
    def _add(frame: _Frame, node: yaml.Node, size: int, height: int) -> None:
        frame.size += size
        frame.height = max(frame.height, height + 1)
        if isinstance(frame.node, yaml.SequenceNode):
            frame.node.value.append(node)
        elif frame.key is None:
            frame.key = node
        else:
            frame.node.value.append((frame.key, node))
            frame.key = None

    def _scalar(self, event: Any) -> yaml.Node:
        bad = ESCAPED_CONTROL_RE.search(event.value)
        if bad:
            raise self._error(event.start_mark, f"control character U+{ord(bad[0]):04X} is not allowed in "
                              "a stack file value", "remove the escape; write tabs and newlines as they are")
        tag = event.tag
        if tag is None or tag == "!":
            tag = (STR_TAG if event.implicit == (False, True)  # quoted: a string, as the resolver says
                   else self.loader.resolve(yaml.ScalarNode, event.value, event.implicit))
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
        self._anchor(event.anchor, node, 1, 0)
        return node

    def _anchor(self, anchor: str | None, node: yaml.Node, size: int, height: int) -> None:
        if anchor is not None:
            self.anchors[anchor] = (node, size, height)  # a later anchor of the same name wins

    def _alias(self, event: Any, depth: int) -> tuple[yaml.Node, int, int]:
        found = self.anchors.get(event.anchor)
        if found is None:
            raise self._error(event.start_mark, f"alias *{event.anchor} has no anchor before it",
                              f"define &{event.anchor} on a complete value before using *{event.anchor}")
        _, size, height = found
        self.added += size
        if self.added > MAX_ALIAS_NODES:
            raise self._error(event.start_mark, f"aliases expand to more than {MAX_ALIAS_NODES} YAML nodes",
                              "repeat anchors less often or less deeply (an alias bomb?)")
        if depth + height > MAX_DEPTH:
            raise self._error(event.start_mark, f"alias *{event.anchor} nests lists and mappings more "
                              f"than {MAX_DEPTH} deep", "flatten the structure")
        return found

    def _error(self, mark: Any, message: str, hint: str) -> StackError:
        return StackError(message, Location(self.file, mark.line + 1 if mark else 1), hint)
