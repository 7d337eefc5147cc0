"""The builder pool: which buildx builders build which platform, and how many builds each takes at once.

Configured in `[tool.stackbuild.builders]` of pyproject.toml or in a YAML file given by
`--builders FILE` (a top-level `builders:` mapping); both have the same shape:

    builders:
      linux/amd64: [{name: default, capacity: 2}]
      linux/arm64: [{name: arm-1, capacity: 1}, {name: arm-2}]

No pool configured: one build per node on the current builder, as always.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from engine.errors import EngineError
from engine.state.safefiles import StateError, open_state_file
from graph.model.checks import platform_problem

MAX_POOL_FILE_BYTES = 1 << 20
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")  # what `docker buildx create --name` accepts


class PoolError(EngineError):
    """The builder pool configuration is wrong."""

    exit_code = 2


@dataclass(frozen=True)
class PoolBuilder:
    """One buildx builder of the pool and how many builds it runs at once."""

    name: str
    capacity: int = 1


@dataclass(frozen=True)
class Pool:
    """Platform → its builders, in the order configured (the first is preferred when equally loaded)."""

    platforms: tuple[tuple[str, tuple[PoolBuilder, ...]], ...]

    def builders(self, platform: str) -> tuple[PoolBuilder, ...]:
        """The builders of platform ((): the pool has none for it)."""
        return dict(self.platforms).get(platform, ())

    @property
    def builder_names(self) -> set[str]:
        """The names of every builder of the pool."""
        return {builder.name for _, group in self.platforms for builder in group}

    @property
    def is_multi(self) -> bool:
        """Whether the pool has more than one builder: then each platform is built on its own."""
        return len(self.builder_names) > 1

    @property
    def only_builder(self) -> str:
        """The pool's one builder, on which every node is built ('' when it has more than one)."""
        names = self.builder_names
        return names.pop() if len(names) == 1 else ""


def parse_pool(table: Any, where: str) -> Pool:
    """A checked Pool from a `builders` mapping; PoolError naming where and what is wrong."""
    if not isinstance(table, dict) or not table:
        raise PoolError(f"{where}: builders must map platforms to lists of builders",
                        "e.g. builders: {linux/amd64: [{name: default, capacity: 2}]}")
    platforms = []
    for platform, entries in table.items():
        if not isinstance(platform, str) or (problem := platform_problem(platform)):
            raise PoolError(f"{where}: builders: platform {platform!r}: {problem or 'not a string'}",
                            "name platforms as os/arch[/variant], e.g. linux/arm64")
        if not isinstance(entries, list) or not entries:
            raise PoolError(f"{where}: builders.{platform} must be a non-empty list of builders",
                            "e.g. [{name: default, capacity: 2}]")
        group = tuple(_builder(entry, f"{where}: builders.{platform}[{i}]")
                      for i, entry in enumerate(entries))
        names = [builder.name for builder in group]
        if len(set(names)) != len(names):
            raise PoolError(f"{where}: builders.{platform} lists a builder twice: {names}",
                            "list each builder once per platform")
        platforms.append((platform, group))
    _check_capacities(platforms, where)
    return Pool(tuple(platforms))


def _builder(entry: Any, where: str) -> PoolBuilder:
    """One list entry: a builder name, or {name: ..., capacity: N}."""
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, dict) or set(entry) - {"name", "capacity"}:
        raise PoolError(f"{where}: {entry!r} is not a builder", "write {name: NAME, capacity: N}")
    name, capacity = entry.get("name"), entry.get("capacity", 1)
    if not isinstance(name, str) or not NAME.match(name):
        raise PoolError(f"{where}: builder name {name!r} is not valid",
                        "use the NAME shown by `docker buildx ls` (letters, digits, '.', '_', '-')")
    if not isinstance(capacity, int) or isinstance(capacity, bool) or not 1 <= capacity <= 256:
        raise PoolError(f"{where}: builder {name}: capacity {capacity!r} is not valid",
                        "give a whole number of parallel builds from 1 to 256")
    return PoolBuilder(name, capacity)


def _check_capacities(platforms: list[tuple[str, tuple[PoolBuilder, ...]]], where: str) -> None:
    """A builder serving several platforms has one capacity: the same everywhere it is listed."""
    seen: dict[str, int] = {}
    for platform, group in platforms:
        for builder in group:
            if seen.setdefault(builder.name, builder.capacity) != builder.capacity:
                raise PoolError(f"{where}: builder {builder.name} has capacity {seen[builder.name]} and "
                                f"{builder.capacity} (under {platform})",
                                "give a builder one capacity wherever it is listed")


def read_pool_file(path: Path) -> Pool:
    """The pool of a YAML file with a top-level `builders:` mapping."""
    try:
        # opened without blocking, and refused unless a regular file: a FIFO must not hang us
        with os.fdopen(open_state_file(path, os.O_RDONLY, follow_symlinks=True), "rb") as handle:
            raw = handle.read(MAX_POOL_FILE_BYTES + 1)
        if len(raw) > MAX_POOL_FILE_BYTES:
            raise PoolError(f"{path}: a builder pool file is larger than {MAX_POOL_FILE_BYTES >> 20} MiB",
                            "list the builders only: a pool of thousands fits in a few KiB")
        data = yaml.safe_load(raw.decode("utf-8"))
    except StateError as exc:
        raise PoolError(f"{path}: cannot read the builder pool: {exc.reason}",
                        "give a YAML file with a `builders:` mapping") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise PoolError(f"{path}: cannot read the builder pool: {reason}",
                        "give a YAML file with a `builders:` mapping") from None
    if not isinstance(data, dict) or set(data) != {"builders"}:
        raise PoolError(f"{path}: a builder pool file has exactly one top-level key, builders",
                        "see README, Scaling out")
    return parse_pool(data["builders"], str(path))


def missing_platforms(pool: Pool, platforms: set[str]) -> list[str]:
    """The platforms some node builds that no builder of the pool serves, sorted."""
    return sorted(platform for platform in platforms if not pool.builders(platform))
