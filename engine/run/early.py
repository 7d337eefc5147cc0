"""Children start once their parent is pushed, so its checks and smoke tests overlap their build.

A node's work goes on after its push: the layer-prefix check, the attestation renaming after a repeat
through the retry proxy, its smoke tests. Its children need only the pushed digest (BuildKit resolves
`repo@sha256:` from the registry), so the scheduler is told to start them then. Before a child pushes
anything it waits until its parent has settled: when the parent failed after all, the child fails
before pushing; when the parent ended on another digest (built again after a failed layer check, or
renamed after a repeat through the retry proxy) the child is built again on the final one.

Building on the parent's image stored in the engine, before its push, was tried and dropped: dockerd
26.1.5 with the containerd store sometimes resolves such a local image to another platform's manifest
(or to an attestation manifest) for a platform other than the host's (bench/history.md, 2026-12-06).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from engine.build.builder import PushGate
from engine.build.request import BASE_DIGEST_LABEL, BuildRequest
from engine.errors import EngineError


class ParentFailed(EngineError):
    """The parent a node was built on early failed after its push: the node is not pushed."""


class ParentChanged(EngineError):
    """The parent a node was built on early ended on another digest: the node is built again."""


class EarlyParents:
    """Which running nodes are pushed (and may take children), and how each one ended."""

    def __init__(self) -> None:
        self.release: Callable[[str], None] | None = None  # the scheduler's early release; None: off
        self._pushed: dict[str, str] = {}  # node → the digest it pushed, once released early
        self._settled: dict[str, threading.Event] = {}
        self._final: dict[str, str] = {}  # settled node → its final digest, '' when it failed
        self._lock = threading.Lock()

    def started(self, name: str) -> None:
        """name's work began: its children wait for its end from now on."""
        with self._lock:
            self._settled[name] = threading.Event()
            self._pushed.pop(name, None)
            self._final.pop(name, None)

    def pushed(self, name: str, digest: str) -> None:
        """name is in the registry at digest: its children may start (the first time)."""
        if self.release is None:
            return
        with self._lock:
            first = name not in self._pushed
            self._pushed[name] = digest
        if first:
            self.release(name)

    def settled(self, name: str, digest: str) -> None:
        """name ended: pushed and checked at digest, or failed ('')."""
        with self._lock:
            self._final[name] = digest
            event = self._settled.setdefault(name, threading.Event())
        event.set()

    def pushed_digest(self, name: str) -> str | None:
        """name's pushed digest while it runs on after its push (None when it was not released early,
        or has ended); ParentFailed when it was released early and failed."""
        with self._lock:
            if name not in self._pushed:
                return None
            final = self._final.get(name)
            if final == "":
                raise _failed(name)
            return None if final else self._pushed[name]

    def final_digest(self, name: str) -> str | None:
        """name's digest once it ended, waiting for that when it was released early (None otherwise);
        ParentFailed when it failed."""
        with self._lock:
            event = self._settled.get(name) if name in self._pushed else None
        if event is None:
            return None
        event.wait()
        with self._lock:
            final = self._final[name]
        if not final:
            raise _failed(name)
        return final

    def confirm_parent(self, request: BuildRequest, parent: str) -> None:
        """Before request's image is pushed: wait until parent (when released early) settled;
        ParentFailed when it failed, ParentChanged when it ended on another digest than the one built on."""
        final = self.final_digest(parent) if parent else None
        built_on = dict(request.labels).get(BASE_DIGEST_LABEL, "")
        if final is not None and built_on and final != built_on:
            raise ParentChanged(f"parent {parent} ended on {final}, not on {built_on} it was built on",
                                "nothing to do: the node is built again on it")

    def gate(self, name: str, parent: str, request: BuildRequest) -> PushGate:
        """What a builder that pushes apart from its build calls around the push of name's image."""
        def before(digest: str) -> None:
            self.confirm_parent(request, parent)

        def after(digest: str) -> None:
            self.pushed(name, digest)

        return PushGate(before, after)


def _failed(name: str) -> ParentFailed:
    return ParentFailed(f"parent {name} failed after its push", f"fix {name} first")
