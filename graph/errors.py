"""The exception root of the graph package: every error says where, what, and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """A place in a stack file (line is 1-based; 0 means the whole file)."""

    file: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


class GraphError(Exception):
    """Root of every error raised while loading, validating or planning stacks."""

    def __init__(self, message: str, location: Location | None = None, hint: str = "") -> None:
        self.message = message
        self.location = location
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        return f"{text} ({self.hint})" if self.hint else text


class StackError(GraphError):
    """A stack file is malformed or inconsistent."""


class CycleError(GraphError):
    """The parent relation loops back on itself."""
