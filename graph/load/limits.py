"""The limits that keep loading a hostile stack file fast and small, each with a clear message."""

from __future__ import annotations

from dataclasses import dataclass

MAX_FILE_BYTES = 8 * 1024 * 1024  # a stack file larger than this is not hand-written
MAX_DEPTH = 64  # mappings and lists nested in each other (aliases counted where they are used)
MAX_ALIAS_NODES = 100_000  # YAML nodes that aliases and `<<` merges may add by repeating anchors
MAX_EXTENDS = 32  # definitions in one `extends` chain
MAX_RULE_CHECKS = 2_000_000  # combinations × (constraints + exclude rules) of one definition
WARN_NODES = 10_000  # above this many nodes the CLI warns
DEFAULT_MAX_NODES = 100_000  # above this many nodes loading is refused unless --max-nodes says more


@dataclass(frozen=True)
class Limits:
    """The limits a caller may raise (the others are fixed: real stacks stay far below them)."""

    max_nodes: int = DEFAULT_MAX_NODES


DEFAULT_LIMITS = Limits()
