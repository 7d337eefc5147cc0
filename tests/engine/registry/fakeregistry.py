"""A tiny scripted registry on a loopback port: what it answers per method and path, what it was asked."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.loopback import QuietHandler, serving


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Call:
    """One request the tiny server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeRegistry:
    """What the tiny server answers, per method and path, and what it was asked.

    GET replies are scripted by path; HEAD falls back to the GET script of its path (without a body);
    PUT answers 201 unless scripted.
    """

    host: str
    replies: dict[str, list[Reply]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, Accept) of every request
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, path: str, *replies: Reply, method: str = "GET") -> None:
        """Answer method on path with replies in turn; the last one repeats."""
        self.replies[path if method == "GET" else f"{method} {path}"] = list(replies)

    def count(self, path: str, method: str | None = None) -> int:
        return sum(1 for call in self.calls if call.path == path and method in (None, call.method))

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> Reply:
        with self.lock:
            self.requests.append((path, headers.get("Accept", "")))
            self.calls.append(Call(method, path, headers, body))
            queue = self.replies.get(f"{method} {path}")
            if queue is None and method != "PUT":
                queue = self.replies.get(path)
            if not queue:
                if method == "PUT":
                    return Reply(201, b"", {"Docker-Content-Digest": "sha256:put"})
                return Reply(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
            return queue.pop(0) if len(queue) > 1 else queue[0]


@contextmanager
def fake_registry() -> Iterator[FakeRegistry]:
    """A FakeRegistry served on a free loopback port for the length of the block."""
    state: FakeRegistry

    class Handler(QuietHandler):
        def _reply(self, method: str, with_body: bool = True) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            reply = state.answer(method, self.path, dict(self.headers.items()), body)
            self.answer(reply.status, reply.body, reply.headers, with_body)

        def do_GET(self) -> None:
            self._reply("GET")

        def do_HEAD(self) -> None:
            self._reply("HEAD", with_body=False)

        def do_PUT(self) -> None:
            self._reply("PUT")

        def do_DELETE(self) -> None:
            self._reply("DELETE")

    with serving(Handler) as served:
        state = FakeRegistry(served.host)
        yield state
