"""Build history in one SQLite file: runs and node outcomes; losing it loses history, never images."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine.errors import EngineError
from engine.state.records import NODE_COLUMNS, NodeRecord, RunRecord, json_object, node_record, node_row
from engine.state.safefiles import refuse_odd_file, state_folder

__all__ = ["History", "HistoryBusy", "HistoryCorrupt", "NodeRecord", "RunRecord"]


class HistoryBusy(EngineError):
    """Another process holds the history database (exit 4, like a held state folder)."""

    exit_code = 4


class HistoryCorrupt(EngineError):
    """The history database is not one stackbuild can read."""

    exit_code = 2


SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 2.0  # our own writes take milliseconds; longer means another program holds the file
_COMPANIONS = ("-wal", "-shm", "-journal")
_CORRUPT_CODES = (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_ERROR)  # ERROR: schema
_DECODING = (ValueError, TypeError, RecursionError)  # JSON columns and numbers that are not
SUCCEEDED = "succeeded"
DIGEST_ACTIONS = ("build", "skip", "retag")  # actions whose succeeded record vouches for a digest

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT PRIMARY KEY, started TEXT NOT NULL, finished TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'running', mode TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS nodes (
        run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE, node TEXT NOT NULL,
        ref TEXT NOT NULL, fingerprint TEXT NOT NULL, digest TEXT NOT NULL, action TEXT NOT NULL,
        reason TEXT NOT NULL, status TEXT NOT NULL, duration_s REAL NOT NULL,
        platform_durations TEXT NOT NULL, inputs TEXT NOT NULL, finished TEXT NOT NULL,
        platform_digests TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (run_id, node))""",
    "CREATE INDEX IF NOT EXISTS nodes_by_status ON nodes (node, status, action, finished)",
    "CREATE INDEX IF NOT EXISTS nodes_by_fingerprint ON nodes (node, fingerprint)",
)
_NEWEST = "ORDER BY finished DESC, rowid DESC"


class History:
    """The history database: one connection shared by worker threads, guarded by a lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        state_folder(path.parent)
        for companion in (path, *(path.with_name(path.name + end) for end in _COMPANIONS)):
            refuse_odd_file(companion)  # SQLite itself would follow a symlink
        try:
            self._conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                         check_same_thread=False)
            self._set_up(self._conn)
        except (sqlite3.Error, OSError, *_DECODING) as exc:
            self.close()
            raise self._failure(exc) from exc
        except BaseException:
            self.close()
            raise

    def _set_up(self, conn: sqlite3.Connection) -> None:
        """Pragmas, then the tables and the schema version in one transaction."""
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA:
                conn.execute(statement)
            self._check_version(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _check_version(self, conn: sqlite3.Connection) -> None:
        """Stamp a new database with SCHEMA_VERSION; refuse one written by a newer schema."""
        row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        if row[0] is None:
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
        elif not isinstance(row[0], int):
            raise ValueError(f"schema version {row[0]!r} is not a whole number")
        elif row[0] > SCHEMA_VERSION:
            raise HistoryCorrupt(f"build history database {self.path} has schema version {row[0]}, newer "
                                 f"than this stackbuild's {SCHEMA_VERSION}",
                                 "upgrade stackbuild, or move the file away (it holds build history only)")

    def _failure(self, exc: BaseException) -> EngineError:
        """The error for a database that is busy, corrupt, or cannot be opened, read or written."""
        code = getattr(exc, "sqlite_errorcode", None)
        if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return HistoryBusy(f"build history database {self.path} is busy: another stackbuild run "
                               "(or another program) holds it", "wait for it to finish, or use another "
                               "--state-dir")
        if isinstance(exc, _DECODING) or code in _CORRUPT_CODES:
            return HistoryCorrupt(f"history database {self.path} is corrupt: {exc}",
                                  "move it away; history is lost, images are not")
        return EngineError(f"cannot use the build history database {self.path}: {exc}",
                           "check the file's permissions and the free disk space")

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """The connection, held under the lock; sqlite and JSON errors become an EngineError."""
        with self._lock:
            if self._conn is None:
                raise EngineError(f"build history database {self.path} is closed")
            try:
                yield self._conn
            except (sqlite3.Error, *_DECODING) as exc:
                raise self._failure(exc) from exc

    def start_run(self, run_id: str, started: str, mode: str) -> None:
        """Record the start of a run."""
        with self._db() as conn:
            try:
                conn.execute("INSERT INTO runs (run_id, started, mode) VALUES (?, ?, ?)",
                             (run_id, started, mode))
            except sqlite3.IntegrityError as exc:
                raise EngineError(f"build history: run {run_id} was already started") from exc

    def record_node(self, record: NodeRecord) -> None:
        """Insert or replace the record of record.node in record.run_id (whose run must be started)."""
        self.record_nodes([record])

    def record_nodes(self, records: list[NodeRecord]) -> None:
        """Insert or replace many node records in one transaction (one disk sync, not one per node)."""
        rows = [node_row(record) for record in records]
        if not rows:
            return
        updates = ", ".join(f"{column} = excluded.{column}" for column in NODE_COLUMNS.split(", ")[2:])
        statement = (f"INSERT INTO nodes ({NODE_COLUMNS}) VALUES ({', '.join('?' * len(rows[0]))}) "
                     f"ON CONFLICT (run_id, node) DO UPDATE SET {updates}")
        with self._db() as conn:
            try:
                conn.execute("BEGIN")
                conn.executemany(statement, rows)
                conn.execute("COMMIT")
            except sqlite3.IntegrityError as exc:
                raise EngineError(f"build history: run {records[0].run_id} was never started") from exc
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")

    def finish_run(self, run_id: str, finished: str, status: str) -> None:
        """Stamp the end and final status of a run."""
        with self._db() as conn:
            cursor = conn.execute("UPDATE runs SET finished = ?, status = ? WHERE run_id = ?",
                                  (finished, status, run_id))
            if cursor.rowcount == 0:
                raise EngineError(f"build history: run {run_id} was never started")

    def runs(self, limit: int = 20) -> list[RunRecord]:
        """The latest `limit` runs, newest first."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        query = """SELECT r.run_id, r.started, r.finished, r.status, r.mode, COUNT(n.node),
                          COALESCE(SUM(n.action = 'build' AND n.status = 'succeeded'), 0),
                          COALESCE(SUM(n.status = 'failed'), 0)
                   FROM runs r LEFT JOIN nodes n ON n.run_id = r.run_id
                   GROUP BY r.run_id ORDER BY r.started DESC, r.rowid DESC LIMIT ?"""
        with self._db() as conn:
            rows = conn.execute(query, (limit,)).fetchall()
        return [RunRecord(str(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]),
                          int(row[5]), int(row[6]), int(row[7])) for row in rows]

    def nodes_of(self, run_id: str) -> list[NodeRecord]:
        """The node records of a run, in the order they were first recorded."""
        return self._nodes(f"SELECT {NODE_COLUMNS} FROM nodes WHERE run_id = ? ORDER BY rowid", (run_id,))

    def last_success(self, node: str) -> NodeRecord | None:
        """The newest succeeded record of node in any run, None when it never succeeded."""
        found = self._nodes(f"SELECT {NODE_COLUMNS} FROM nodes WHERE node = ? AND status = ? {_NEWEST} "
                            "LIMIT 1", (node, SUCCEEDED))
        return found[0] if found else None

    def digest_for(self, node: str, fingerprint: str) -> str:
        """The digest a succeeded build, skip or retag of node recorded for fingerprint; '' if none."""
        query = (f"SELECT digest FROM nodes WHERE node = ? AND fingerprint = ? AND status = ? "
                 f"AND digest != '' AND action IN ({', '.join('?' * len(DIGEST_ACTIONS))}) {_NEWEST} LIMIT 1")
        with self._db() as conn:
            row = conn.execute(query, (node, fingerprint, SUCCEEDED, *DIGEST_ACTIONS)).fetchone()
        return str(row[0]) if row else ""

    def platform_digests(self, node: str, digest: str) -> dict[str, str]:
        """Per-platform manifest digests recorded for node's index digest; {} if none."""
        query = (f"SELECT platform_digests FROM nodes WHERE node = ? AND digest = ? "
                 f"AND platform_digests != '{{}}' {_NEWEST} LIMIT 1")
        with self._db() as conn:
            row = conn.execute(query, (node, digest)).fetchone()
        return {str(k): str(v) for k, v in json_object(row[0], "platform_digests").items()} if row else {}

    def built_digests(self) -> set[str]:
        """Every digest a run recorded for a node it built, skipped or retagged (external bases excluded)."""
        query = (f"SELECT DISTINCT digest FROM nodes WHERE digest != '' "
                 f"AND action IN ({', '.join('?' * len(DIGEST_ACTIONS))})")
        with self._db() as conn:
            return {str(row[0]) for row in conn.execute(query, DIGEST_ACTIONS).fetchall()}

    def mean_duration(self, node: str, last: int = 5) -> float | None:
        """The mean duration_s of node's last `last` succeeded builds; None when it has none."""
        if last < 1:
            raise ValueError("last must be at least 1")
        query = (f"SELECT AVG(duration_s) FROM (SELECT duration_s FROM nodes WHERE node = ? AND status = ? "
                 f"AND action = 'build' {_NEWEST} LIMIT ?)")
        with self._db() as conn:
            row = conn.execute(query, (node, SUCCEEDED, last)).fetchone()
        return None if row[0] is None else float(row[0])

    def _nodes(self, query: str, params: tuple[Any, ...]) -> list[NodeRecord]:
        """Node records from a SELECT of NODE_COLUMNS."""
        with self._db() as conn:
            rows = conn.execute(query, params).fetchall()
            return [node_record(row) for row in rows]

    def close(self) -> None:
        """Close the connection; later calls raise EngineError. Closing twice is harmless."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
