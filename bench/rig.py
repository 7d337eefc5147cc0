"""A throwaway rig for one engine benchmark: a temp folder, a registry behind a counting proxy, cleanup."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench import env, versus
from bench.proxy import CountingProxy


@dataclass(frozen=True)
class Rig:
    """Where one benchmark works and pushes; gone after it (images it stored included)."""

    work: Path
    registry: env.ThrowawayRegistry
    proxy: CountingProxy
    marker: str  # in every repository pushed to (see versus.image_marker)

    @property
    def prefix(self) -> str:
        """The registry prefix to push below, through the counting proxy."""
        return f"localhost:{self.proxy.port}{self.marker.rstrip('/')}"


@contextmanager
def throwaway(name: str) -> Iterator[Rig]:
    """A rig for benchmark name; stops the registry and removes the folder and stored images after."""
    work = Path(tempfile.mkdtemp(prefix=f"stackbuild-{name}-"))
    marker = versus.image_marker()
    registry = env.ThrowawayRegistry(work / "registry").start()
    try:
        with CountingProxy("127.0.0.1", registry.port) as proxy:
            yield Rig(work, registry, proxy, marker)
    finally:
        registry.stop()
        versus.cleanup_images(marker, lambda message: print(message, flush=True))
        shutil.rmtree(work, ignore_errors=True)
