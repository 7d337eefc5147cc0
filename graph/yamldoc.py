"""Safe YAML loading that keeps the line of every key and item, so errors can name file:line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from graph.errors import Location, StackError

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class YamlDoc:
    """A parsed YAML document with a 1-based line for every path into it."""

    file: str
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)

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
    try:
        root = loader.get_single_node()
        lines: dict[Path, int] = {}
        data = _convert(loader, root, (), lines, file) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise StackError(f"invalid YAML: {exc.problem or exc}", Location(file, line),
                         "fix the YAML syntax") from None
    except yaml.YAMLError as exc:
        raise StackError(f"invalid YAML: {exc}", Location(file), "fix the YAML syntax") from None
    finally:
        loader.dispose()
    return YamlDoc(file, data, lines)


def _convert(loader: yaml.SafeLoader, node: yaml.Node, path: Path,
             lines: dict[Path, int], file: str) -> Any:
    """Turn a composed node into plain Python values, recording lines per path."""
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves `<<` merge keys as safe_load would
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) or key is None:
                raise StackError(f"mapping key {key!r} must be a plain scalar",
                                 Location(file, key_node.start_mark.line + 1))
            if key in result:
                raise StackError(f"duplicate key {key!r}", Location(file, key_node.start_mark.line + 1),
                                 "each key may appear once in a mapping")
            result[key] = _convert(loader, value_node, (*path, str(key)), lines, file)
            lines[(*path, str(key))] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(loader, item, (*path, i), lines, file) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
