"""The run folder and its report.json: what every node of one run did."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from engine.state.safefiles import json_text, plain, state_folder


@dataclass
class NodeReport:
    """The record of one node in one run."""

    node: str
    ref: str
    action: str
    reason: str
    status: str = "pending"
    fingerprint: str = ""
    digest: str = ""
    published: bool = False  # the run's lockfile records digest (its human tag is at it)
    duration_s: float = 0.0
    platform_durations: dict[str, float] = field(default_factory=dict)
    platform_digests: dict[str, str] = field(default_factory=dict)
    base: str = ""  # the external base it is built on, as reference@digest ("" when none or unresolved)
    retries: int = 0
    tests: dict[str, str] = field(default_factory=dict)  # platform → passed / failed
    log: str = ""
    error: str = ""
    source: str = ""  # file:line of the node's definition


@dataclass
class RunReport:
    """The record of one run, written as report.json in its run folder."""

    run_id: str
    folder: str
    started: str
    finished: str = ""
    status: str = "running"
    mode: str = "incremental"  # incremental | full | pr
    buildx_invocations: int = 0
    fault_repeats: int = 0  # of those, builds repeated after a registry or network fault
    registry_requests: dict[str, int] = field(default_factory=dict)
    promoted: list[str] = field(default_factory=list)
    lockfile: str = ""
    signal: str = ""  # SIGINT or SIGTERM when one arrived (the run interrupted, or once its tags all moved)
    nodes: dict[str, NodeReport] = field(default_factory=dict)

    def count(self, status: str) -> int:
        """How many nodes ended with status."""
        return sum(1 for node in self.nodes.values() if node.status == status)

    @property
    def builds(self) -> int:
        """buildx builds of the run, not counting a build repeated after a registry or network fault."""
        return self.buildx_invocations - self.fault_repeats

    def write(self) -> Path:
        """Write report.json atomically and return its path."""
        path = Path(self.folder) / "report.json"
        tmp = path.with_suffix(".json.tmp")
        data = {**plain(self), "nodes": {name: plain(node) for name, node in self.nodes.items()}}
        tmp.write_text(json_text(data, len(self.nodes)), encoding="utf-8")
        os.replace(tmp, path)
        return path


def new_run(state_dir: Path) -> RunReport:
    """A fresh run folder under state_dir/runs."""
    now = datetime.now(UTC)
    run_id = f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    folder = state_folder(state_folder(state_dir) / "runs") / run_id
    (folder / "logs").mkdir(parents=True)  # a fresh folder: nothing in it can have been planted
    return RunReport(run_id, str(folder), now.isoformat(timespec="seconds"))


def finish(report: RunReport, status: str) -> Path:
    """Stamp the end of the run and write it."""
    report.finished = datetime.now(UTC).isoformat(timespec="seconds")
    report.status = status
    return report.write()
