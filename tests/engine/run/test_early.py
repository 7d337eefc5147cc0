"""engine.run.early through api.build: a child starts once its parent is pushed, and pushes only after
the parent settled (its smoke tests passed).

The fake builder stores each image, then pushes it, calling the runner's push gate around the push as
the docker driver does. Hooks order the threads: the parent's smoke test waits until its child has been
built (events with a timeout, no sleeps).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import pytest
import structlog
from structlog.testing import capture_logs

from engine.build.builder import BuildResult, PushGate
from engine.build.request import BASE_DIGEST_LABEL, BuildRequest
from engine.build.scheduler import Scheduler
from engine.run import api, runner
from engine.run.early import EarlyParents, ParentFailed
from engine.state.report import RunReport
from tests.engine.engine_fakes import (
    NODES,
    REGISTRY,
    FakeBuilder,
    FakeRegistry,
    human_ref,
)
from tests.engine.run.builds import run_build


class HeldTests(FakeBuilder):
    """Holds `held`'s smoke test until `child` is built and waits at its push; may fail that test; may
    tell the child another pushed digest of `held` than the one it ends on."""

    def __init__(self, registry: FakeRegistry, held: str = "base", child: str = "mid",
                 fail_test: bool = False, told_another: bool = False) -> None:
        super().__init__(registry, fail_test=[held] if fail_test else [], stores=True)
        self.held, self.child, self.told_another = held, child, told_another
        self.child_built = threading.Event()  # the child's image is stored: it waits to push
        self.child_built_before_parent_settled = False
        self.calls: dict[str, list[BuildRequest]] = {}

    def build(self, request: BuildRequest, log_path: Path, gate: PushGate | None = None) -> BuildResult:
        with self.lock:
            self.calls.setdefault(request.node, []).append(request)
        if gate is not None and request.node == self.child:
            gate = PushGate(self._noting(gate.before_push), gate.after_push)
        if gate is not None and request.node == self.held and self.told_another:
            gate = PushGate(gate.before_push, self._another(gate.after_push, request.tags[0]))
        return super().build(request, log_path, gate)

    def _noting(self, before_push: Callable[[str], None]) -> Callable[[str], None]:
        def note(digest: str) -> None:
            self.child_built.set()
            before_push(digest)
        return note

    def _another(self, after_push: Callable[[str], None], reference: str) -> Callable[[str], None]:
        """after_push told the digest of another image of the same node (as an earlier push may leave)."""
        def tell(digest: str) -> None:
            after_push(self.registry.push(f"{reference}-earlier", "an earlier push"))
        return tell

    def smoke_test(self, node: str, image: str, platform: str, command: tuple[str, ...] | list[str],
                   entrypoint: str | None = None) -> str:
        if node == self.held:
            self.child_built_before_parent_settled = self.child_built.wait(10)
        return super().smoke_test(node, image, platform, command, entrypoint)


@pytest.fixture(autouse=True)
def uncached_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh logger proxy, so capture_logs sees the runner's events even after main() cached one."""
    monkeypatch.setattr(runner, "log", structlog.get_logger())


def build(root: Path, builder: FakeBuilder, registry: FakeRegistry, **settings: object) -> RunReport:
    return run_build(root, builder, registry, jobs=3, **settings)


def parent_context(builder: FakeBuilder, parent: str) -> str:
    return f"docker-image://{REGISTRY}/{parent}@{builder.digests[parent]}"


def test_a_child_builds_while_its_parent_is_tested_and_pushes_after_it(root: Path) -> None:
    registry = FakeRegistry()
    builder = HeldTests(registry)
    report = build(root, builder, registry)

    assert report.status == "succeeded"
    assert builder.child_built_before_parent_settled
    mid = builder.requests["mid"]
    assert dict(mid.build_contexts)["parent"] == parent_context(builder, "base")
    assert dict(mid.labels)[BASE_DIGEST_LABEL] == builder.digests["base"]
    pushes = [ref for kind, ref in registry.events if kind == "push"]
    assert pushes.index(builder.requests["base"].tags[0]) < pushes.index(mid.tags[0])
    assert {name: registry.refs[human_ref(name)] for name in NODES} == builder.digests


def test_a_child_is_not_pushed_when_its_parent_then_fails_its_smoke_test(root: Path) -> None:
    registry = FakeRegistry()
    builder = HeldTests(registry, fail_test=True)
    report = build(root, builder, registry, keep_going=True)

    assert builder.child_built_before_parent_settled
    assert report.status == "failed"
    assert report.nodes["base"].status == "failed"
    for name in ("mid", "side", "leaf"):
        assert report.nodes[name].status == "skipped", name
    assert "parent base failed after its push" in report.nodes["mid"].error
    assert ("push", builder.calls["mid"][0].tags[0]) not in registry.events  # built on it, never pushed
    assert "leaf" not in builder.calls
    tagged = [ref for kind, ref in registry.events if kind == "tag"]  # nothing published; only other,
    assert tagged == [f"{REGISTRY}/other:sb-{report.nodes['other'].fingerprint}"]  # which passed, reusable


def test_a_child_built_on_another_digest_than_its_parent_ends_on_is_built_again(root: Path) -> None:
    registry = FakeRegistry()
    builder = HeldTests(registry, told_another=True)
    with capture_logs() as logs:
        report = build(root, builder, registry)

    assert report.status == "succeeded"
    first, again = builder.calls["mid"]
    assert dict(first.labels)[BASE_DIGEST_LABEL] != builder.digests["base"]
    assert dict(again.build_contexts)["parent"] == parent_context(builder, "base")
    assert dict(again.labels)[BASE_DIGEST_LABEL] == builder.digests["base"]
    rebuilt = [e["node"] for e in logs if e["event"] == "parent_changed_rebuild"]
    assert "mid" in rebuilt and set(rebuilt) <= {"mid", "side"}  # side too, when it started early as well
    assert registry.refs[human_ref("mid")] == builder.digests["mid"]
    # each such build counts as a repeat, not as a fault's (base was not built through the retry proxy)
    assert {name: report.nodes[name].retries for name in rebuilt} == dict.fromkeys(rebuilt, 1)
    assert report.fault_repeats == 0 and report.builds == len(builder.order)


def test_a_full_rebuild_starts_children_early_on_their_pushed_parent_and_pulls(root: Path) -> None:
    registry = FakeRegistry()
    builder = HeldTests(registry)
    report = build(root, builder, registry, full=True)

    assert report.status == "succeeded"
    assert builder.child_built_before_parent_settled
    for name, parent in (("mid", "base"), ("side", "base"), ("leaf", "mid")):
        request = builder.requests[name]
        assert dict(request.build_contexts)["parent"] == parent_context(builder, parent)
        assert request.pull and request.no_cache


class EndsSeen(Scheduler):
    """The api's scheduler, saying when a node's end has been handed to its loop (ends[node])."""

    ends: ClassVar[dict[str, threading.Event]] = {}  # the nodes a test watches

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        ends = self.ends

        class Noting(queue.SimpleQueue):  # type: ignore[type-arg]
            def put(self, item: tuple[str, object], block: bool = True, timeout: float | None = None) -> None:
                super().put(item, block, timeout)
                if item[1] is not None and item[0] in ends:
                    ends[item[0]].set()

        self._done = Noting()


def test_a_child_failing_on_its_failed_parent_before_the_parent_ends_is_still_skipped(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = FakeRegistry()
    builder = HeldTests(registry, fail_test=True)
    mid_ended = threading.Event()
    monkeypatch.setattr(EndsSeen, "ends", {"mid": mid_ended})
    monkeypatch.setattr(api, "Scheduler", EndsSeen)
    settled = EarlyParents.settled

    def base_ends_after_mid(self: EarlyParents, name: str, digest: str) -> None:
        settled(self, name, digest)  # mid wakes at its push gate and fails (ParentFailed) ...
        if name == "base":
            assert mid_ended.wait(10)  # ... and its end reaches the scheduler before base's

    monkeypatch.setattr(EarlyParents, "settled", base_ends_after_mid)
    report = build(root, builder, registry)  # fail fast

    assert builder.child_built_before_parent_settled
    assert report.nodes["base"].status == "failed"
    assert report.nodes["mid"].status == "skipped"
    assert "parent base failed after its push" in report.nodes["mid"].error


def test_without_an_early_release_a_push_releases_nothing_and_children_wait_for_the_end() -> None:
    early = EarlyParents()  # a pool run: its scheduler takes no early release
    early.started("base")
    early.pushed("base", "sha256:" + "1" * 64)
    assert early.pushed_digest("base") is None  # a child is built on base's final digest, not this one
    assert early.final_digest("base") is None  # nothing to wait for: base was not released early


def test_an_early_release_happens_once_and_the_pushed_digest_serves_until_the_end() -> None:
    released: list[str] = []
    early = EarlyParents()
    early.release = released.append
    early.started("base")
    first, again = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    early.pushed("base", first)
    early.pushed("base", again)  # pushed once more (a rebuild): released already
    assert released == ["base"]
    assert early.pushed_digest("base") == again
    early.settled("base", again)
    assert early.pushed_digest("base") is None  # ended: its final digest is what children use
    assert early.final_digest("base") == again


def test_a_child_asking_for_a_released_parent_that_failed_is_told_so_before_it_builds() -> None:
    early = EarlyParents()
    early.release = lambda _name: None
    early.started("base")
    early.pushed("base", "sha256:" + "1" * 64)
    early.settled("base", "")  # its smoke test failed after the push
    with pytest.raises(ParentFailed, match="parent base failed after its push"):
        early.pushed_digest("base")
    with pytest.raises(ParentFailed, match="parent base failed after its push"):
        early.final_digest("base")
