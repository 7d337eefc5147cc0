"""bench.versus without Docker: the PR scenario's subtree bake (order, fresh edits, summary), its report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import judge, report, timed, versus
from bench.workspace import Workspace

TARGETS = {
    "os": {"context": "stacks/s/os", "tags": ["r/os:1"]},
    "fw": {"context": "stacks/s/fw", "contexts": {"parent": "target:os"}, "tags": ["r/fw:1"]},
    "app": {"context": "stacks/s/app", "contexts": {"parent": "target:fw"}, "tags": ["r/app:1"]},
}


def _run(wall: float, **extra: Any) -> dict[str, Any]:
    return {"wall_s": wall, "solves": 1, "ok": True, "error": "", "durations": {},
            "requests": {"total": 1, "manifests": 1, "by_method": {}}, **extra}


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "docker-bake.json").write_text(json.dumps({"target": TARGETS}), encoding="utf-8")
    change = tmp_path / "stacks" / "s" / "fw" / "Dockerfile"
    change.parent.mkdir(parents=True)
    change.write_text("FROM parent\n", encoding="utf-8")
    ws = Workspace("s", tmp_path, "stacks/s", 3, change, "FROM parent\n", (), "sb", "bake")
    ws.logs.mkdir()
    return ws


def test_each_pr_pair_is_followed_by_a_subtree_bake_on_a_fresh_edit(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str, str]] = []  # (tool, run name, the framework Dockerfile then)

    def stackbuild(ws: Workspace, proxy: object, jobs: int, name: str, full: bool = False) -> dict[str, Any]:
        calls.append(("stackbuild", name, ws.change_file.read_text(encoding="utf-8")))
        return _run(2.0)

    def bake(ws: Workspace, proxy: object, name: str, no_cache: bool = False,
             bake_file: Path | None = None) -> dict[str, Any]:
        calls.append(("subtree" if bake_file else "bake", name, ws.change_file.read_text(encoding="utf-8")))
        if bake_file:
            written = json.loads(bake_file.read_text(encoding="utf-8"))
            assert written["group"]["default"]["targets"] == ["app", "fw"]
            assert written["target"]["fw"]["contexts"] == {"parent": "docker-image://r/os@sha256:o"}
        digests = {"os": "sha256:o", "fw": "sha256:f", "app": "sha256:a"}
        return _run(1.0 if bake_file else 8.0, digests=digests)

    monkeypatch.setattr(timed, "run_stackbuild", stackbuild)
    monkeypatch.setattr(timed, "run_bake", bake)
    monkeypatch.setattr(timed, "profile_stackbuild", lambda *args: {})
    monkeypatch.setattr(versus, "_clean_slate", lambda *args: None)
    summaries = versus.compare(ws, None, None, 4, {"cold": 1, "noop": 0, "pr": 2, "nightly": 0},  # type: ignore[arg-type]
                               lambda message: None)
    pr_calls = [call for call in calls if call[1].startswith(("pr", "subtree"))]
    assert [(tool, name) for tool, name, _ in pr_calls] == [
        ("stackbuild", "pr0"), ("bake", "pr0"), ("subtree", "subtree0"),
        ("stackbuild", "pr1"), ("bake", "pr1"), ("subtree", "subtree1")]
    edits = [text for _, _, text in pr_calls]
    assert edits[0] == edits[1] and len({edits[0], edits[2], edits[3], edits[5]}) == 4  # fresh for each
    pr = next(summary for summary in summaries if summary["scenario"] == "pr")
    assert (pr["subtree_bake"]["targets"], pr["subtree_bake"]["speedup"], pr["speedup"]) == (2, 8.0, 4.0)


def test_without_digests_of_the_cold_bake_no_subtree_is_baked(ws: Workspace,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timed, "run_stackbuild", lambda *args, **kwargs: _run(2.0))
    monkeypatch.setattr(timed, "run_bake", lambda *args, **kwargs: _run(8.0, digests={}))
    monkeypatch.setattr(timed, "profile_stackbuild", lambda *args: {})
    monkeypatch.setattr(versus, "_clean_slate", lambda *args: None)
    summaries = versus.compare(ws, None, None, 4, {"cold": 1, "noop": 0, "pr": 1, "nightly": 0},  # type: ignore[arg-type]
                               lambda message: None)
    assert "subtree_bake" not in next(summary for summary in summaries if summary["scenario"] == "pr")


def test_the_pr_target_and_table_name_the_subtree_bound() -> None:
    subtree = {"targets": 2, "speedup": 1.5, "median": 7.6, "min": 7.4, "wall_s": [7.4, 7.6, 7.7], "ok": True}
    pr = {"stack": "demo", "nodes": 13, "scenario": "pr", "reps": 3, "ratio": 0.73, "speedup": 1.37,
          "manifest_requests_per_node": 4.0, "subtree_bake": subtree,
          "stackbuild": {"min": 12.0, "median": 12.8, "solves": [2], "requests": {"total": 100}, "ok": True,
                         "errors": []},
          "bake": {"min": 17.0, "median": 17.6, "solves": [13], "requests": {"total": 700, "manifests": 250},
                   "errors": [], "ok": True}}
    row = judge.targets({"engine": {"scenarios": [pr]}})[0]
    assert row["met"] is False
    assert row["measured"].startswith("1.37×; one bake of only the 2 rebuilt images: 1.5× (the bound")
    machine = {"date": "d", "nproc": 2, "cpu_model": "c", "memory_gb": 1, "kernel": "k", "python": "3",
               "load_average": []}
    meta = {"machine": machine, "mode": "full", "duration_s": 1, "command": "c", "load_average_end": []}
    engine = {"stackbuild_jobs": 4, "scenarios": [pr]}
    skipped = {"skipped": "not asked"}
    table = report.markdown({"meta": meta, "targets": [row], "engine": engine, "planner": skipped,
                             "scheduler": skipped})
    assert "| demo | 2 | 3 | 7.40 / 7.60 | 17.6 | 1.5× | 1.37× |" in table


def test_each_cold_pair_builds_the_same_stack_with_new_roots(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    # a "cold" demo build took 15 s: images of an earlier build of the same stack held their layer cache
    root = ws.root / "stacks" / "s" / "os" / "Dockerfile"
    root.parent.mkdir(parents=True)
    root.write_text("FROM scratch\nCOPY files/ /\n", encoding="utf-8")
    ws = Workspace(ws.label, ws.root, ws.target, ws.nodes, ws.change_file, ws.original, (root,), "sb", "bake")
    seen: list[tuple[str, str]] = []

    def tool(name: str) -> Any:
        return lambda *args: seen.append((name, root.read_text(encoding="utf-8"))) or _run(1.0)

    monkeypatch.setattr(timed, "run_stackbuild", tool("sb"))
    monkeypatch.setattr(timed, "run_bake", tool("bake"))
    monkeypatch.setattr(versus, "_clean_slate", lambda *args: None)
    versus._cold_runs(ws, None, None, 2, {"cold": 2}, versus._Runs(ws, lambda line: None))  # type: ignore[arg-type]
    texts = [text for _, text in seen]
    assert [name for name, _ in seen] == ["sb", "bake", "sb", "bake"]
    assert texts[0] == texts[1] != texts[2] == texts[3]  # one stack per pair, a new one per pair
    assert all(text.startswith("FROM scratch\nCOPY files/ /\nENV BENCH_COLD=")
               and text.count("BENCH_COLD") == 1 for text in texts)
