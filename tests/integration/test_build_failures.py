"""Real builds that fail: the failing node's subtree is skipped, independent nodes still build."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.build.builder import BuildxBuilder
from engine.registry.client import RegistryClient
from engine.run import api
from engine.run.settings import BuildSettings

STACK = """\
stack: tiny
registry: localhost:5000/tiny
nodes:
  root:    {kind: os, dockerfile: root/Dockerfile, tag: "1"}
  good:    {kind: sdk, parent: root, dockerfile: good/Dockerfile, tag: "1"}
  broken:  {kind: sdk, parent: root, dockerfile: broken/Dockerfile, tag: "1"}
  child:   {kind: framework, parent: broken, dockerfile: good/Dockerfile, image: child, tag: "1"}
"""

DOCKERFILES = {
    "root": "FROM scratch\nCOPY hello.txt /hello.txt\n",
    "good": "FROM parent\nCOPY good.txt /good.txt\n",
    # scratch has no shell: this RUN step really fails inside BuildKit
    "broken": "FROM parent\nRUN definitely-not-a-command\n",
}


@pytest.fixture
def tiny_stack(tmp_path: Path) -> Path:
    """A four-node stack of scratch images, one of which cannot build."""
    (tmp_path / "stacks" / "tiny").mkdir(parents=True)
    (tmp_path / "stacks" / "tiny" / "stack.yaml").write_text(STACK, encoding="utf-8")
    for name, text in DOCKERFILES.items():
        folder = tmp_path / "stacks" / "tiny" / name
        folder.mkdir()
        (folder / "Dockerfile").write_text(text, encoding="utf-8")
        (folder / f"{name}.txt").write_text(name, encoding="utf-8")
    (tmp_path / "stacks" / "tiny" / "good" / "good.txt").write_text("good", encoding="utf-8")
    (tmp_path / "stacks" / "tiny" / "root" / "hello.txt").write_text("hi", encoding="utf-8")
    return tmp_path


def test_keep_going_skips_exactly_the_failed_subtree(builder: BuildxBuilder, registry: str,
                                                     tiny_stack: Path) -> None:
    options = api.Options(root=tiny_stack, registry=f"{registry}/kg",
                          state_dir=tiny_stack / "state")
    report = api.build(options, builder, BuildSettings(jobs=2, keep_going=True))
    statuses = {name: node.status for name, node in report.nodes.items()}
    assert statuses == {"root": "succeeded", "good": "succeeded", "broken": "failed",
                        "child": "skipped"}
    assert report.nodes["child"].error == "parent failed: broken"
    assert "definitely-not-a-command" in Path(report.nodes["broken"].log).read_text()
    assert report.status == "failed"
    client = RegistryClient()
    # a failed run publishes nothing: the good node was pushed (candidate tag) and tested (content tag) only
    assert client.manifest(report.nodes["good"].ref) is None
    assert report.promoted == []
    assert report.nodes["good"].digest


def test_cli_reports_failure_with_log_tail_and_exit_code(registry: str, tiny_stack: Path,
                                                         builder: BuildxBuilder) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli", "build", "--root", str(tiny_stack),
         "--registry", f"{registry}/cli", "--state-dir", str(tiny_stack / "state"),
         "--log-format", "json"],
        capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    failed = [e for e in events if e["event"] == "node_failed"]
    assert [e["node"] for e in failed] == ["broken"], failed
    assert "definitely-not-a-command" in failed[0]["log_tail"]
    assert all("node" in e for e in events)


def test_cli_rejects_a_bad_stack_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "stacks" / "bad").mkdir(parents=True)
    (tmp_path / "stacks" / "bad" / "stack.yaml").write_text(
        "stack: bad\nregistry: localhost:5000/bad\nnodes:\n  a:\n    kind: os\n"
        "    tag: 1\n    dockerfile: nope/Dockerfile\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli", "build", "--root", str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert result.stderr.startswith("error: stacks/bad/stack.yaml:7: Dockerfile stacks/bad/nope/Dockerfile")
    assert "Traceback" not in result.stderr


GATED = """\
stack: gated
registry: localhost:5000/gated
platforms: [linux/amd64]
nodes:
  tool: {kind: os, dockerfile: tool/Dockerfile, tag: "1", test: "test -f /ready"}
"""


def test_an_image_that_failed_its_smoke_test_is_built_and_tested_again_not_reused(
        builder: BuildxBuilder, registry: str, tmp_path: Path) -> None:
    folder = tmp_path / "stacks" / "gated" / "tool"
    folder.mkdir(parents=True)
    (tmp_path / "stacks" / "gated" / "stack.yaml").write_text(GATED, encoding="utf-8")
    busybox = shutil.which("busybox")
    assert busybox, "busybox-static is missing: run `make setup`"
    shutil.copy(busybox, folder / "sh")  # a static shell: the smoke test really runs, and fails
    (folder / "stamp.txt").write_text(f"{time.time_ns()}\n", encoding="utf-8")  # content new to the registry
    (folder / "Dockerfile").write_text("FROM scratch\nCOPY sh /bin/sh\nCOPY stamp.txt /stamp.txt\n",
                                       encoding="utf-8")
    options = api.Options(root=tmp_path, registry=f"{registry}/gated", state_dir=tmp_path / "state")
    first = api.build(options, builder, BuildSettings())
    tool, client = first.nodes["tool"], RegistryClient()
    assert (first.status, tool.status, tool.tests) == ("failed", "failed", {"linux/amd64": "failed"})
    repository = api.load(options).nodes["tool"].repository
    assert client.digest(f"{repository}:sb-{tool.fingerprint}-candidate") == tool.digest  # pushed ...
    assert client.digest(f"{repository}:sb-{tool.fingerprint}") is None  # ... but not reusable

    second = api.build(options, builder, BuildSettings())
    again = second.nodes["tool"]
    assert (again.action, again.reason, second.builds) == ("build", "not_in_registry", 1)
    assert (again.status, again.tests) == ("failed", {"linux/amd64": "failed"})  # tested again
    assert client.manifest(tool.ref) is None and second.promoted == []
