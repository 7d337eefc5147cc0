"""A fault-injecting proxy in front of a real registry: every Nth request answers 503, none is retried."""

from __future__ import annotations

from engine.registry.retryproxy import RetryProxy, Transient


class FaultProxy(RetryProxy):
    """The engine's registry proxy turned around: it makes faults instead of absorbing them."""

    def __init__(self, upstream: str, every: int) -> None:
        super().__init__(upstream, attempts=1)
        self.every = every

    @property
    def address(self) -> str:
        """`localhost:PORT` of the proxy."""
        return self.host

    def forward(self, method: str, path: str, headers: list[tuple[str, str]],
                body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        """Answer 503 to every `every`-th request; pass the others through once."""
        with self.lock:
            self.counts["seen"] += 1
            fail = self.every > 0 and self.counts["seen"] % self.every == 0
            self.counts["faults"] += fail
        if fail:
            raise Transient("injected 503")
        return super().forward(method, path, headers, body)
