"""Manifests read by digest, kept for the rest of the run: content addressed, they never change."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable

from engine.registry.names import ImageName
from engine.registry.transport import Response

BUDGET_BYTES = 8 * 1024 * 1024  # all kept bodies together; the least recently read go first
LARGEST_BYTES = 1024 * 1024  # a larger manifest is read again when asked again


class ManifestMemo:
    """The manifests last read by digest (within a byte budget), each kept only when its body has
    that digest, so a later read of the same repository@digest needs no request."""

    def __init__(self, budget_bytes: int = BUDGET_BYTES) -> None:
        self.budget_bytes = budget_bytes
        self._kept: OrderedDict[tuple[str, str, str], Response] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def read(self, name: ImageName, fetch: Callable[[], Response | None]) -> Response | None:
        """The manifest kept for name, else what fetch gets (kept when it qualifies)."""
        kept = self.get(name)
        if kept is not None:
            return kept
        response = fetch()
        if response is not None:
            self.keep(name, response)
        return response

    def get(self, name: ImageName) -> Response | None:
        """The manifest read before at name (repository@digest), or None."""
        key = _key(name)
        if key is None:
            return None
        with self._lock:
            found = self._kept.get(key)
            if found is not None:
                self._kept.move_to_end(key)
            return found

    def keep(self, name: ImageName, response: Response) -> None:
        """Keep response to a GET of name when name is by digest and the body matches it."""
        key = _key(name)
        body = response.body
        if not key or len(body) > LARGEST_BYTES:
            return
        if "sha256:" + hashlib.sha256(body).hexdigest() != name.digest:
            return
        with self._lock:
            if key in self._kept:
                return
            self._kept[key] = response
            self._size += len(body)
            while self._size > self.budget_bytes:
                _, dropped = self._kept.popitem(last=False)
                self._size -= len(dropped.body)


def _key(name: ImageName) -> tuple[str, str, str] | None:
    return (name.api_host, name.repository, name.digest) if name.digest.startswith("sha256:") else None
