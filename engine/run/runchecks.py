"""What a run checks before it builds: a builder pool covers the platforms, a shard's parents are pushed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.build.builder import PoolBuilderOps
from engine.build.pool import Pool, PoolError, missing_platforms
from engine.errors import EngineError
from engine.run.planner import Planned
from graph.plan.entries import BUILD

if TYPE_CHECKING:
    from engine.build.builder import Builder
    from engine.run.api import Options


def check_pool(planned: Planned, pool: Pool | None, to_build: list[str], builder: Builder) -> None:
    """PoolError when a pool of several builders cannot build what is planned."""
    if pool is None or not pool.is_multi:
        return
    missing = missing_platforms(pool, {p for name in to_build for p in planned.graph.nodes[name].platforms})
    if missing:
        raise PoolError(f"the builder pool has no builder for {', '.join(missing)}",
                        "add one under builders, e.g. linux/arm64: [default] (QEMU on this engine)")
    if not isinstance(builder, PoolBuilderOps):
        raise PoolError("this builder cannot build per platform", "run without a builder pool")


def pool_names(pool: Pool) -> str:
    """platform=builder,builder;… for the log."""
    return "; ".join(f"{platform}={','.join(b.name for b in group)}" for platform, group in pool.platforms)


def check_shard(options: Options, planned: Planned) -> None:
    """--only: every node it is built on must already be in the registry (by its content tag)."""
    missing = [e for e in planned.entries if e.action == BUILD and e.node not in options.only]
    if not options.only or not missing:
        return
    names = ", ".join(entry.node for entry in missing)
    borrowed = [entry.node for entry in missing if entry.borrowed]
    if borrowed:  # a --no-secrets PR: built on a build made with the secrets, never content-tagged
        raise EngineError(f"--only: not in the registry yet: {names}; {', '.join(borrowed)} never will be "
                          "(built on a build made with the secrets, it gets no content tag)",
                          f"build it in this job: add --only {' --only '.join(borrowed)} "
                          "(`plan --emit` puts them in one job)")
    raise EngineError(f"--only: not in the registry yet: {names}",
                      "build those first (their shard jobs), or add them to --only")
