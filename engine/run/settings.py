"""How a run builds and ends: the settings `build` hands to the runner and the publication."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.build.pool import Pool
from graph.model.secrets import REPOSITORY_ONLY, SecretPolicy


@dataclass(frozen=True)
class BuildSettings:
    """How a run builds."""

    jobs: int = 2
    keep_going: bool = False
    full: bool = False  # rebuild everything, pull bases, no layer cache
    changed_since: str = ""  # PR mode: only what changed since this git ref
    cache: str = "registry"  # registry | local | none
    cache_dir: Path | None = None
    test: bool = True
    adopt: bool = False  # take over human tags that point at images this project never built
    load: bool = False  # build into the local engine's image store: no registry at all
    pool: Pool | None = None  # builders per platform; None: the current builder builds everything
    secrets: SecretPolicy = REPOSITORY_ONLY  # the operator's: withhold them, or which host files builds read
    publish: bool = True  # move the human tags once all succeeded (--no-publish: content tags only)
