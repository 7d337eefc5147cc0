"""The rows of the history database as frozen records, and their conversion to and from table rows."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

NODE_COLUMNS = ("run_id, node, ref, fingerprint, digest, action, reason, status, duration_s, "
                "platform_durations, inputs, finished, platform_digests")


@dataclass(frozen=True)
class NodeRecord:
    """What one node did in one run."""

    run_id: str
    node: str
    ref: str
    fingerprint: str
    digest: str
    action: str
    reason: str
    status: str
    duration_s: float
    platform_durations: dict[str, float]
    inputs: dict[str, str]
    finished: str
    platform_digests: dict[str, str] = field(default_factory=dict)  # platform → image manifest digest


@dataclass(frozen=True)
class RunRecord:
    """One run, with its node counts computed from its node records."""

    run_id: str
    started: str
    finished: str
    status: str
    mode: str
    nodes: int
    built: int  # nodes whose action was 'build' and that succeeded
    failed: int


def node_record(row: tuple[Any, ...]) -> NodeRecord:
    """A NodeRecord from a row of NODE_COLUMNS (JSON columns decoded)."""
    durations = {str(key): float(value) for key, value in json_object(row[9], "platform_durations").items()}
    inputs = {str(key): str(value) for key, value in json_object(row[10], "inputs").items()}
    platforms = {str(key): str(value) for key, value in json_object(row[12], "platform_digests").items()}
    return NodeRecord(str(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]), str(row[5]),
                      str(row[6]), str(row[7]), float(row[8]), durations, inputs, str(row[11]), platforms)


def json_object(text: Any, column: str) -> dict[Any, Any]:
    """The JSON object a column holds; ValueError (reported as corruption) for anything else."""
    value = json.loads(text) if isinstance(text, str) else None
    if not isinstance(value, dict):
        raise ValueError(f"column {column} holds {str(text)[:60]!r}, not a JSON object")
    return value


def node_row(record: NodeRecord) -> tuple[object, ...]:
    """The nodes-table row of a record."""
    return (record.run_id, record.node, record.ref, record.fingerprint, record.digest, record.action,
            record.reason, record.status, float(record.duration_s),
            json.dumps(record.platform_durations, sort_keys=True),
            json.dumps(record.inputs, sort_keys=True), record.finished,
            json.dumps(record.platform_digests, sort_keys=True))
