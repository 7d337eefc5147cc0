"""NodeRunner's retries: a push fault is built again, a failing step is not, a cache-only failure warns."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import structlog
import tenacity
from structlog.testing import capture_logs

from engine.build.builder import BuildResult, PushGate
from engine.build.request import BuildRequest
from engine.errors import BuildError
from engine.run import api, faults, outcomes, runner
from engine.run.settings import BuildSettings
from tests.engine.engine_fakes import LOCAL, REGISTRY, STACK, FakeBuilder, FakeRegistry, write_stack

PUSH_FAULT = """\
#1 [internal] load build definition from Dockerfile
#1 DONE 0.1s
#2 [linux/amd64 1/1] FROM scratch
#2 DONE 0.0s
#3 exporting to image
#3 pushing layers
#3 ERROR: failed to push {ref}: failed to do request: Put "http://127.0.0.1:5000/v2/": 503 Service Unavailable
"""
STEP_FAILURE = """\
#1 [internal] load build definition from Dockerfile
#1 DONE 0.1s
#2 [linux/amd64 2/2] RUN curl http://mirror/pkg
#2 0.512 curl: (7) Failed to connect: connection refused
#2 ERROR: process "/bin/sh -c curl http://mirror/pkg" did not complete successfully: exit code: 7
"""
CACHE_EXPORT_FAILURE = """\
#1 [internal] load build definition from Dockerfile
#1 DONE 0.1s
#2 [linux/amd64 1/1] FROM scratch
#2 DONE 0.0s
#3 exporting to image
#3 pushing layers 0.1s done
#3 pushing manifest for {ref} 0.1s done
#3 DONE 0.4s
#4 exporting cache to registry
#4 preparing build cache for export
#4 ERROR: failed to push {ref}-cache: unexpected status from PUT request: 500 Internal Server Error
"""


class FailingFirst(FakeBuilder):
    """Fails the first `times` builds of each node in `failing` with the given log; later builds succeed."""

    def __init__(self, registry: FakeRegistry, failing: set[str], log: str, push_first: bool = False,
                 times: int = 1, proxied: str = "") -> None:
        super().__init__(registry, proxied=proxied)
        self.failing, self.log, self.push_first, self.times = failing, log, push_first, times
        self.calls: dict[str, int] = {}
        self.parents: dict[str, list[str]] = {}  # node → its parent context, call by call

    def build(self, request: BuildRequest, log_path: Path, gate: PushGate | None = None) -> BuildResult:
        self.calls[request.node] = self.calls.get(request.node, 0) + 1
        self.parents.setdefault(request.node, []).append(dict(request.build_contexts).get("parent", ""))
        if request.node not in self.failing or self.calls[request.node] > self.times:
            return super().build(request, log_path)
        if self.push_first:  # the image was pushed before the failure
            super().build(request, log_path)
        log_path.write_text(self.log.format(ref=request.tags[0]), encoding="utf-8")
        raise BuildError(request.node, ["docker", "buildx", "build"], 1, "tail", str(log_path))


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries happen at once (the backoff policy is tenacity's, not under test here)."""
    monkeypatch.setattr(faults, "wait_random_exponential", lambda **_: tenacity.wait_none())


@pytest.fixture(autouse=True)
def uncached_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh logger proxy, so capture_logs sees the runner's events even after main() cached one."""
    monkeypatch.setattr(runner, "log", structlog.get_logger())


def build(tmp_path: Path, builder: FakeBuilder, registry: FakeRegistry) -> api.RunReport:
    write_stack(tmp_path)
    options = api.Options(root=tmp_path, targets=STACK, state_dir=tmp_path / "state")
    return api.build(options, builder, BuildSettings(jobs=1, test=False), registry)


def test_a_push_fault_builds_the_node_again_and_counts_the_retry(tmp_path: Path) -> None:
    registry = FakeRegistry()
    builder = FailingFirst(registry, {"mid"}, PUSH_FAULT)
    with capture_logs() as events:
        report = build(tmp_path, builder, registry)
    assert report.status == "succeeded"
    assert builder.calls == {"base": 1, "other": 1, "mid": 2, "side": 1, "leaf": 1}
    assert (report.buildx_invocations, report.fault_repeats, report.builds) == (6, 1, 5)
    assert (report.nodes["mid"].status, report.nodes["mid"].retries) == ("succeeded", 1)
    assert report.nodes["base"].retries == 0
    retried = [e for e in events if e["event"] == "build_retried"]
    assert [(e["node"], e["attempt"], e["reason"]) for e in retried] == [
        ("mid", 1, "503 Service Unavailable")]
    assert registry.digest(f"{REGISTRY}/mid:2") == builder.digests["mid"]


def test_a_build_repeated_after_a_registry_fault_goes_through_the_retry_proxy(tmp_path: Path) -> None:
    """The first build talks to the local registry straight; the repeat pushes, reads its parent and
    its cache through the proxy, which is gone after the run."""
    registry = FakeRegistry()
    builder = FailingFirst(registry, {"mid"}, PUSH_FAULT, proxied="localhost:5000")
    write_stack(tmp_path, registry=LOCAL)
    options = api.Options(root=tmp_path, targets=STACK, state_dir=tmp_path / "state")
    report = api.build(options, builder, BuildSettings(jobs=1, test=False), registry)
    assert report.status == "succeeded"
    first, second = builder.parents["mid"]
    parent = f"t/base@{builder.digests['base']}"
    assert first == f"docker-image://localhost:5000/{parent}"
    proxy = second.removeprefix("docker-image://").split("/", 1)[0]
    assert second == f"docker-image://{proxy}/{parent}" and proxy.startswith("localhost:") and proxy != (
        "localhost:5000")
    assert builder.parents["leaf"] == [f"docker-image://localhost:5000/t/mid@{builder.digests['mid']}"]
    repeated = builder.requests["mid"]
    assert repeated.tags[0].startswith(f"{proxy}/t/mid:sb-") and repeated.cache_to.startswith(
        f"type=registry,ref={proxy}/t/mid:sbcache-")
    assert builder.requests["leaf"].tags[0].startswith("localhost:5000/t/leaf:sb-")
    assert registry.digest(f"{LOCAL}/mid:2") == builder.digests["mid"]
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", int(proxy.split(":")[1])), timeout=1):
        pass  # the proxy is gone after the run


def test_a_push_fault_every_time_gives_up_after_three_builds(tmp_path: Path) -> None:
    registry = FakeRegistry()
    builder = FailingFirst(registry, {"base"}, PUSH_FAULT, times=4)
    report = build(tmp_path, builder, registry)
    assert report.status == "failed"
    assert builder.calls["base"] == 3
    assert (report.nodes["base"].status, report.nodes["base"].retries) == ("failed", 2)
    assert report.promoted == []


def test_a_failing_dockerfile_step_is_not_built_again(tmp_path: Path) -> None:
    registry = FakeRegistry()
    builder = FailingFirst(registry, {"mid"}, STEP_FAILURE)  # its output mentions "connection refused"
    with capture_logs() as events:
        report = build(tmp_path, builder, registry)
    assert report.status == "failed"
    assert builder.calls["mid"] == 1
    assert (report.nodes["mid"].status, report.nodes["mid"].retries) == ("failed", 0)
    assert "leaf" not in builder.calls
    assert [e for e in events if e["event"] == "build_retried"] == []
    assert registry.digest(f"{REGISTRY}/mid:2") is None


def test_a_failed_cache_export_after_the_push_is_a_warning_and_the_node_succeeds(tmp_path: Path) -> None:
    registry = FakeRegistry()
    builder = FailingFirst(registry, {"mid"}, CACHE_EXPORT_FAILURE, push_first=True)
    with capture_logs() as events:
        report = build(tmp_path, builder, registry)
    assert report.status == "succeeded"
    assert builder.calls["mid"] == 1  # not built again
    assert (report.nodes["mid"].status, report.nodes["mid"].retries) == ("succeeded", 0)
    assert report.nodes["mid"].digest == builder.digests["mid"]
    assert registry.digest(f"{REGISTRY}/mid:2") == builder.digests["mid"]
    warned = [(e["node"], e["log_level"]) for e in events if e["event"] == "cache_export_failed"]
    assert warned == [("mid", "warning")]
    assert builder.requests["leaf"].build_contexts == (
        ("parent", f"docker-image://{REGISTRY}/mid@{builder.digests['mid']}"),)


def test_a_failed_cache_export_without_the_image_in_the_registry_is_no_warning_but_a_retry(
        tmp_path: Path) -> None:
    registry = FakeRegistry()
    builder = FailingFirst(registry, {"mid"}, CACHE_EXPORT_FAILURE, push_first=False)
    with capture_logs() as events:
        report = build(tmp_path, builder, registry)
    assert builder.calls["mid"] == 2  # its 500 is a registry fault: built again
    assert (report.nodes["mid"].status, report.nodes["mid"].retries) == ("succeeded", 1)
    assert [e for e in events if e["event"] == "cache_export_failed"] == []


def test_a_secret_looking_build_arg_is_a_warning_naming_node_and_arg(tmp_path: Path) -> None:
    folder = write_stack(tmp_path)
    stack = folder / "stack.yaml"
    stack.write_text(stack.read_text(encoding="utf-8").replace("{V: ", "{API_TOKEN: "), encoding="utf-8")
    registry = FakeRegistry()
    options = api.Options(root=tmp_path, targets=STACK, state_dir=tmp_path / "state")
    with capture_logs() as events:
        report = api.build(options, FakeBuilder(registry), BuildSettings(jobs=1, test=False), registry)
    assert report.status == "succeeded"
    warned = [(e["node"], e["arg"]) for e in events if e["event"] == "secret_build_arg"]
    assert warned == [("mid", "API_TOKEN")]  # only the node that has the arg
    assert all("secrets:" in e["hint"] for e in events if e["event"] == "secret_build_arg")


def test_an_error_that_is_no_engine_error_logs_node_failed_and_fails_the_node(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settle = outcomes.settle
    before_settling: dict[str, str] = {}  # each node's status when its run ended, before settle()

    def settling(report: api.RunReport, *rest: Any) -> tuple[bool, bool]:
        before_settling.update({name: node.status for name, node in report.nodes.items()})
        return settle(report, *rest)

    monkeypatch.setattr(outcomes, "settle", settling)
    registry = FakeRegistry()
    with capture_logs() as events:
        report = build(tmp_path, FakeBuilder(registry, fail=["side"], error=RuntimeError), registry)
    assert report.status == "failed"
    assert (before_settling["side"], report.nodes["side"].error) == ("failed", "side exploded")
    assert [e["error"] for e in events if e["event"] == "node_failed"] == ["side exploded"]
