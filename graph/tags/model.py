"""The tag model: what a tag says (TagInfo), the Convention protocol, and the parts a scheme is made of."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

KINDS = ("os", "sdk", "framework", "tool", "llm")
DEV = "-dev"
PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")


class FrozenAttrs(Mapping[str, str]):
    """An immutable, hashable str → str mapping that iterates in sorted key order."""

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        self._items = dict(sorted(dict(items).items()))

    def __getitem__(self, key: str) -> str:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(tuple(self._items.items()))

    def __repr__(self) -> str:
        return repr(self._items)


@dataclass(frozen=True)
class TagInfo:
    """What a tag says: the node kind ('' when the tag cannot tell), its attrs and the -dev flag."""

    kind: str
    attrs: Mapping[str, str]
    dev: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "attrs", FrozenAttrs(self.attrs))


class Convention(Protocol):
    """A named tag scheme that generates tags from attrs and parses them back."""

    @property
    def name(self) -> str:
        """The name get_convention knows it by."""
        ...

    def generate(self, kind: str, attrs: Mapping[str, str], dev: bool) -> str:
        """The tag of a node; StackError naming missing or invalid attrs."""
        ...

    def parse(self, tag: str, kind: str = "") -> TagInfo:
        """What tag says (kind, when given, must be one the tag can have); StackError otherwise."""
        ...

    def required(self, kind: str, dev: bool = False) -> tuple[str, ...]:
        """The attrs every tag of kind (and dev) needs."""
        ...

    def canonical(self, tag: str, kind: str = "") -> str:
        """tag as the convention writes it (the same tag unless its fields are in another order)."""
        ...

    def repository_attrs(self, repository: str) -> dict[str, str]:
        """The attrs a repository name carries under this convention (e.g. PAI's pytorch-training)."""
        ...


@dataclass(frozen=True)
class Codec:
    """How an attr value is written inside a tag (e.g. python 3.10 as 310) and read back."""

    pattern: str
    encode: Callable[[str], str]
    decode: Callable[[str], str]


@dataclass(frozen=True)
class Rule:
    """The values one attr may take in a convention: a regex, its meaning and an example."""

    pattern: str
    meaning: str
    example: str
    codec: Codec | None = None

    @property
    def written(self) -> str:
        """The regex of the value as written in a tag."""
        return self.codec.pattern if self.codec else self.pattern

    def write(self, value: str) -> str:
        """The value as written in a tag."""
        return self.codec.encode(value) if self.codec else value

    def read(self, text: str) -> str:
        """The value written as text in a tag."""
        return self.codec.decode(text) if self.codec else text


@dataclass(frozen=True)
class Form:
    """One tag shape: the kinds it serves (the first is what parse reports), its template, what it implies.

    A form that is not canonical is only read (another order of the same fields), never generated.
    """

    kinds: tuple[str, ...]
    template: str
    dev: bool = False
    fixed: tuple[tuple[str, str], ...] = ()
    canonical: bool = True
