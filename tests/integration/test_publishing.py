"""Publishing against a real registry: retags without builds, reuse after a revert, all-or-nothing promotion.

Tiny stacks (FROM scratch + COPY of a small file) into the session's throwaway registry.
"""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from engine.build.builder import BuildxBuilder
from engine.errors import RegistryError
from engine.registry.client import RegistryClient
from engine.run import api
from engine.state.report import RunReport
from tests.integration.publishing import QUIET, options_for, tags, unique, write_stack
from tests.loopback import QuietHandler, Served

HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}


def actions(report: RunReport) -> dict[str, tuple[str, str]]:
    return {name: (node.action, node.reason) for name, node in report.nodes.items()}


def test_content_already_in_the_registry_is_retagged_without_a_build(tmp_path: Path, registry: str,
                                                                      builder: BuildxBuilder) -> None:
    write_stack(tmp_path, unique("root"), unique("child"))
    options = options_for(tmp_path, f"{registry}/retag")
    first = api.build(options, builder, QUIET)
    assert first.status == "succeeded", {n: r.error for n, r in first.nodes.items() if r.error}
    child = api.load(options).nodes["child"]
    write_stack(tmp_path, (tmp_path / "stacks/pub/root/root.txt").read_text(encoding="utf-8"),
                (tmp_path / "stacks/pub/child/child.txt").read_text(encoding="utf-8"), child_tag="2")
    second = api.build(options, builder, QUIET)  # a renamed tag: same content, tag "2" does not exist
    assert second.buildx_invocations == 0
    assert actions(second) == {"root": ("skip", "up_to_date"), "child": ("retag", "tag_missing")}
    assert RegistryClient().digest(f"{child.repository}:2") == first.nodes["child"].digest
    assert second.promoted == [f"{child.repository}:2"]


def test_a_tag_moved_elsewhere_is_moved_back_without_a_build(tmp_path: Path, registry: str,
                                                             builder: BuildxBuilder) -> None:
    write_stack(tmp_path, unique("root"), unique("child"))
    options = options_for(tmp_path, f"{registry}/elsewhere")
    first = api.build(options, builder, QUIET)
    assert first.status == "succeeded", {n: r.error for n, r in first.nodes.items() if r.error}
    graph, client = api.load(options), RegistryClient()
    child = graph.nodes["child"]
    manifest = client.manifest(f"{child.repository}@{first.nodes['child'].digest}")
    assert manifest is not None and manifest.is_index
    assert set(manifest.platforms()) == {"linux/amd64", "linux/arm64"}
    platform_digest = manifest.platforms()["linux/amd64"]
    client.tag(f"{child.repository}@{platform_digest}", child.ref)  # another image of the repository
    assert client.digest(child.ref) == platform_digest != first.nodes["child"].digest
    second = api.build(options, builder, QUIET)
    assert second.buildx_invocations == 0
    assert actions(second) == {"root": ("skip", "up_to_date"), "child": ("retag", "tag_elsewhere")}
    assert tags(options) == {"root": first.nodes["root"].digest, "child": first.nodes["child"].digest}


def test_a_revert_reuses_the_earlier_content_without_a_build(tmp_path: Path, registry: str,
                                                             builder: BuildxBuilder) -> None:
    original = unique("child")
    write_stack(tmp_path, unique("root"), original)
    options = options_for(tmp_path, f"{registry}/revert")
    first = api.build(options, builder, QUIET)
    assert first.status == "succeeded", {n: r.error for n, r in first.nodes.items() if r.error}
    child_txt = tmp_path / "stacks/pub/child/child.txt"
    child_txt.write_text(unique("child changed"), encoding="utf-8")
    changed = api.build(options, builder, QUIET)
    assert actions(changed)["child"] == ("build", "context_changed: child.txt")
    assert changed.builds == 1
    assert tags(options)["child"] == changed.nodes["child"].digest != first.nodes["child"].digest
    child_txt.write_text(original, encoding="utf-8")  # the revert
    reverted = api.build(options, builder, QUIET)
    assert reverted.buildx_invocations == 0
    assert actions(reverted) == {"root": ("skip", "up_to_date"), "child": ("retag", "tag_elsewhere")}
    assert tags(options) == {"root": first.nodes["root"].digest, "child": first.nodes["child"].digest}


class RefusingProxy:
    """A plain-HTTP pass-through to a registry that answers 403 DENIED to PUTs whose path matches refuse."""

    def __init__(self, upstream: str) -> None:
        self.upstream, self.refuse = upstream, re.compile(r"(?!)")  # refuses nothing until told
        self.refused: list[str] = []
        self.served = Served(self._handler())

    @property
    def address(self) -> str:
        return f"localhost:{self.served.port}"

    def forward(self, method: str, path: str, headers: list[tuple[str, str]],
                body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        if method == "PUT" and self.refuse.search(path):
            self.refused.append(path)
            return 403, [("Content-Type", "application/json")], json.dumps(
                {"errors": [{"code": "DENIED", "message": "read-only repository"}]}).encode()
        connection = http.client.HTTPConnection(self.upstream, timeout=300)
        try:
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for key, value in headers:
                connection.putheader(key, value)
            connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            answer = connection.getresponse()
            return answer.status, answer.getheaders(), answer.read()
        finally:
            connection.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
                headers = [(k, v) for k, v in self.headers.items() if k.lower() not in HOP]
                status, answer, data = proxy.forward(self.command, self.path, headers, body)
                self.send_response(status)
                length = str(len(data))
                for key, value in answer:
                    if key.lower() == "content-length" and self.command == "HEAD":
                        length = value
                    elif key.lower() not in HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", length)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _relay

        return Handler


@pytest.fixture
def refusing(registry: str) -> Iterator[RefusingProxy]:
    proxy = RefusingProxy(registry.replace("localhost", "127.0.0.1"))
    with proxy.served:
        yield proxy


def test_a_promotion_refused_halfway_leaves_every_tag_where_it_was(tmp_path: Path, refusing: RefusingProxy,
                                                                   builder: BuildxBuilder) -> None:
    write_stack(tmp_path, unique("root"), unique("child"))
    options = options_for(tmp_path, f"{refusing.address}/half")
    first = api.build(options, builder, QUIET)
    assert first.status == "succeeded", {n: r.error for n, r in first.nodes.items() if r.error}
    published = tags(options)
    assert published == {"root": first.nodes["root"].digest, "child": first.nodes["child"].digest}
    latest = (tmp_path / "state" / "latest.lock.json").read_text(encoding="utf-8")

    write_stack(tmp_path, unique("root v2"), unique("child v2"))
    refusing.refuse = re.compile(r"^/v2/half/child/manifests/1$")  # child's human tag is read-only
    with pytest.raises(RegistryError, match="HTTP 403"):
        api.build(options, builder, QUIET)  # root's tag moves first, then child's is refused
    assert refusing.refused == ["/v2/half/child/manifests/1"]
    assert tags(options) == published  # root's tag went back: nothing is half-published
    assert (tmp_path / "state" / "latest.lock.json").read_text(encoding="utf-8") == latest
