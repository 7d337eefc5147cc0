"""engine.run.early through api.build: a child starts on its parent's stored image, and pushes only after it.

The fake builder stores each image (a second in-memory registry stands for the engine's image store),
tells the runner, then pushes, as the docker driver does. Hooks between storing and pushing order the
threads (events with a timeout, no sleeps).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from engine.build.builder import BuildResult
from engine.build.buildx_args import BuildRequest
from engine.errors import RegistryError
from engine.run import api, runner
from engine.run.runner import BuildSettings
from engine.state.report import RunReport
from tests.engine.engine_fakes import (
    NODES,
    REGISTRY,
    STACK,
    FakeBuilder,
    FakeRegistry,
    human_ref,
    write_stack,
)

BASE_DIGEST = "org.opencontainers.image.base.digest"


class HeldPush(FakeBuilder):
    """Stores, then holds `held`'s push until `child` has built and stored its image; may fail that push
    instead."""

    def __init__(self, registry: FakeRegistry, held: str = "base", child: str = "mid",
                 fail_push: bool = False, stored_differs: bool = False, overwritten: bool = False) -> None:
        super().__init__(registry, stores=True)
        self.held, self.child, self.fail_push, self.stored_differs = held, child, fail_push, stored_differs
        self.overwritten = overwritten
        self.child_started = threading.Event()  # set once the child's image is stored
        self.child_started_before_push = False
        self.calls: dict[str, list[BuildRequest]] = {}

    def build(self, request: BuildRequest, log_path: Path,
              stored: Callable[[str], None] | None = None) -> BuildResult:
        with self.lock:
            self.calls.setdefault(request.node, []).append(request)
        if request.node == self.child and stored is not None:
            stored = self._noting_child(stored)
        if request.node == self.held and self.stored_differs and stored is not None:
            stored = self._told_another(stored, request.tags[0])
        if request.node == self.held and self.overwritten and stored is not None:
            stored = self._overwritten_first(stored, request.tags[0])
        return super().build(request, log_path, stored)

    def _noting_child(self, stored: Callable[[str], None]) -> Callable[[str], None]:
        """stored, noting first that the child's image is built and stored (its parent layers read)."""
        def tell(digest: str) -> None:
            self.child_started.set()
            stored(digest)
        return tell

    def _told_another(self, stored: Callable[[str], None], reference: str) -> Callable[[str], None]:
        """stored, told the digest of another image under the same name (as when a repeat stored anew)."""
        def tell(digest: str) -> None:
            assert self.local is not None
            stored(self.local.push(reference, "an earlier store", ("linux/amd64", "linux/arm64")))
        return tell

    def _overwritten_first(self, stored: Callable[[str], None], reference: str) -> Callable[[str], None]:
        """stored, told the right digest after another build took the stored name (a concurrent run)."""
        def tell(digest: str) -> None:
            assert self.local is not None
            self.local.push(reference, "another run's build", ("linux/amd64", "linux/arm64"))
            stored(digest)
        return tell

    def before_push(self, request: BuildRequest) -> None:
        if request.node != self.held:
            return
        self.child_started_before_push = self.child_started.wait(10)
        if self.fail_push:
            raise RegistryError(f"push of {request.node} refused", "try again")


@pytest.fixture(autouse=True)
def uncached_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh logger proxy, so capture_logs sees the runner's events even after main() cached one."""
    monkeypatch.setattr(runner, "log", structlog.get_logger())


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write_stack(tmp_path / "repo")
    return tmp_path / "repo"


def build(root: Path, builder: FakeBuilder, registry: FakeRegistry, **settings: object) -> RunReport:
    options = api.Options(root=root, targets=STACK, state_dir=root.parent / "state")
    return api.build(options, builder, BuildSettings(jobs=3, **settings), registry)  # type: ignore[arg-type]


def test_a_child_starts_on_its_stored_parent_and_rests_on_the_pushed_one(root: Path) -> None:
    registry = FakeRegistry()
    builder = HeldPush(registry)
    report = build(root, builder, registry)

    assert report.status == "succeeded"
    assert builder.child_started_before_push  # mid's build ran while base's push was held
    base_tag = builder.requests["base"].tags[0]
    mid = builder.requests["mid"]
    assert dict(mid.build_contexts)["parent"] == f"docker-image://{base_tag}"  # the stored image, by tag
    assert dict(mid.labels)[BASE_DIGEST] == builder.digests["base"]  # the digest stored = the one pushed
    assert registry.events.index(("push", base_tag)) < registry.events.index(("push", mid.tags[0]))
    assert {name: registry.refs[human_ref(name)] for name in NODES} == builder.digests
    assert report.nodes["mid"].digest == builder.digests["mid"]


def test_a_child_is_not_pushed_when_its_stored_parent_then_fails(root: Path) -> None:
    registry = FakeRegistry()
    builder = HeldPush(registry, fail_push=True)
    report = build(root, builder, registry, keep_going=True)

    assert builder.child_started_before_push
    assert report.status == "failed"
    assert report.nodes["base"].status == "failed"
    for name in ("mid", "side", "leaf"):
        assert report.nodes[name].status == "skipped", name
    assert "parent base failed" in report.nodes["mid"].error
    mid_tag = builder.calls["mid"][0].tags[0]
    assert ("push", mid_tag) not in registry.events  # built on it, never pushed
    assert "leaf" not in builder.calls
    assert not [ref for kind, ref in registry.events if kind == "tag"]  # nothing published


def test_a_child_built_on_another_stored_image_is_built_again_on_the_pushed_one(root: Path) -> None:
    registry = FakeRegistry()
    builder = HeldPush(registry, stored_differs=True)
    with capture_logs() as logs:
        report = build(root, builder, registry)

    assert report.status == "succeeded"
    first, again = builder.calls["mid"]
    assert dict(first.build_contexts)["parent"].endswith(builder.requests["base"].tags[0])
    assert dict(first.labels)[BASE_DIGEST] != builder.digests["base"]
    base_repository = builder.requests["base"].tags[0].rsplit(":", 1)[0]
    assert dict(again.build_contexts)["parent"] == f"docker-image://{base_repository}@{builder.digests['base']}"
    assert dict(again.labels)[BASE_DIGEST] == builder.digests["base"]
    rebuilt = [e["node"] for e in logs if e["event"] == "parent_changed_rebuild"]
    assert "mid" in rebuilt and set(rebuilt) <= {"mid", "side"}  # side too, when it started early as well
    assert registry.refs[human_ref("mid")] == builder.digests["mid"]


def test_a_full_rebuild_starts_a_child_on_its_stored_parent_without_pulling(root: Path) -> None:
    registry = FakeRegistry()
    builder = HeldPush(registry)
    report = build(root, builder, registry, full=True)

    assert report.status == "succeeded"
    assert builder.child_started_before_push
    mid = builder.requests["mid"]
    assert dict(mid.build_contexts)["parent"] == f"docker-image://{builder.requests['base'].tags[0]}"
    assert not mid.pull and mid.no_cache  # its parent is this run's stored image: the registry has not got it
    assert builder.requests["base"].pull and builder.requests["other"].pull


def test_a_full_rebuild_of_a_child_naming_another_image_pulls_it_on_its_pushed_parent(root: Path) -> None:
    dockerfile = root / "stacks" / "t" / "mid" / "Dockerfile"
    dockerfile.write_text("FROM parent\nCOPY --from=busybox:1.36 /bin/sh /sh\n", encoding="utf-8")
    registry = FakeRegistry()
    builder = FakeBuilder(registry, stores=True)
    report = build(root, builder, registry, full=True)

    assert report.status == "succeeded"
    mid = builder.requests["mid"]
    assert dict(mid.build_contexts)["parent"] == f"docker-image://{REGISTRY}/base@{builder.digests['base']}"
    assert mid.pull  # --pull fetches busybox fresh, and the parent from the registry: it waited for its push


def test_a_child_resting_on_another_image_under_the_stored_name_is_built_again_from_the_registry(
        root: Path) -> None:
    registry = FakeRegistry()
    builder = HeldPush(registry, overwritten=True)
    report = build(root, builder, registry)

    assert report.status == "succeeded"
    first, *later = builder.calls["mid"]
    assert dict(first.build_contexts)["parent"] == f"docker-image://{builder.requests['base'].tags[0]}"
    assert [dict(r.build_contexts)["parent"] for r in later] == [
        f"docker-image://{REGISTRY}/base@{builder.digests['base']}"]  # the layer check's rebuild
    assert later[0].no_cache
    assert report.nodes["mid"].retries == 1
