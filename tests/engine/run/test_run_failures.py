"""A run that fails outside its nodes (while scheduling them or publishing) still records what it built."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from engine.build.builder import BuildResult, PushGate
from engine.build.request import BuildRequest
from engine.errors import EngineError, RegistryError
from engine.run import api
from engine.state.history import History
from tests.engine.engine_fakes import NODES, FakeBuilder, FakeRegistry, RefusingTag, human_ref
from tests.engine.run.builds import run_build


def only_run(state: Path) -> dict[str, object]:
    (folder,) = (state / "runs").iterdir()
    data: dict[str, object] = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    return data


def test_a_promotion_that_fails_halfway_records_the_run_and_its_nodes(root: Path) -> None:
    registry = RefusingTag(human_ref("leaf"))
    builder = FakeBuilder(registry)
    with pytest.raises(RegistryError, match="403"):
        run_build(root, builder, registry)
    state = root.parent / "state"
    report = only_run(state)
    assert report["status"] == "failed" and report["finished"]
    nodes = report["nodes"]
    assert isinstance(nodes, dict)
    assert {name: (node["status"], node["digest"]) for name, node in nodes.items()} == {
        name: ("succeeded", builder.digests[name]) for name in NODES}
    with History(state / "history.db") as history:
        (run,) = history.runs()
        assert (run.status, run.built) == ("failed", len(NODES))
        assert history.built_digests() == set(builder.digests.values())


class BlockingTheReport(FakeBuilder):
    """Puts a folder where the run writes its report.json: the report cannot be written at the end."""

    blocking = threading.Lock()  # nodes build side by side: one of them puts the folder in the way

    def build(self, request: BuildRequest, log_path: Path, gate: PushGate | None = None) -> BuildResult:
        report = log_path.parent.parent / "report.json"
        with self.blocking:
            if report.is_file():
                report.unlink()
                (report / "in-the-way").mkdir(parents=True)
        return super().build(request, log_path, gate)


def test_a_report_that_cannot_be_written_still_finishes_the_run_in_the_history(root: Path) -> None:
    registry = FakeRegistry()
    builder = BlockingTheReport(registry)
    with pytest.raises(OSError):
        run_build(root, builder, registry)
    with History(root.parent / "state" / "history.db") as history:
        (run,) = history.runs()
        assert (run.status, run.built) == ("succeeded", len(NODES))
        assert run.finished


def test_an_error_while_the_nodes_are_scheduled_is_raised_and_the_run_closed_as_failed(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_scheduling(*_args: object) -> None:  # e.g. a pool whose builders cannot be listed
        raise EngineError("the builders cannot be listed", "check the pool")

    monkeypatch.setattr(api, "_schedule", broken_scheduling)
    registry = FakeRegistry()
    with pytest.raises(EngineError, match="the builders cannot be listed"):
        run_build(root, FakeBuilder(registry), registry)
    state = root.parent / "state"
    assert only_run(state)["status"] == "failed"
    with History(state / "history.db") as history:
        assert [run.status for run in history.runs()] == ["failed"]
    assert registry.tags({human_ref(name) for name in NODES}) == {}
