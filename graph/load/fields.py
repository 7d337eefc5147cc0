"""Typed readers for stack-file fields: each rejects a wrong type with file:line and a fix."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from graph.errors import StackError
from graph.load.split import split_command
from graph.load.yamldoc import Path, YamlDoc

SCHEMA_HINT = "see 'Writing a stack' in README.md for the schema"


class Fields:
    """Reads the fields of one mapping in a stack file, knowing where each one is."""

    def __init__(self, doc: YamlDoc, path: Path, data: Any, allowed: tuple[str, ...],
                 what: str) -> None:
        if not isinstance(data, Mapping):
            raise StackError(f"{what} must be a mapping, got {type(data).__name__}", doc.at(*path),
                             "write it as `key: value` lines indented below its name")
        unknown = sorted(str(k) for k in data if str(k) not in allowed)  # a key written `1:` is the name '1'
        if unknown:
            raise StackError(f"unknown key {unknown[0]!r} in {what}", doc.at(*path, unknown[0]),
                             f"known keys: {', '.join(allowed)}")
        self.doc, self.path, self.data, self.what = doc, path, data, what

    def where(self, *key: str | int) -> Any:
        """Location of a key (or an item below it)."""
        return self.doc.at(*self.path, *key)

    def fail(self, key: str | int, message: str, hint: str = SCHEMA_HINT) -> StackError:
        """An error located at key."""
        return StackError(message, self.where(key), hint)

    def _scalar_text(self, value: Any, *path: str | int) -> str | None:
        """A scalar as its source text (so `1.10` stays `1.10`), or None if it is not a scalar."""
        if isinstance(value, bool) or value is None or not isinstance(value, str | int | float):
            return None
        return value if isinstance(value, str) else self.doc.raw.get((*self.path, *path), str(value))

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
        text = self._scalar_text(self.data[key], key)
        if text is None:
            raise self.fail(key, f"'{key}' must be a string, got {type(self.data[key]).__name__}",
                            f"write '{key}: <text>' (quote values such as yes/no/on/off)")
        problem = check(text) if check else ""
        if problem:
            raise self.fail(key, problem)
        return text

    def flag(self, key: str) -> bool:
        """A true/false field (default false)."""
        value = self.data.get(key, False)
        if not isinstance(value, bool):
            raise self.fail(key, f"'{key}' must be true or false", f"write '{key}: true'")
        return value

    def texts(self, key: str, check: Callable[[str], str] | None = None) -> tuple[str, ...]:
        """A list of strings (a single string counts as a list of one)."""
        value = self.data.get(key, [])
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list):
            raise self.fail(key, f"'{key}' must be a list of strings", f"write '{key}: [a, b]'")
        result = []
        for index, item in enumerate(items):
            text = self._scalar_text(item, key, index)
            if text is None:
                raise self.fail(key, f"'{key}' item {index + 1} must be a string",
                                f"write '{key}: [a, b]'")
            problem = check(text) if check else ""
            if problem:
                raise StackError(problem, self.where(key, index), SCHEMA_HINT)
            result.append(text)
        return tuple(result)

    def mapping(self, key: str, check_key: Callable[[str], str] | None = None) -> dict[str, str]:
        """A mapping of strings to scalar values, returned as strings; keys optionally checked."""
        value = self.data.get(key, {})
        if not isinstance(value, Mapping):
            raise self.fail(key, f"'{key}' must be a mapping of NAME: value",
                            f"write '{key}: {{NAME: value}}'")
        result = {}
        for name, item in value.items():
            problem = check_key(str(name)) if check_key else ""
            if problem:
                raise StackError(problem, self.where(key, str(name)), SCHEMA_HINT)
            text = self._scalar_text(item, key, str(name))
            if text is None:
                raise StackError(f"'{key}.{name}' must be a string or number",
                                 self.where(key, str(name)), "quote the value")
            result[str(name)] = text
        return result

    def command(self, key: str) -> tuple[str, ...]:
        """A command as an argument list; a string is split like a shell would, but never run by one."""
        value = self.data.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            try:
                return tuple(split_command(value))
            except ValueError as exc:
                raise self.fail(key, f"'{key}' cannot be split into arguments: {exc}",
                                "close the quote, or write the command as a list") from None
        return self.texts(key)

    def section(self, key: str, allowed: tuple[str, ...], what: str) -> Fields:
        """The Fields of a nested mapping."""
        return Fields(self.doc, (*self.path, key), self.data.get(key, {}), allowed, what)


def listed_once(fields: Fields, key: str, values: tuple[str, ...], what: str,
                of: str = "") -> tuple[str, ...]:
    """values (the list under key), each once; StackError at the second of two equal ones."""
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value in seen:
            raise StackError(f"{what} {value!r}{of} is listed twice", fields.where(key, index),
                             f"list each {what} once")
        seen.add(value)
    return values
