"""Safe YAML loading that keeps the line of every key and item, so errors can name file:line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from graph.errors import Location, StackError
from graph.load.compose import DEPTH_HINT, LOADER, SYNTAX_HINT, TOO_DEEP, Composer

Path = tuple[str | int, ...]
MAP_TAG, SEQ_TAG = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
MERGE_TAG = "tag:yaml.org,2002:merge"
SCALAR_TAGS = tuple(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "timestamp")
)


@dataclass(frozen=True)
class YamlDoc:
    """A parsed YAML document with a 1-based line for every path into it."""

    file: str
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    raw: dict[Path, str] = field(default_factory=dict)  # source text of non-string scalars

    def at(self, *path: str | int) -> Location:
        """Location of the deepest known prefix of path."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line:
                return Location(self.file, line)
        return Location(self.file, 0)


def parse_yaml(text: str, file: str) -> YamlDoc:
    """Parse text with yaml.SafeLoader semantics, recording lines and rejecting duplicate keys."""
    loader = LOADER(text)
    last_line = max(1, text.count("\n") + (0 if text.endswith("\n") else 1))
    try:
        root = Composer(loader, file).single_node()
        doc = YamlDoc(file, None)
        data = _Converter(loader, doc).convert(root, ()) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = min(mark.line + 1, last_line) if mark else 1
        if "maximum nesting depth" in str(exc.problem):  # libyaml 0.2.6+ stops deep flow nesting itself
            raise StackError(TOO_DEEP, Location(file, line), DEPTH_HINT) from None
        raise StackError(f"invalid YAML: {exc.problem or exc}", Location(file, line), SYNTAX_HINT) from None
    except yaml.YAMLError as exc:
        raise StackError(f"invalid YAML: {exc}", Location(file, 1), SYNTAX_HINT) from None
    finally:
        loader.dispose()
    return YamlDoc(file, data, doc.lines, doc.raw)


class _Converter:
    """Turns composed nodes into plain values; an alias is converted once, not once per use."""

    def __init__(self, loader: Any, doc: YamlDoc) -> None:
        self.loader, self.doc = loader, doc
        self.done: dict[int, Any] = {}

    def convert(self, node: yaml.Node, path: Path) -> Any:
        self.doc.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.ScalarNode) and node.tag != SCALAR_TAGS[0]:
            self.doc.raw[path] = str(node.value)  # so `1.10` can be read back as written
        if id(node) in self.done:
            return self.done[id(node)]
        if isinstance(node, yaml.MappingNode):
            value: Any = self._mapping(node, path)
        elif isinstance(node, yaml.SequenceNode):
            self._plain_tag(node, (SEQ_TAG,))
            value = [self.convert(item, (*path, i)) for i, item in enumerate(node.value)]
        else:
            value = self._scalar(node)
        self.done[id(node)] = value
        return value

    def _scalar(self, node: yaml.Node) -> Any:
        if node.tag == SCALAR_TAGS[0]:
            return node.value  # what construct_object would give, without its bookkeeping
        self._plain_tag(node, SCALAR_TAGS)
        try:
            return self.loader.construct_object(node, deep=True)
        except (ValueError, OverflowError) as exc:  # e.g. a 5000-digit number, the 30th of February
            shown = node.value if len(node.value) <= 40 else node.value[:37] + "..."
            raise self._error(node, f"value {shown!r} cannot be read as {node.tag.rsplit(':', 1)[-1]}: "
                              f"{str(exc).split(';')[0][:100]}", "quote it to keep it as text") from None

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[Any, Any]:
        self._plain_tag(node, (MAP_TAG,))
        own: dict[Any, tuple[yaml.Node, yaml.Node]] = {}
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                merged.update(self._merged(value_node, path))
                continue
            key = self._key(key_node)
            if key in own:
                raise self._error(key_node, f"duplicate key {key!r}", "each key may appear once in a mapping")
            own[key] = (key_node, value_node)
        result = dict(merged)  # merged keys come first: own keys override, as in safe_load
        for key, (key_node, value_node) in own.items():
            result[key] = self.convert(value_node, (*path, str(key)))
            self.doc.lines[(*path, str(key))] = key_node.start_mark.line + 1
        return result

    def _merged(self, value_node: yaml.Node, path: Path) -> dict[Any, Any]:
        """The keys a `<<` value brings in: one mapping, or a list of them where earlier ones win."""
        sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        result: dict[Any, Any] = {}
        for source in reversed(sources):
            if not isinstance(source, yaml.MappingNode):
                raise self._error(source, "'<<' merges a mapping or a list of mappings",
                                  "merge an anchored mapping: '<<: *name'")
            result.update(self.convert(source, (*path, "<<")))
            for key_node, value_node in source.value:
                if isinstance(key_node, yaml.ScalarNode):
                    self._note((*path, str(key_node.value)), key_node, value_node)
        return result

    def _note(self, path: Path, key_node: yaml.Node, value_node: yaml.Node) -> None:
        """The line (and spelling, for non-strings) of a merged key that no own key overrides."""
        self.doc.lines.setdefault(path, key_node.start_mark.line + 1)
        if isinstance(value_node, yaml.ScalarNode) and value_node.tag != SCALAR_TAGS[0]:
            self.doc.raw.setdefault(path, str(value_node.value))

    def _key(self, key_node: yaml.Node) -> Any:
        if not isinstance(key_node, yaml.ScalarNode):
            raise self._error(key_node, "a list or mapping cannot be a mapping key", "use a string key")
        key = self._scalar(key_node)
        if key is None or not isinstance(key, str | int | float | bool):
            raise self._error(key_node, f"mapping key {key_node.value!r} is not text or a number",
                              "use a string key")
        return key

    def _plain_tag(self, node: yaml.Node, expected: tuple[str, ...]) -> None:
        if node.tag not in expected:
            raise self._error(node, f"YAML tag {node.tag!r} is not allowed",
                              "remove the tag: stack files hold plain data only")

    def _error(self, node: yaml.Node, message: str, hint: str) -> StackError:
        return StackError(message, Location(self.doc.file, node.start_mark.line + 1), hint)
