"""report: the run folder and report.json."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

import engine.state.report
from engine.state.report import NodeReport, RunReport, finish, new_run


def test_node_report_defaults() -> None:
    node = NodeReport("a", "reg/a:1", "build", "full")
    assert (node.status, node.digest, node.duration_s, node.tests, node.log, node.error) == (
        "pending", "", 0.0, {}, "", "")
    assert (node.fingerprint, node.platform_durations, node.platform_digests, node.retries) == ("", {}, {}, 0)


def test_run_report_defaults() -> None:
    report = RunReport("id", "/nowhere", "now")
    assert (report.finished, report.status, report.mode, report.buildx_invocations) == (
        "", "running", "incremental", 0)
    assert (report.registry_requests, report.promoted, report.lockfile, report.nodes) == ({}, [], "", {})


def test_write_keeps_the_new_run_fields(tmp_path: Path) -> None:
    report = new_run(tmp_path)
    report.mode, report.buildx_invocations, report.lockfile = "pr", 3, "/s/runs/x/lock.json"
    report.registry_requests = {"HEAD": 4, "GET": 2, "PUT": 1}
    report.promoted = ["reg/a:1", "reg/b:2"]
    report.nodes["a"] = NodeReport("a", "reg/a:1", "skip", "up_to_date", fingerprint="f" * 64,
                                   platform_durations={"linux/amd64": 2.5, "shared": 0.5},
                                   platform_digests={"linux/amd64": "sha256:11"})
    data = json.loads(report.write().read_text(encoding="utf-8"))
    assert (data["mode"], data["buildx_invocations"], data["lockfile"]) == ("pr", 3, "/s/runs/x/lock.json")
    assert data["registry_requests"] == {"HEAD": 4, "GET": 2, "PUT": 1}
    assert data["promoted"] == ["reg/a:1", "reg/b:2"]
    node = data["nodes"]["a"]
    assert (node["action"], node["reason"], node["fingerprint"]) == ("skip", "up_to_date", "f" * 64)
    assert node["platform_durations"] == {"linux/amd64": 2.5, "shared": 0.5}
    assert node["platform_digests"] == {"linux/amd64": "sha256:11"}


def test_node_reports_do_not_share_their_tests_dict() -> None:
    first, second = NodeReport("a", "r", "build", "full"), NodeReport("b", "r", "build", "full")
    first.tests["linux/amd64"] = "passed"
    assert second.tests == {}


def test_new_run_makes_a_run_folder_with_logs(tmp_path: Path) -> None:
    report = new_run(tmp_path)
    folder = Path(report.folder)
    assert folder.parent == tmp_path / "runs"
    assert folder.name == report.run_id
    assert (folder / "logs").is_dir()
    assert report.status == "running"
    assert report.finished == ""
    assert report.nodes == {}
    assert datetime.fromisoformat(report.started).tzinfo is not None


def test_new_run_creates_missing_state_dir(tmp_path: Path) -> None:
    report = new_run(tmp_path / "deep" / "state")
    assert (Path(report.folder) / "logs").is_dir()


def test_count_by_status() -> None:
    report = RunReport("id", "/nowhere", "now")
    for name, status in [("a", "succeeded"), ("b", "failed"), ("c", "succeeded"), ("d", "skipped")]:
        report.nodes[name] = NodeReport(name, f"r/{name}:1", "build", "full", status=status)
    assert report.count("succeeded") == 2
    assert report.count("failed") == 1
    assert report.count("skipped") == 1
    assert report.count("not_started") == 0


def test_write_is_json_of_every_field_and_leaves_no_temp_file(tmp_path: Path) -> None:
    report = new_run(tmp_path)
    report.nodes["a"] = NodeReport("a", "reg/a:1", "build", "full", status="succeeded",
                                   digest="sha256:aa", duration_s=1.5,
                                   tests={"linux/amd64": "passed"}, log="/l/a.log",
                                   source="stacks/s/stack.yaml:7", base="openeuler/openeuler:24.03@sha256:bb")
    path = report.write()
    assert path == Path(report.folder) / "report.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["run_id"] == report.run_id
    assert data["status"] == "running"
    assert data["nodes"]["a"] == {
        "node": "a", "ref": "reg/a:1", "action": "build", "reason": "full",
        "status": "succeeded", "fingerprint": "", "digest": "sha256:aa", "published": False,
        "duration_s": 1.5,
        "platform_durations": {}, "platform_digests": {}, "base": "openeuler/openeuler:24.03@sha256:bb",
        "retries": 0, "tests": {"linux/amd64": "passed"}, "log": "/l/a.log", "error": "",
        "source": "stacks/s/stack.yaml:7",
    }
    assert {key: value for key, value in data.items() if key != "nodes"} == {
        "run_id": report.run_id, "folder": report.folder, "started": report.started, "finished": "",
        "status": "running", "mode": "incremental", "buildx_invocations": 0, "fault_repeats": 0,
        "registry_requests": {},
        "promoted": [], "lockfile": "", "signal": "",
    }
    assert sorted(p.name for p in Path(report.folder).iterdir()) == ["logs", "report.json"]


def test_write_replaces_the_previous_report(tmp_path: Path) -> None:
    report = new_run(tmp_path)
    report.write()
    report.nodes["a"] = NodeReport("a", "r", "build", "full")
    data = json.loads(report.write().read_text(encoding="utf-8"))
    assert list(data["nodes"]) == ["a"]


def test_finish_stamps_status_and_end(tmp_path: Path) -> None:
    report = new_run(tmp_path)
    path = finish(report, "failed")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["status"] == report.status == "failed"
    assert data["finished"] == report.finished
    assert datetime.fromisoformat(report.finished) >= datetime.fromisoformat(report.started)


def test_two_runs_in_the_same_second_get_distinct_folders(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    frozen = datetime(2025, 1, 2, 3, 4, 5, 678, tzinfo=UTC)

    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz: object = None) -> datetime:  # type: ignore[override]
            return frozen

    monkeypatch.setattr(engine.state.report, "datetime", FrozenDatetime)
    first, second = new_run(tmp_path), new_run(tmp_path)
    assert first.folder != second.folder
