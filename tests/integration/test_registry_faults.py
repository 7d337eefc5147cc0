"""A registry that answers 503 and 429, resets connections and stalls: every node still ends pushed.

The fault injector (faultproxy.py, no engine code) sits in front of a throwaway registry; the run
pushes below it: a node's first build goes injector → registry and, after a fault, its repeat goes
engine retry proxy → injector → registry; the engine's own registry client goes injector → registry.
The engine's proxy gets a short socket timeout here so a stall costs seconds, not minutes.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from pathlib import Path

import pytest

from engine.build.builder import BuildxBuilder
from engine.build.request import BuildRequest
from engine.errors import BuildStalled
from engine.registry.client import RegistryClient
from engine.registry.retryproxy import RetryProxy
from engine.run import api, proxyroute
from engine.run.layers import check_layer_prefixes
from engine.run.settings import BuildSettings
from tests.integration.conftest import payload_context
from tests.integration.faultproxy import FaultInjector, SilentRegistry
from tests.integration.provenance import statements

PROXY_TIMEOUT_S = 3.0
STALL_TIMEOUT_S = 15.0
SEED = 16
PLATFORMS = {"linux/amd64", "linux/arm64"}

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


class LogWatcher:
    """Polls the run's node logs while the build runs: the largest size each reached meanwhile."""

    def __init__(self, state: Path) -> None:
        self.state, self.done = state, threading.Event()
        self.sizes: dict[str, int] = {}
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self.done.wait(0.1):
            for log in self.state.glob("runs/*/logs/*.log"):
                self.sizes[log.stem] = max(self.sizes.get(log.stem, 0), log.stat().st_size)


@pytest.mark.timeout(900)
def test_every_node_is_pushed_with_every_platform_despite_faults(
        tmp_path: Path, registry: str, builder: BuildxBuilder, monkeypatch: pytest.MonkeyPatch) -> None:
    _stack(tmp_path)
    monkeypatch.setattr(proxyroute, "RetryProxy", functools.partial(RetryProxy, timeout_s=PROXY_TIMEOUT_S))
    upstream = registry.replace("localhost", "127.0.0.1")
    watcher = LogWatcher(tmp_path / "state")
    with FaultInjector(upstream, SEED, unavailable=0.10, throttled=0.05, reset=0.05, stall=0.03,
                       stall_s=3 * PROXY_TIMEOUT_S) as faults:
        options = api.Options(root=tmp_path, registry=f"{faults.address}/flaky", state_dir=tmp_path / "state")
        watcher.thread.start()
        try:
            report = api.build(options, builder, BuildSettings(jobs=2, test=False))
        finally:
            watcher.done.set()
        assert report.status == "succeeded", {n: r.error for n, r in report.nodes.items() if r.error}
        assert all(faults.counts[kind] > 0 for kind in ("503", "429", "reset", "stall")), faults.counts
    # every node's log had output while the run was still going
    assert {name for name, size in watcher.sizes.items() if size > 0} == {"root", "mid", "leaf", "side"}
    client = RegistryClient()
    graph = api.load(options)
    pushed = api.load(api.Options(root=tmp_path, registry=f"{registry}/flaky")).nodes
    digests = {}
    for name, node in pushed.items():
        index = client.manifest(node.ref)
        assert index is not None and index.is_index, name
        assert set(index.platforms()) == PLATFORMS, name
        for digest in index.platforms().values():
            assert client.manifest(f"{node.repository}@{digest}") is not None, name
        digests[name] = index.digest
    assert set(graph.nodes) == set(pushed)
    # a build repeated after a fault went through the retry proxy: its attestations were renamed, so
    # none names the proxy (every statement names the registry the run pushed to)
    assert any(entry.retries for entry in report.nodes.values()), "no build was repeated"
    for name, node in pushed.items():
        found = statements(client, node.ref)
        assert set(found) == PLATFORMS, f"{name}: no provenance to search on every platform"
        for statement in found.values():
            text = json.dumps(statement).replace(faults.address, "").replace(
                faults.address.replace(":", "%3A"), "")
            assert "localhost" not in text, f"{name}: a proxy address is left in its provenance"
    children = [node for node in pushed.values() if node.parent]
    assert check_layer_prefixes(children, {n.name: pushed[n.parent] for n in children if n.parent},
                                digests, client) == []


@pytest.mark.timeout(300)
def test_a_build_pushing_to_a_registry_that_never_answers_is_stopped_by_the_watchdog(
        tmp_path: Path, builder: BuildxBuilder) -> None:
    """The issue's hang: buildx waiting forever on a push; without the retry proxy only the watchdog helps."""
    context = payload_context(tmp_path / "ctx")
    silent = SilentRegistry()
    request = BuildRequest(node="stuck", context=context, platforms=("linux/amd64",),
                           dockerfile=context / "Dockerfile", tags=(f"{silent.address}/stuck/x:1",))
    log = tmp_path / "logs" / "stuck.log"
    started = time.monotonic()
    try:
        with pytest.raises(BuildStalled) as caught:
            BuildxBuilder(stall_timeout_s=STALL_TIMEOUT_S).build(request, log)
    finally:
        silent.close()
    assert time.monotonic() - started < 120
    # buildx's push, or on the docker driver `docker push` of the stored image ("…: Waiting" redrawn)
    last = caught.value.last_line
    assert any(word in last for word in ("pushing", "Waiting", "Preparing", "push refers")), last
    # buildx falls silent ("no output"); docker push redraws "Waiting" on its terminal ("no progress")
    assert log.read_text().endswith((f"\nstalled: no output for {STALL_TIMEOUT_S:g} s; stopped\n",
                                     f"\nstalled: no progress for {STALL_TIMEOUT_S:g} s; stopped\n"))
    assert silent.held, "buildx never reached the registry: the test did not test a stalled push"
    assert _processes_naming(silent.address) == []  # the docker CLI and the buildx plugin are gone


def _processes_naming(text: str) -> list[str]:
    """Command lines of running processes that contain text."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            line = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in line:
            found.append(line)
    return found
