"""A registry that answers 503 to a share of requests: every node still ends pushed, on every platform."""

from __future__ import annotations

import time
from pathlib import Path

from engine.build.builder import BuildxBuilder
from engine.registry.client import RegistryClient
from engine.run import api
from engine.run.runner import BuildSettings
from tests.integration.faultproxy import FaultProxy

EVERY = 7  # one request in seven answers 503

STACK = """\
stack: flaky
registry: localhost:5000/flaky
nodes:
  root: {kind: os, dockerfile: root/Dockerfile, tag: "1"}
  mid:  {kind: sdk, parent: root, dockerfile: mid/Dockerfile, tag: "1"}
  leaf: {kind: framework, parent: mid, dockerfile: mid/Dockerfile, image: leaf, tag: "1"}
  side: {kind: framework, parent: root, dockerfile: mid/Dockerfile, image: side, tag: "1"}
"""


def _stack(root: Path) -> None:
    base = root / "stacks" / "flaky"
    for folder in ("root", "mid"):
        (base / folder).mkdir(parents=True)
        (base / folder / "payload.txt").write_text(f"{folder} {time.time_ns()}\n")
    (base / "stack.yaml").write_text(STACK)
    (base / "root" / "Dockerfile").write_text("FROM scratch\nCOPY payload.txt /root.txt\n")
    (base / "mid" / "Dockerfile").write_text("FROM parent\nCOPY payload.txt /mid.txt\n")


def test_every_node_is_pushed_with_every_platform_despite_503s(tmp_path: Path, registry: str,
                                                                builder: BuildxBuilder) -> None:
    _stack(tmp_path)
    upstream = registry.replace("localhost", "127.0.0.1")
    with FaultProxy(upstream, every=EVERY) as proxy:
        options = api.Options(root=tmp_path, registry=f"{proxy.address}/flaky", state_dir=tmp_path / "state")
        report = api.build(options, builder, BuildSettings(jobs=2, test=False))
        assert report.status == "succeeded", {n: r.error for n, r in report.nodes.items() if r.error}
        assert proxy.counts["faults"] > 0
        client = RegistryClient()
        graph = api.load(options)
        for name, node in graph.nodes.items():
            index = client.manifest(node.ref)
            assert index is not None and index.is_index, name
            assert set(index.platforms()) == {"linux/amd64", "linux/arm64"}, name
            for digest in index.platforms().values():
                assert client.manifest(f"{node.repository}@{digest}") is not None, name
