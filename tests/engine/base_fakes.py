"""A fake registry that also holds external base images (`from:`), for the tests of base resolution."""

from __future__ import annotations

from tests.engine.engine_fakes import FakeRegistry, sha

ALPINE = "docker.io/library/alpine:3.20"
ALPINE_DIGEST = sha("alpine 3.20, first push")
MOVED_DIGEST = sha("alpine 3.20, pushed again under the same tag")


class WithBases(FakeRegistry):
    """FakeRegistry plus base images: reference → digest, each lookup a counted HEAD (in `asked`)."""

    def __init__(self, bases: dict[str, str] | None = None) -> None:
        super().__init__()
        self.bases = {ALPINE: ALPINE_DIGEST} if bases is None else dict(bases)
        self.asked: list[str] = []

    def digest(self, reference: str) -> str | None:
        if reference not in self.bases:
            return super().digest(reference)
        with self.lock:
            self.requests["HEAD"] += 1
            self.asked.append(reference)
            return self.bases[reference]
