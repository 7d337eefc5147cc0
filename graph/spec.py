"""The frozen model: stacks and the fully expanded nodes they define."""

from __future__ import annotations

from dataclasses import dataclass

from graph.errors import Location

KINDS = ("os", "sdk", "framework", "tool", "llm")
NOWHERE = Location("<memory>")


@dataclass(frozen=True)
class Secret:
    """A build secret handed to buildx `--secret`, read from an environment variable or a file."""

    id: str
    env: str = ""
    src: str = ""


@dataclass(frozen=True)
class Node:
    """One image to build: a fully resolved node of a stack."""

    name: str
    stack: str
    kind: str
    parent: str | None
    dockerfile: str  # path relative to the repository root
    context: str  # directory relative to the repository root
    registry: str  # registry host plus optional path prefix, e.g. localhost:5000/demo
    image: str  # repository name below the registry
    tag: str
    platforms: tuple[str, ...]  # () until resolved: the stack default narrowed by the parent
    args: tuple[tuple[str, str], ...] = ()
    target: str = ""
    test: tuple[str, ...] = ()
    secrets: tuple[Secret, ...] = ()
    variant: str = ""  # "" for a defined node, "dev" for a derived -dev sibling
    location: Location = NOWHERE

    @property
    def repository(self) -> str:
        """The full repository, registry included."""
        return f"{self.registry}/{self.image}"

    @property
    def ref(self) -> str:
        """The human tag reference this node publishes."""
        return f"{self.repository}:{self.tag}"


@dataclass(frozen=True)
class Stack:
    """A loaded stack file and the nodes it defines (derived -dev nodes included)."""

    name: str
    file: str  # path relative to the repository root
    registry: str
    platforms: tuple[str, ...]  # the default for nodes that do not narrow it
    nodes: tuple[Node, ...]
