"""A child starts once its parent is pushed, while the parent's own checks still run (engine.run.early).

A proxy in front of a throwaway registry holds stackbuild's reads of the middle node's pushed manifests
(its layer-prefix check, after its push) until the child's build asks the registry for its layer cache:
without an early start the child would begin only after that check, and the hold would run out. The
child must still rest on, and name, its parent's pushed digest.
"""

from __future__ import annotations

import textwrap
import threading
import time
from pathlib import Path

import pytest

from engine.build.builder import BuildxBuilder
from engine.registry.client import RegistryClient
from engine.run import api
from engine.run.settings import BuildSettings
from tests.integration.faultproxy import FaultInjector
from tests.integration.provenance import statements

HOLD_S = 30.0
STACK = """\
    stack: early
    registry: {registry}
    platforms: [linux/amd64, linux/arm64]
    nodes:
      root: {{kind: os, tag: "1"}}
      parent: {{kind: sdk, parent: root, tag: "2"}}
      child: {{kind: framework, parent: parent, tag: "3"}}
"""
DOCKERFILES = {"root": "FROM scratch\nARG TARGETARCH\nCOPY ${TARGETARCH}.txt /arch.txt\n",
               "parent": "FROM parent\nARG TARGETARCH\nCOPY ${TARGETARCH}.txt /parent.txt\n",
               "child": "FROM parent\nCOPY amd64.txt /child.txt\n"}


class ParentCheckHeld:
    """Holds stackbuild's reads of the parent's pushed manifests until the child's build reaches the
    registry (for its layer cache: the plan asks for content tags only)."""

    def __init__(self, prefix: str) -> None:
        self.parent = f"/v2/{prefix}/parent/manifests/sha256:"
        self.child = f"/v2/{prefix}/child/manifests/sbcache-"
        self.child_seen = threading.Event()
        self.held: list[bool] = []  # per held read: whether the child came while it waited

    def __call__(self, method: str, path: str, agent: str) -> None:
        if path.startswith(self.child):
            self.child_seen.set()
        if agent == "stackbuild" and method == "GET" and path.startswith(self.parent):
            self.held.append(self.child_seen.wait(HOLD_S))


def _stack(root: Path, registry: str) -> None:
    """Three nodes; the first two hold a file of their own per platform (their platform images differ)."""
    folder = root / "stacks" / "early"
    for name, dockerfile in DOCKERFILES.items():
        (folder / name).mkdir(parents=True)
        for arch in ("amd64", "arm64"):
            (folder / name / f"{arch}.txt").write_text(f"{name} {arch} {time.time_ns()}\n", encoding="utf-8")
        (folder / name / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    (folder / "stack.yaml").write_text(textwrap.dedent(STACK.format(registry=registry)), encoding="utf-8")


@pytest.mark.timeout(600)
def test_a_child_builds_while_its_parent_is_checked_and_rests_on_the_pushed_parent(
        tmp_path: Path, registry: str, builder: BuildxBuilder) -> None:
    held = ParentCheckHeld("early")
    with FaultInjector(registry.replace("localhost", "127.0.0.1"), seed=0, before=held) as proxy:
        root = tmp_path / "repo"
        _stack(root, f"{proxy.address}/early")
        options = api.Options(root=root, targets=(Path("stacks/early"),), state_dir=tmp_path / "state")
        report = api.build(options, builder, BuildSettings(jobs=2, test=False))

    assert report.status == "succeeded", {name: node.error for name, node in report.nodes.items()}
    assert held.held and all(held.held), held.held  # the parent's check waited, and the child came
    # its own layer check found it on the parent's layers: no build was repeated but after a registry
    # fault (distribution 2.8 answers a HEAD 500 now and then while it writes a link file)
    assert sum(node.retries for node in report.nodes.values()) == report.fault_repeats, report.nodes
    client = RegistryClient()
    parent_digest = client.digest(f"{registry}/early/parent:2")
    assert parent_digest == report.nodes["parent"].digest
    child = f"{registry}/early/child:3"
    config = client.image_config(child, "linux/arm64") or {}
    assert config["config"]["Labels"]["org.opencontainers.image.base.digest"] == parent_digest
    found = statements(client, child)
    assert sorted(found) == ["linux/amd64", "linux/arm64"], found
    for platform, statement in found.items():
        named = {f"sha256:{m['digest']['sha256']}" for m in statement["predicate"]["materials"]}
        assert parent_digest in named, (platform, named)
