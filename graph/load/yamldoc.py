"""Safe YAML loading that keeps the line of every key and item, so errors can name file:line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from graph.errors import Location, StackError

Path = tuple[str | int, ...]
MAP_TAG, SEQ_TAG = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
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
    loader = yaml.SafeLoader(text)
    last_line = max(1, text.count("\n") + (0 if text.endswith("\n") else 1))
    try:
        root = loader.get_single_node()
        doc = YamlDoc(file, None)
        data = _Converter(loader, doc).convert(root, ()) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = min(mark.line + 1, last_line) if mark else 0
        raise StackError(f"invalid YAML: {exc.problem or exc}", Location(file, line),
                         "fix the YAML syntax") from None
    except yaml.YAMLError as exc:
        raise StackError(f"invalid YAML: {exc}", Location(file), "fix the YAML syntax") from None
    finally:
        loader.dispose()
    return YamlDoc(file, data, doc.lines, doc.raw)


class _Converter:
    """Turns composed nodes into plain values; an alias is converted once, not once per use."""

    def __init__(self, loader: yaml.SafeLoader, doc: YamlDoc) -> None:
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
            self._plain_tag(node, SCALAR_TAGS)
            value = self.loader.construct_object(node, deep=True)
        self.done[id(node)] = value
        return value

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[Any, Any]:
        self._plain_tag(node, (MAP_TAG,))
        own: set[Any] = set()
        for key_node, _ in node.value:
            key = self._key(key_node)
            if key in own and key != "<<":
                raise self._error(key_node, f"duplicate key {key!r}",
                                  "each key may appear once in a mapping")
            own.add(key)
        self.loader.flatten_mapping(node)  # resolves `<<` merge keys as safe_load would
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:  # merged keys come first: own keys override
            key = self._key(key_node)
            result[key] = self.convert(value_node, (*path, str(key)))
            self.doc.lines[(*path, str(key))] = key_node.start_mark.line + 1
        return result

    def _key(self, key_node: yaml.Node) -> Any:
        if key_node.tag == "tag:yaml.org,2002:merge":
            return "<<"
        key = self.loader.construct_object(key_node, deep=True)
        if key is None or not isinstance(key, str | int | float | bool):
            raise self._error(key_node, f"mapping key {key!r} must be a plain scalar",
                              "use a string key")
        return key

    def _plain_tag(self, node: yaml.Node, expected: tuple[str, ...]) -> None:
        if node.tag not in expected:
            raise self._error(node, f"YAML tag {node.tag!r} is not allowed",
                              "remove the tag: stack files hold plain data only")

    def _error(self, node: yaml.Node, message: str, hint: str) -> StackError:
        return StackError(message, Location(self.doc.file, node.start_mark.line + 1), hint)
