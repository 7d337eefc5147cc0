"""promote when the registry fails in unexpected ways: a move that raises anything, a roll back that fails."""

from __future__ import annotations

import pytest

from engine.errors import RegistryError
from engine.run.promote import promote
from engine.state.lockfile import LockEntry
from tests.engine.engine_fakes import REGISTRY, FakeRegistry, human_ref

NAMES = ("base", "mid", "leaf")


class Breaking(FakeRegistry):
    """A registry whose tag() raises `error` for the refs in `broken` (moves and roll backs alike)."""

    def __init__(self, broken: set[str], error: Exception) -> None:
        super().__init__()
        self.broken, self.error = broken, error

    def tag(self, source: str, target: str) -> str:
        if target in self.broken:
            raise self.error
        return super().tag(source, target)


class OneWay(FakeRegistry):
    """A registry that refuses to move `refused` (HTTP 403), and `stuck` more than once (HTTP 503)."""

    def __init__(self, refused: str, stuck: str) -> None:
        super().__init__()
        self.refused, self.stuck, self.moves = refused, stuck, 0

    def tag(self, source: str, target: str) -> str:
        if target == self.refused:
            raise RegistryError(f"PUT {target}: HTTP 403 Forbidden")
        if target == self.stuck:
            self.moves += 1
            if self.moves > 1:
                raise RegistryError(f"PUT {target}: HTTP 503 Service Unavailable")
        return super().tag(source, target)


def entries(registry: FakeRegistry) -> tuple[dict[str, str], list[LockEntry]]:
    """Each node's old human tag digest, and the entries moving it to a new image."""
    old = {name: registry.push(human_ref(name), f"old {name}") for name in NAMES}
    new = {name: registry.push(f"{REGISTRY}/{name}:sb-new", f"new {name}") for name in NAMES}
    return old, [LockEntry(name, human_ref(name), "f" * 64, new[name], {}) for name in NAMES]


def test_a_move_that_raises_an_unexpected_error_moves_the_others_back() -> None:
    registry = Breaking({human_ref("mid")}, ConnectionResetError("peer reset"))
    old, moving = entries(registry)
    with pytest.raises(ConnectionResetError):
        promote(moving, registry)
    assert registry.tags({human_ref(n) for n in NAMES}) == {human_ref(n): old[n] for n in NAMES}


def test_a_failed_roll_back_still_rolls_the_other_tags_back_and_raises_the_first_error() -> None:
    registry = OneWay(refused=human_ref("leaf"), stuck=human_ref("mid"))
    old, moving = entries(registry)
    with pytest.raises(RegistryError, match="403"):
        promote(moving, registry)
    # mid, moved last, goes back first and cannot: base still goes back
    assert registry.tags({human_ref(n) for n in NAMES}) == {
        human_ref("base"): old["base"], human_ref("mid"): moving[1].digest, human_ref("leaf"): old["leaf"]}
