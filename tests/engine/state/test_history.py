"""history: the SQLite build history of runs and node outcomes."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from engine.errors import EngineError
from engine.state.history import SCHEMA_VERSION, History, HistoryBusy, HistoryCorrupt, NodeRecord, RunRecord


@pytest.fixture
def history(tmp_path: Path) -> Iterator[History]:
    """A fresh history database under tmp_path."""
    with History(tmp_path / "state" / "history.db") as opened:
        yield opened


def record(run_id: str, node: str, status: str = "succeeded", action: str = "build",
           duration_s: float = 10.0, finished: str = "2026-01-01T00:00:10+00:00",
           fingerprint: str = "fp-1", digest: str = "sha256:aaa") -> NodeRecord:
    """A node record with readable defaults."""
    return NodeRecord(run_id, node, f"reg/{node}:1", fingerprint, digest, action, "full", status, duration_s,
                      {"linux/amd64": 4.5, "shared": 1.25}, {"parent": "sha256:ppp", "PY": "3.11"}, finished)


def test_creates_the_file_and_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "state" / "history.db"
    History(path).close()
    assert path.is_file()


def test_schema_version_wal_and_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    History(path).close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        conn.close()


def test_node_round_trip_with_json_dicts(history: History) -> None:
    history.start_run("r1", "2026-01-01T00:00:00+00:00", "build")
    node = record("r1", "numpy")
    history.record_node(node)
    assert history.nodes_of("r1") == [node]
    assert history.nodes_of("r1")[0].platform_durations == {"linux/amd64": 4.5, "shared": 1.25}
    assert history.nodes_of("r1")[0].inputs == {"parent": "sha256:ppp", "PY": "3.11"}


def test_record_node_upserts_by_run_and_node(history: History) -> None:
    history.start_run("r1", "2026-01-01T00:00:00+00:00", "build")
    history.record_node(record("r1", "a", status="running", digest=""))
    history.record_node(record("r1", "b"))
    done = record("r1", "a", status="failed", duration_s=3.0, digest="")
    history.record_node(done)
    assert history.nodes_of("r1") == [done, record("r1", "b")]


def test_run_round_trip_and_finish(history: History) -> None:
    history.start_run("r1", "2026-01-01T00:00:00+00:00", "build")
    assert history.runs() == [RunRecord("r1", "2026-01-01T00:00:00+00:00", "", "running", "build", 0, 0, 0)]
    history.finish_run("r1", "2026-01-01T00:05:00+00:00", "succeeded")
    assert history.runs() == [RunRecord("r1", "2026-01-01T00:00:00+00:00", "2026-01-01T00:05:00+00:00",
                                        "succeeded", "build", 0, 0, 0)]


def test_runs_are_newest_first_and_limited(history: History) -> None:
    for run_id, started in (("b", "2026-01-02T00:00:00+00:00"), ("a", "2026-01-01T00:00:00+00:00"),
                            ("c", "2026-01-03T00:00:00+00:00")):
        history.start_run(run_id, started, "build")
    assert [run.run_id for run in history.runs()] == ["c", "b", "a"]
    assert [run.run_id for run in history.runs(limit=2)] == ["c", "b"]
    with pytest.raises(ValueError, match="limit"):
        history.runs(limit=0)


def test_run_counts_come_from_its_nodes(history: History) -> None:
    history.start_run("r1", "2026-01-01T00:00:00+00:00", "build")
    history.start_run("r2", "2026-01-02T00:00:00+00:00", "plan")
    for node in (record("r1", "a"), record("r1", "b"), record("r1", "c", status="failed"),
                 record("r1", "d", status="skipped"), record("r1", "e", action="external"),
                 record("r1", "f", action="skip"), record("r2", "a")):
        history.record_node(node)
    assert history.runs() == [
        RunRecord("r2", "2026-01-02T00:00:00+00:00", "", "running", "plan", 1, 1, 0),
        RunRecord("r1", "2026-01-01T00:00:00+00:00", "", "running", "build", 6, 2, 1),
    ]


def test_last_success_is_the_newest_succeeded_record_of_any_run(history: History) -> None:
    for run_id in ("r1", "r2", "r3"):
        history.start_run(run_id, f"2026-01-0{run_id[1]}T00:00:00+00:00", "build")
    history.record_node(record("r1", "a", finished="2026-01-01T00:00:10+00:00", digest="sha256:old"))
    history.record_node(record("r2", "a", finished="2026-01-02T00:00:10+00:00", digest="sha256:new"))
    history.record_node(record("r3", "a", status="failed", finished="2026-01-03T00:00:10+00:00", digest=""))
    history.record_node(record("r3", "b", finished="2026-01-03T00:00:10+00:00", digest="sha256:b"))
    found = history.last_success("a")
    assert found is not None
    assert (found.run_id, found.digest) == ("r2", "sha256:new")
    assert history.last_success("missing") is None


def test_digest_for_a_fingerprint(history: History) -> None:
    history.start_run("r1", "2026-01-01T00:00:00+00:00", "build")
    history.start_run("r2", "2026-01-02T00:00:00+00:00", "build")
    history.record_node(record("r1", "a", fingerprint="fp-1", digest="sha256:one"))
    history.record_node(record("r1", "b", fingerprint="fp-1", digest="sha256:bee"))
    history.record_node(record("r2", "a", fingerprint="fp-2", action="retag", digest="sha256:two",
                               finished="2026-01-02T00:00:10+00:00"))
    assert history.digest_for("a", "fp-1") == "sha256:one"
    assert history.digest_for("a", "fp-2") == "sha256:two"
    assert history.digest_for("b", "fp-2") == ""
    assert history.digest_for("a", "fp-3") == ""


def test_digest_for_ignores_failures_other_actions_and_empty_digests(history: History) -> None:
    history.start_run("r1", "2026-01-01T00:00:00+00:00", "build")
    history.start_run("r2", "2026-01-02T00:00:00+00:00", "build")
    history.start_run("r3", "2026-01-03T00:00:00+00:00", "build")
    history.record_node(record("r1", "a", status="failed", digest="sha256:broken"))
    history.record_node(record("r2", "a", action="external", digest="sha256:ext"))
    history.record_node(record("r3", "a", action="skip", digest=""))
    assert history.digest_for("a", "fp-1") == ""
    history.record_node(record("r3", "b", action="skip", digest="sha256:skipped"))
    assert history.digest_for("b", "fp-1") == "sha256:skipped"


def test_mean_duration_of_the_last_succeeded_builds(history: History) -> None:
    durations = (100.0, 10.0, 20.0, 30.0, 40.0, 50.0)  # oldest first; the 100 falls out of the last 5
    for day, duration in enumerate(durations, 1):
        history.start_run(f"r{day}", f"2026-01-0{day}T00:00:00+00:00", "build")
        history.record_node(record(f"r{day}", "a", duration_s=duration,
                                   finished=f"2026-01-0{day}T00:00:10+00:00"))
    assert history.mean_duration("a") == 30.0
    assert history.mean_duration("a", last=2) == 45.0
    assert history.mean_duration("a", last=100) == 250.0 / 6


def test_mean_duration_ignores_skips_and_failures(history: History) -> None:
    history.start_run("r1", "2026-01-01T00:00:00+00:00", "build")
    history.start_run("r2", "2026-01-02T00:00:00+00:00", "build")
    history.record_node(record("r1", "a", duration_s=60.0))
    history.record_node(record("r2", "a", action="skip", duration_s=0.5,
                               finished="2026-01-02T00:00:01+00:00"))
    history.record_node(record("r2", "b", status="failed", duration_s=7.0))
    assert history.mean_duration("a") == 60.0
    assert history.mean_duration("b") is None
    assert history.mean_duration("missing") is None
    with pytest.raises(ValueError, match="last"):
        history.mean_duration("a", last=0)


def test_concurrent_record_node_from_eight_threads(history: History) -> None:
    history.start_run("r1", "2026-01-01T00:00:00+00:00", "build")
    barrier, errors = threading.Barrier(8), []

    def work(worker: int) -> None:
        barrier.wait()
        try:
            for index in range(25):
                history.record_node(record("r1", f"n{worker}-{index}", duration_s=float(index)))
                history.record_node(record("r1", "shared", duration_s=float(worker)))
        except Exception as exc:  # collected: a thread's exception would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    nodes = history.nodes_of("r1")
    assert len(nodes) == 8 * 25 + 1
    assert sorted(node.node for node in nodes if node.node != "shared") == sorted(
        f"n{worker}-{index}" for worker in range(8) for index in range(25))
    assert history.runs()[0].nodes == 201


def test_reopening_keeps_the_data(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    with History(path) as first:
        first.start_run("r1", "2026-01-01T00:00:00+00:00", "build")
        first.record_node(record("r1", "a"))
        first.finish_run("r1", "2026-01-01T00:01:00+00:00", "succeeded")
    with History(path) as second:
        assert second.nodes_of("r1") == [record("r1", "a")]
        assert second.runs()[0] == RunRecord("r1", "2026-01-01T00:00:00+00:00", "2026-01-01T00:01:00+00:00",
                                             "succeeded", "build", 1, 1, 0)


def test_a_corrupt_file_is_bad_input_naming_it_and_saying_it_can_go(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    path.write_bytes(b"\x00\xffnot a database at all\x13\x37" * 200)
    with pytest.raises(EngineError) as caught:
        History(path)
    assert caught.value.message == f"history database {path} is corrupt: file is not a database"
    assert caught.value.hint == "move it away; history is lost, images are not"
    assert caught.value.exit_code == 2


def test_a_folder_in_place_of_the_database_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    path.mkdir()
    with pytest.raises(EngineError) as caught:
        History(path)
    assert caught.value.message == f"{path} is a folder, not a regular file"
    assert caught.value.exit_code == 2


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    History(path).close()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    conn.close()
    with pytest.raises(HistoryCorrupt, match=f"schema version {SCHEMA_VERSION + 1}, newer") as caught:
        History(path)
    assert caught.value.exit_code == 2


def test_a_damaged_table_is_an_engine_error_at_open(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    History(path).close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE nodes")
    conn.execute("CREATE TABLE nodes (run_id TEXT)")
    conn.close()
    with pytest.raises(EngineError, match="no such column: node"):
        History(path)


def test_a_damaged_row_is_an_engine_error_at_query_time(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    with History(path) as history:
        history.start_run("r1", "2026-01-01T00:00:00+00:00", "build")
        history.record_node(record("r1", "a"))
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE nodes SET inputs = 'not json'")
    conn.close()
    with History(path) as history:
        with pytest.raises(EngineError) as caught:
            history.nodes_of("r1")
        assert str(path) in caught.value.message
        assert history.runs()[0].nodes == 1  # the rest of the database stays usable


def test_node_of_an_unknown_run_is_refused(history: History) -> None:
    with pytest.raises(EngineError, match="run nope was never started"):
        history.record_node(record("nope", "a"))
    with pytest.raises(EngineError, match="run nope was never started"):
        history.finish_run("nope", "2026-01-01T00:00:00+00:00", "failed")


def test_starting_a_run_twice_is_refused(history: History) -> None:
    history.start_run("r1", "2026-01-01T00:00:00+00:00", "build")
    with pytest.raises(EngineError, match="run r1 was already started"):
        history.start_run("r1", "2026-01-01T00:00:00+00:00", "build")


def test_closed_history_refuses_calls_and_closes_twice(tmp_path: Path) -> None:
    history = History(tmp_path / "history.db")
    history.close()
    history.close()
    with pytest.raises(EngineError, match="is closed"):
        history.runs()


def test_node_records_are_frozen() -> None:
    node = record("r1", "a")
    with pytest.raises(AttributeError):
        node.status = "failed"  # type: ignore[misc]
    assert replace(node, status="failed").status == "failed"


def test_a_busy_database_is_busy_not_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    History(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(HistoryBusy) as caught:
            History(path)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert caught.value.message == (f"build history database {path} is busy: another stackbuild run "
                                    "(or another program) holds it")
    assert caught.value.exit_code == 4
    History(path).close()  # usable again once released


def test_a_symlinked_wal_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("keep", encoding="utf-8")
    (tmp_path / "history.db-wal").symlink_to(target)
    with pytest.raises(EngineError, match=r"history\.db-wal is a symlink, not a regular file"):
        History(tmp_path / "history.db")
    assert target.read_text(encoding="utf-8") == "keep"
    assert not (tmp_path / "history.db").exists()


def test_a_non_integer_schema_version_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    History(path).close()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE schema_version SET version = 1.5")
    conn.close()
    with pytest.raises(HistoryCorrupt, match=r"schema version 1\.5 is not a whole number"):
        History(path)


def test_record_nodes_writes_a_batch_in_one_transaction(history: History) -> None:
    history.start_run("r1", "2026-01-01T00:00:00+00:00", "build")
    batch = [record("r1", f"n{index}") for index in range(500)]
    history.record_nodes(batch)
    assert history.nodes_of("r1") == batch


def test_record_nodes_of_an_unstarted_run_writes_nothing_and_leaves_no_open_transaction(
        history: History) -> None:
    history.start_run("r1", "2026-01-01T00:00:00+00:00", "build")
    with pytest.raises(EngineError, match="never started"):
        history.record_nodes([record("r1", "a"), record("nope", "b")])
    assert history.nodes_of("r1") == []
    history.record_nodes([record("r1", "c")])  # the connection is usable: the batch was rolled back
    assert [node.node for node in history.nodes_of("r1")] == ["c"]
