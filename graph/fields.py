"""Typed readers for stack-file fields: each rejects a wrong type with file:line and a fix."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from typing import Any

from graph.errors import StackError
from graph.yamldoc import YamlDoc


class Fields:
    """Reads the fields of one mapping in a stack file, knowing where each one is."""

    def __init__(self, doc: YamlDoc, path: tuple[str, ...], data: Any, allowed: tuple[str, ...],
                 what: str) -> None:
        if not isinstance(data, Mapping):
            raise StackError(f"{what} must be a mapping, got {type(data).__name__}", doc.at(*path))
        unknown = sorted(str(k) for k in data if k not in allowed)
        if unknown:
            raise StackError(f"unknown key {unknown[0]!r} in {what}", doc.at(*path, unknown[0]),
                             f"known keys: {', '.join(allowed)}")
        self.doc, self.path, self.data, self.what = doc, path, data, what

    def where(self, *key: str | int) -> Any:
        """Location of a key (or an item below it)."""
        return self.doc.at(*self.path, *key)

    def fail(self, key: str | int, message: str, hint: str = "") -> StackError:
        """An error located at key."""
        return StackError(message, self.where(key), hint)

    def has(self, key: str) -> bool:
        """Whether key is present."""
        return key in self.data

    def text(self, key: str, default: str | None = None,
             check: Callable[[str], str] | None = None) -> str:
        """A string field (numbers are accepted and turned into text), optionally checked."""
        if key not in self.data:
            if default is None:
                raise StackError(f"{self.what} needs '{key}'", self.where(), f"add '{key}: ...'")
            return default
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(key, f"'{key}' must be a string, got {type(value).__name__}")
        problem = check(str(value)) if check else ""
        if problem:
            raise self.fail(key, problem)
        return str(value)

    def texts(self, key: str, check: Callable[[str], str] | None = None) -> tuple[str, ...]:
        """A list of strings (a single string counts as a list of one)."""
        value = self.data.get(key, [])
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list):
            raise self.fail(key, f"'{key}' must be a list of strings")
        result = []
        for index, item in enumerate(items):
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                raise self.fail(key, f"'{key}' item {index + 1} must be a string")
            problem = check(str(item)) if check else ""
            if problem:
                raise StackError(problem, self.where(key, index))
            result.append(str(item))
        return tuple(result)

    def mapping(self, key: str) -> dict[str, str]:
        """A mapping of strings to scalar values, returned as strings."""
        value = self.data.get(key, {})
        if not isinstance(value, Mapping):
            raise self.fail(key, f"'{key}' must be a mapping of NAME: value")
        result = {}
        for name, item in value.items():
            if item is None or isinstance(item, bool) or not isinstance(item, str | int | float):
                raise StackError(f"'{key}.{name}' must be a string or number",
                                 self.where(key, str(name)), "quote the value")
            result[str(name)] = str(item)
        return result

    def command(self, key: str) -> tuple[str, ...]:
        """A command as an argument list; a string is split like a shell would, but never run by one."""
        value = self.data.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            try:
                return tuple(shlex.split(value))
            except ValueError as exc:
                raise self.fail(key, f"'{key}' cannot be split into arguments: {exc}") from None
        return self.texts(key)

    def section(self, key: str, allowed: tuple[str, ...], what: str) -> Fields:
        """The Fields of a nested mapping."""
        return Fields(self.doc, (*self.path, key), self.data.get(key, {}), allowed, what)
