"""Children start on their parent's stored image, so the parent's push and checks overlap their build.

On the docker driver a build stores its image in the engine before `docker push` sends it. From then
on a child can be built on it: BuildKit resolves a local image by tag (a digest only in a registry), so
the child names its parent by the parent's stored content tag, and its base-digest label by the digest
that was stored. Under --full (every image pulled) only a child whose Dockerfile names no image but its
parent is built this way, without --pull: the registry does not hold its parent yet.

Before the child pushes anything it waits until its parent has settled: pushed and checked, or failed.
When the parent failed, the child fails before pushing; when the parent ended on another digest (built
again after a failed layer check, or renamed after a repeat through the retry proxy) the child is built
again on the final one. The child's layer check then reads both from the registry, as for any child.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from engine.build.buildx_args import BASE_DIGEST_LABEL, PARENT_CONTEXT, BuildRequest
from engine.errors import EngineError
from graph.context.dockerfile import other_images

IMAGE_SOURCE = "docker-image://"


class ParentFailed(EngineError):
    """The parent a node was built on early failed after it was stored: the node is not pushed."""


class ParentChanged(EngineError):
    """The parent a node was built on early ended on another digest: the node is built again."""


@dataclass(frozen=True)
class StoredParent:
    """A parent stored in the engine and not settled yet: its local name and digest."""

    reference: str
    digest: str


class EarlyParents:
    """Which running nodes are stored (and may take children), and how each one ended."""

    def __init__(self) -> None:
        self.release: Callable[[str], None] | None = None  # the scheduler's early release; None: off
        self._stored: dict[str, StoredParent] = {}
        self._settled: dict[str, threading.Event] = {}
        self._final: dict[str, str] = {}  # settled node → its final digest, '' when it failed
        self._lock = threading.Lock()

    def started(self, name: str) -> None:
        """name's work began: its children wait for its end from now on."""
        with self._lock:
            self._settled[name] = threading.Event()
            self._stored.pop(name, None)
            self._final.pop(name, None)

    def stored(self, name: str, reference: str, digest: str) -> None:
        """name's image is in the engine as reference: its children may start (the first time)."""
        if self.release is None:
            return
        with self._lock:
            first = name not in self._stored
            self._stored[name] = StoredParent(reference, digest)
        if first:
            self.release(name)

    def settled(self, name: str, digest: str) -> None:
        """name ended: pushed and checked at digest, or failed ('')."""
        with self._lock:
            self._final[name] = digest
            event = self._settled.setdefault(name, threading.Event())
        event.set()

    def local_copy(self, name: str) -> StoredParent | None:
        """name's stored image while name runs on (None when it was not released early, or ended);
        ParentFailed when it was released early and failed."""
        with self._lock:
            if name not in self._stored:
                return None
            final = self._final.get(name)
        if final == "":
            raise ParentFailed(f"parent {name} failed after its image was stored", f"fix {name} first")
        return None if final else self._stored[name]

    def copy_to_build_on(self, parent: str, dockerfile: Path, pulls: bool) -> StoredParent | None:
        """parent's stored image for a child to build on (local_copy); none when the child's build pulls
        (--full) and its Dockerfile names images besides its parent: --pull must fetch those fresh."""
        return None if pulls and names_other_images(dockerfile) else self.local_copy(parent)

    def on_stored(self, name: str, parent: str, request: BuildRequest) -> Callable[[str], None]:
        """What the builder calls between storing name's image (built by request) and pushing it: the
        parent it was built on early must have settled; then name's children may start on it."""
        def stored(digest: str) -> None:
            self.confirm_parent(request, parent)
            if digest:
                self.stored(name, request.tags[0], digest)
        return stored

    def final_digest(self, name: str) -> str | None:
        """name's digest once it ended, waiting for that when it was released early (None otherwise);
        ParentFailed when it failed."""
        with self._lock:
            event = self._settled.get(name) if name in self._stored else None
        if event is None:
            return None
        event.wait()
        with self._lock:
            final = self._final[name]
        if not final:
            raise ParentFailed(f"parent {name} failed after its image was stored", f"fix {name} first")
        return final

    def on_local_copy(self, request: BuildRequest) -> str:
        """The parent request is built on by its stored local name, '' when by a registry digest."""
        value = dict(request.build_contexts).get(PARENT_CONTEXT, "")
        return value.removeprefix(IMAGE_SOURCE) if value.startswith(IMAGE_SOURCE) and "@" not in value else ""

    def confirm_parent(self, request: BuildRequest, parent: str) -> None:
        """Before request's image is pushed: wait until parent (built on its local copy) settled;
        ParentFailed when it failed, ParentChanged when it ended on another digest than the one built on."""
        if not parent or not self.on_local_copy(request):
            return
        final = self.final_digest(parent)
        built_on = dict(request.labels).get(BASE_DIGEST_LABEL, "")
        if final is not None and final != built_on:
            raise ParentChanged(f"parent {parent} ended on {final}, not on the stored {built_on}",
                                "nothing to do: the node is built again on it")


def on_local_parent(request: BuildRequest, stored: StoredParent) -> BuildRequest:
    """request built on its parent's stored image: parent context by local name, base label by digest."""
    contexts = tuple((name, f"{IMAGE_SOURCE}{stored.reference}" if name == PARENT_CONTEXT else value)
                     for name, value in request.build_contexts)
    labels = tuple((key, stored.digest if key == BASE_DIGEST_LABEL else value)
                   for key, value in request.labels)
    return replace(request, build_contexts=contexts, labels=labels)


def names_other_images(dockerfile: Path) -> bool:
    """Whether the Dockerfile names an image besides its parent and its stages (unreadable: assumed)."""
    try:
        return bool(other_images(dockerfile.read_text(encoding="utf-8", errors="replace")))
    except OSError:
        return True
