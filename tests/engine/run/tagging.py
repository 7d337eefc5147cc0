"""Fakes of what a run's tags are set through: the local image store, and stores and registries that are
interrupted (a signal sent to this process) or refuse while a human tag moves."""

from __future__ import annotations

import os
import signal

from engine.errors import EngineError, RegistryError
from tests.engine.engine_fakes import FakeRegistry, human_ref


class FakeStore:
    """The local image store over the fake registry's refs (the fake builder "loads" into it)."""

    def __init__(self, images: FakeRegistry) -> None:
        self.images = images
        self.tagged: list[str] = []

    def image_id(self, reference: str) -> str | None:
        return self.images.refs.get(reference)

    def tag(self, source: str, target: str) -> None:
        self.images.refs[target] = source if source.startswith("sha256:") else self.images.refs[source]
        self.tagged.append(target)

    def untag(self, target: str) -> None:
        del self.images.refs[target]


class TaggingTrouble(FakeStore):
    """Ctrl-C arrives while the human tag of `interrupted_at` is set locally; that of `refused` cannot be
    set (the engine refuses)."""

    def __init__(self, images: FakeRegistry, interrupted_at: str = "", refused: str = "",
                 sent: signal.Signals = signal.SIGINT) -> None:
        super().__init__(images)
        self.interrupted_at, self.refused, self.sent = interrupted_at, refused, sent

    def tag(self, source: str, target: str) -> None:
        if self.interrupted_at and target == human_ref(self.interrupted_at):
            os.kill(os.getpid(), self.sent)
        if self.refused and target == human_ref(self.refused):
            raise EngineError(f"cannot tag {source} as {target} locally: refused", "check the engine")
        super().tag(source, target)


class InterruptedWhileTagging(FakeRegistry):
    """Ctrl-C arrives while the human tag of `node` moves (once armed); the human tag `refused` cannot
    move (HTTP 403)."""

    def __init__(self, node: str, refused: str = "", armed: bool = True,
                 sent: signal.Signals = signal.SIGINT) -> None:
        super().__init__()
        self.node, self.refused, self.armed, self.sent = node, refused, armed, sent

    def tag(self, source: str, target: str) -> str:
        if self.armed and target == human_ref(self.node):
            os.kill(os.getpid(), self.sent)
        if self.armed and self.refused and target == human_ref(self.refused):
            raise RegistryError(f"PUT {target}: HTTP 403 Forbidden")
        return super().tag(source, target)
