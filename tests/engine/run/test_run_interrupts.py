"""An interrupt during a run: no build starts after it, and the human tags move all or none."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import tenacity

from engine.build import interrupt
from engine.build.builder import BuildResult, PushGate
from engine.build.interrupt import StopEvent
from engine.build.request import BuildRequest
from engine.errors import BuildError, Interrupted, RegistryError
from engine.run import api, faults, outcomes, publishing
from engine.run.settings import BuildSettings
from engine.state.history import History
from engine.state.lockfile import read_lockfile
from tests.engine.engine_fakes import NODES, FakeBuilder, FakeRegistry, human_ref, sha, write_stack
from tests.engine.run.builds import options_of, run_build
from tests.engine.run.tagging import InterruptedWhileTagging

PUSH_FAULT = """\
#1 [internal] load build definition from Dockerfile
#1 DONE 0.1s
#3 exporting to image
#3 pushing layers
#3 ERROR: failed to push {ref}: failed to do request: Put "http://127.0.0.1:5000/v2/": context canceled
"""


class KilledWhilePushing(FakeBuilder):
    """The first build of `node` is stopped by an interrupt while it pushes (its log reads as a push
    fault)."""

    def __init__(self, registry: FakeRegistry, node: str, stop: StopEvent) -> None:
        super().__init__(registry)
        self.node, self.stop = node, stop
        self.calls: dict[str, int] = {}

    def build(self, request: BuildRequest, log_path: Path, gate: PushGate | None = None) -> BuildResult:
        with self.lock:
            self.calls[request.node] = self.calls.get(request.node, 0) + 1
        if request.node != self.node:
            return super().build(request, log_path, gate)
        self.stop.signal = "SIGINT"
        self.stop.set()
        log_path.write_text(PUSH_FAULT.format(ref=request.tags[0]), encoding="utf-8")
        raise BuildError(request.node, ["docker", "buildx", "build"], -15, "killed", str(log_path))


def stopped_by(stop: StopEvent, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run's builds and promotion see stop; no signal arrives while the run is recorded."""
    seen_by = [stop, stop]

    @contextmanager
    def interruptible() -> Iterator[StopEvent]:
        yield seen_by.pop(0) if seen_by else StopEvent()

    monkeypatch.setattr(outcomes, "interruptible", interruptible)


def test_a_build_stopped_by_an_interrupt_is_not_built_again(root: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faults, "wait_random_exponential", lambda **_: tenacity.wait_none())
    stop = StopEvent()
    stopped_by(stop, monkeypatch)
    registry = FakeRegistry()
    builder = KilledWhilePushing(registry, "base", stop)
    report = run_build(root, builder, registry, jobs=1)
    assert builder.calls["base"] == 1
    assert (report.status, report.signal) == ("interrupted", "SIGINT")
    assert report.nodes["base"].status == "interrupted"
    assert registry.tags({human_ref(name) for name in NODES}) == {}


class InterruptedOnAnotherParentBuild(FakeBuilder):
    """A Ctrl-C arrives while mid builds, and mid lands on another build of base (its layer check then
    calls for a build without cache)."""

    def __init__(self, registry: FakeRegistry, stop: StopEvent) -> None:
        super().__init__(registry)
        self.stop = stop
        self.calls: dict[str, int] = {}

    def build(self, request: BuildRequest, log_path: Path, gate: PushGate | None = None) -> BuildResult:
        with self.lock:
            self.calls[request.node] = self.calls.get(request.node, 0) + 1
        if request.node == "mid":
            self.stop.signal = "SIGINT"
            self.stop.set()
        return super().build(request, log_path, gate)

    def _parent_layers(self, request: BuildRequest) -> dict[str, list[str]]:
        layers = super()._parent_layers(request)
        if request.node == "mid":
            layers["linux/arm64"] = [sha("another build of base")]
        return layers


def test_no_build_without_cache_starts_after_an_interrupt(root: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    stop = StopEvent()
    stopped_by(stop, monkeypatch)
    registry = FakeRegistry()
    builder = InterruptedOnAnotherParentBuild(registry, stop)
    report = run_build(root, builder, registry, jobs=1)
    assert builder.calls["mid"] == 1  # its layer check failed: the build again without cache never ran
    assert report.status == "interrupted"
    assert report.nodes["mid"].status == "interrupted"
    assert registry.tags({human_ref(name) for name in NODES}) == {}


def test_ctrl_c_while_the_tags_move_lets_them_all_move_and_be_recorded(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(interrupt, "descendant_pids", lambda _pid: [])  # no process of pytest is stopped
    registry = InterruptedWhileTagging("mid")
    builder = FakeBuilder(registry)
    try:
        report = run_build(root, builder, registry, jobs=2)
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C while the human tags moved escaped the run: the lockfile was not written")
    assert registry.tags({human_ref(name) for name in NODES}) == {
        human_ref(name): builder.digests[name] for name in NODES}
    assert (report.status, report.signal) == ("succeeded", "SIGINT")  # what happened, and what arrived
    latest = read_lockfile(root.parent / "state" / "latest.lock.json")
    assert {entry.node: entry.digest for entry in latest} == builder.digests
    with History(root.parent / "state" / "history.db") as history:
        assert [run.status for run in history.runs()] == ["succeeded"]


@pytest.mark.parametrize(("sent", "exit_code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_while_publish_moves_the_tags_stops_it_once_they_moved_and_are_recorded(
        root: Path, monkeypatch: pytest.MonkeyPatch, sent: signal.Signals, exit_code: int) -> None:
    monkeypatch.setattr(interrupt, "descendant_pids", lambda _pid: [])
    registry = InterruptedWhileTagging("mid", sent=sent)
    builder = FakeBuilder(registry)
    assert api.build(options_of(root, only=NODES), builder, BuildSettings(), registry).status == "succeeded"
    with pytest.raises(Interrupted) as caught:  # after the promotion, not in its midst
        api.publish(options_of(root), registry)
    assert caught.value.exit_code == exit_code
    assert caught.value.message == f"stopped by {sent.name} once every tag had moved (or moved back)"
    assert registry.tags({human_ref(name) for name in NODES}) == {
        human_ref(name): builder.digests[name] for name in NODES}
    latest = read_lockfile(root.parent / "state" / "latest.lock.json")
    assert {entry.node: entry.digest for entry in latest} == builder.digests


def test_ctrl_c_while_a_rollback_promotion_fails_still_moves_every_tag_back(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(interrupt, "descendant_pids", lambda _pid: [])
    registry = InterruptedWhileTagging("mid", refused="leaf", armed=False)
    first = run_build(root, FakeBuilder(registry), registry)
    write_stack(root, arg="2")
    second = run_build(root, FakeBuilder(registry), registry)
    registry.armed = True  # mid moves back to the first run's image: Ctrl-C; leaf cannot move
    try:
        with pytest.raises(RegistryError, match="403") as caught:
            publishing.promote_lockfile(options_of(root), Path(first.lockfile), registry)
        assert caught.value.exit_code == 130  # a calling script stops, as after any Ctrl-C
    except (KeyboardInterrupt, Interrupted):
        pytest.fail("Ctrl-C during a failing promotion escaped it: the tags it moved were not moved back")
    assert registry.tags({human_ref(name) for name in NODES}) == {
        human_ref(name): second.nodes[name].digest for name in NODES}
